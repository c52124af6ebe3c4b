// Uppy's @uppy/tus, unmodified, in headless Chromium against the portal's tus server on another
// origin: a whole upload, a pause mid-upload (pauseResume, then pauseAll/resumeAll) during which
// the portal's offset stays put, a page left mid-upload whose file resumes on a new page, a file
// removed mid-upload whose upload the portal then no longer has, and a page on an origin the
// portal does not allow, whose upload the browser blocks. Run by e2e/uppy_test.go, which serves
// the page, starts the portal and checks afterwards, through the API, the SHA-256 of every file
// stored. It prints one JSON line: what it saw.
//
// Environment: INGEST_UPPY_PLAN, a JSON object: portal (its URL), token (a user's API token),
// page (the page on an allowed origin), blockedPage (the same page on an origin not allowed),
// chunkSize, chromium (the browser's path), and files (name → path) for the scenarios whole,
// requestId, paused, pausedAllA, pausedAllB, reloaded, removed and blocked.
import { setTimeout as sleep } from 'node:timers/promises';
import { chromium } from 'playwright-core';
import { launchChromium } from '../chromium.mjs';

const plan = JSON.parse(process.env.INGEST_UPPY_PLAN || 'null');
if (!plan) {
  throw new Error('INGEST_UPPY_PLAN is not set');
}
const wait = 30_000;
const endpoint = plan.portal + '/tus/';

function expect(cond, message) {
  if (!cond) {
    throw new Error(message);
  }
}

const chrome = await launchChromium(chromium, plan.chromium, 'ingest-uppy-', wait);
const { browser } = chrome;

// A page on origin, its Uppy set up for the portal, with what goes wrong in it collected.
async function open(origin, extra = {}) {
  const page = await browser.newPage();
  const problems = [];
  const consoleErrors = [];
  page.on('pageerror', (err) => problems.push(`page error: ${err.message}`));
  page.on('console', (msg) => {
    if (msg.type() === 'error') {
      consoleErrors.push(msg.text());
      // A failed answer is reported by the response handler; the browser's own favicon request is
      // not (the page server has none) and is no problem.
      if (!msg.text().startsWith('Failed to load resource')) {
        problems.push(`console error: ${msg.text()}`);
      }
    }
  });
  page.on('response', (resp) => {
    // 423 is the portal's answer while a request that was cut (a pause, a page left) still
    // holds the upload; Uppy retries it.
    if (resp.status() >= 400 && resp.status() !== 423) {
      problems.push(`${resp.request().method()} ${resp.url()} answered ${resp.status()}`);
    }
  });
  await page.goto(origin + '/');
  await page.evaluate((opts) => window.uppyTest.setup(opts),
    { endpoint, token: plan.token, chunkSize: plan.chunkSize, ...extra });
  return { page, problems, consoleErrors };
}

// pick sets the file input as a person picking the files would, and returns Uppy's file ids.
async function pick(page, ...names) {
  await page.setInputFiles('#files', names.map((n) => plan.files[n]));
  return page.evaluate(() => window.uppyTest.addPicked());
}

const state = (page, id) => page.evaluate((id) => ({ ...window.uppyTest.files[id] }), id);

async function waitFor(page, id, status) {
  await page.waitForFunction(([id, status]) => {
    const f = window.uppyTest.files[id];
    return f && (f.status === status || f.status === 'error');
  }, [id, status], { timeout: wait });
  const f = await state(page, id);
  expect(f.status === status, `${f.name}: ${f.status} (${f.error}), want ${status}`);
  return f;
}

// offset asks the portal where an upload stands (a HEAD, as any tus client would).
async function offset(url) {
  const resp = await fetch(url, {
    method: 'HEAD',
    headers: { 'Tus-Resumable': '1.0.0', Authorization: `Bearer ${plan.token}` },
  });
  if (resp.status !== 200) {
    return { status: resp.status };
  }
  return { status: 200, offset: Number(resp.headers.get('Upload-Offset')) };
}

// stillWhilePaused checks that the portal's offset of a paused upload stops moving short of the
// end, and stays put for a while, and returns it.
async function stillWhilePaused(page, id) {
  const url = await page.evaluate((id) => window.uppyTest.uploadURL(id), id);
  expect(url, `no upload URL for paused ${id}`);
  const f = await state(page, id);
  // The request cut by the pause may still land what it had sent: wait until two readings agree
  // (a loaded machine can take a moment), then nothing more may arrive.
  let last = await offset(url);
  for (const deadline = Date.now() + 10_000; ;) {
    await sleep(250);
    const now = await offset(url);
    expect(now.status === 200, `HEAD ${url} while paused: ${now.status}`);
    if (now.offset === last.offset) {
      break;
    }
    expect(Date.now() < deadline, `${f.name}: the portal's offset still moves 10 s after the pause (${now.offset})`);
    last = now;
  }
  await sleep(1500);
  const later = await offset(url);
  expect(later.status === 200, `HEAD ${url} while paused: ${later.status}`);
  expect(later.offset === last.offset, `${f.name}: the portal's offset moved from ${last.offset} to ${later.offset} while paused`);
  expect(later.offset > 0 && later.offset < f.size, `${f.name}: offset ${later.offset} of ${f.size} while paused, want mid-upload`);
  return later.offset;
}

function success(f) {
  expect(f.fileId, `${f.name}: no Ingest-File-Id readable in the browser (is it exposed?)`);
  expect(f.digest && f.digest.startsWith('sha-256=:'), `${f.name}: Repr-Digest ${f.digest}`);
  expect(f.uploadURL && f.uploadURL.startsWith(endpoint), `${f.name}: upload URL ${f.uploadURL}, want under ${endpoint}`);
  return { name: f.name, fileId: f.fileId, digest: f.digest, uploadURL: f.uploadURL };
}

function clean(problems, what) {
  expect(problems.length === 0, `${what}: ${problems.join('; ')}`);
}

const report = {};
try {
  const pauseAfter = 2 * plan.chunkSize;

  // A whole file, in chunks.
  {
    const { page, problems } = await open(plan.page);
    const [id] = await pick(page, 'whole');
    await page.evaluate(() => window.uppyTest.start());
    report.whole = success(await waitFor(page, id, 'success'));
    clean(problems, 'whole');
    await page.close();
  }

  // tus-js-client's addRequestId, which Uppy passes through: an X-Request-ID header on every
  // request, which the portal must allow in its preflight answers.
  {
    const { page, problems } = await open(plan.page, { addRequestId: true });
    const [id] = await pick(page, 'requestId');
    await page.evaluate(() => window.uppyTest.start());
    report.requestId = success(await waitFor(page, id, 'success'));
    clean(problems, 'requestId');
    await page.close();
  }

  // Paused mid-upload with pauseResume: the portal's offset stays put, then it resumes and
  // completes.
  {
    const { page, problems } = await open(plan.page);
    const [id] = await pick(page, 'paused');
    await page.evaluate(([id, n]) => window.uppyTest.pauseAt(id, n), [id, pauseAfter]);
    await page.evaluate(() => window.uppyTest.start());
    await page.waitForFunction((id) => window.uppyTest.files[id].paused, id);
    const pausedAt = await stillWhilePaused(page, id);
    await page.evaluate((id) => window.uppyTest.pauseResume(id), id);
    report.paused = { ...success(await waitFor(page, id, 'success')), pausedAt };
    clean(problems, 'paused');
    await page.close();
  }

  // Two files at once, paused with pauseAll and resumed with resumeAll.
  {
    const { page, problems } = await open(plan.page);
    const [a, b] = await pick(page, 'pausedAllA', 'pausedAllB');
    // Once both are under way, so that both are mid-upload when paused.
    await page.evaluate(([ids, n]) => window.uppyTest.pauseAllAt(ids, n), [[a, b], plan.chunkSize]);
    await page.evaluate(() => window.uppyTest.start());
    await page.waitForFunction(() => window.uppyTest.pausedAll);
    const pausedAt = [await stillWhilePaused(page, a), await stillWhilePaused(page, b)];
    await page.evaluate(() => window.uppyTest.resumeAll());
    report.pausedAllA = { ...success(await waitFor(page, a, 'success')), pausedAt: pausedAt[0] };
    report.pausedAllB = { ...success(await waitFor(page, b, 'success')), pausedAt: pausedAt[1] };
    clean(problems, 'pausedAll');
    await page.close();
  }

  // Left mid-upload: picked again on a new page, the same file resumes from the upload that
  // tus-js-client remembered in the origin's localStorage, and only the rest is sent.
  {
    const { page, problems } = await open(plan.page);
    const [id] = await pick(page, 'reloaded');
    await page.evaluate(([id, n]) => window.uppyTest.leaveAt(id, n), [id, pauseAfter]);
    await page.evaluate(() => window.uppyTest.start());
    await page.waitForURL('about:blank');
    clean(problems, 'reloaded, before leaving');
    const again = await open(plan.page);
    const sent = [];
    again.page.on('request', (req) => {
      if (req.url().startsWith(endpoint) && req.method() !== 'OPTIONS') {
        sent.push({ method: req.method(), offset: req.headers()['upload-offset'] });
      }
    });
    const [sameID] = await pick(again.page, 'reloaded');
    expect(sameID === id, `reloaded: the file is ${sameID} on the new page, ${id} before`);
    await again.page.evaluate(() => window.uppyTest.start());
    const f = await waitFor(again.page, id, 'success');
    const patches = sent.filter((r) => r.method === 'PATCH');
    const resumedAt = Number(patches[0]?.offset);
    expect(!sent.some((r) => r.method === 'POST'), `reloaded: a new upload was created: ${JSON.stringify(sent)}`);
    expect(resumedAt > 0 && resumedAt < f.size, `reloaded: the first PATCH is at ${resumedAt} of ${f.size}, want mid-upload`);
    report.reloaded = { ...success(f), pausedAt: resumedAt };
    clean(again.problems, 'reloaded');
    await again.page.close();
  }

  // Removed mid-upload: Uppy terminates the upload (DELETE), and the portal no longer has it.
  {
    const { page, problems } = await open(plan.page);
    const [id] = await pick(page, 'removed');
    await page.evaluate(([id, n]) => window.uppyTest.removeAt(id, n), [id, pauseAfter]);
    const deleted = page.waitForResponse((r) => r.request().method() === 'DELETE');
    await page.evaluate(() => window.uppyTest.start());
    const resp = await deleted;
    const f = await state(page, id);
    expect(f.status === 'removed', `removed: the file is ${f.status}`);
    expect(resp.status() === 204, `DELETE ${resp.url()} answered ${resp.status()}, want 204`);
    expect(resp.url() === f.uploadURL, `DELETE ${resp.url()}, want the upload ${f.uploadURL}`);
    const after = await offset(f.uploadURL);
    expect(after.status === 404, `HEAD ${f.uploadURL} after the removal: ${after.status}, want 404`);
    report.removed = { name: f.name, uploadURL: f.uploadURL, uploaded: f.uploaded };
    clean(problems, 'removed');
    await page.close();
  }

  // The same page on an origin the portal does not allow: the browser blocks the upload. No
  // retries, so the failure comes at once (they would only fail again).
  {
    const { page, consoleErrors } = await open(plan.blockedPage, { retryDelays: [] });
    const [id] = await pick(page, 'blocked');
    await page.evaluate(() => window.uppyTest.start());
    const f = await waitFor(page, id, 'error');
    const blocked = consoleErrors.filter((e) => e.includes('blocked by CORS policy'));
    expect(blocked.length > 0, `blocked: the upload failed (${f.error}) but not for CORS: ${consoleErrors.join('; ')}`);
    report.blocked = { name: f.name, error: f.error, console: blocked[0] };
    await page.close();
  }
} finally {
  await chrome.close();
}
console.log(JSON.stringify(report));
