// The browser example of docs/examples/browser, unmodified, in headless Chromium: its page,
// served by its own backend on another origin than the portal's, uploads through Uppy Dashboard
// as a person would (browse, pick, press Upload) with
//   aws-s3: @uppy/aws-s3 against /uppy/g/<grant>: a large file in parts and a small one in a form POST;
//   tus:    @uppy/tus with the grant as Authorization;
//   blocked: the same page on an origin the portal does not allow, with either uploader, whose
//            uploads the browser must block.
// Run by e2e/example_test.go, which starts the portal and the backend and checks afterwards,
// through the API, every file stored. It prints one JSON line: what it saw.
//
// Environment: INGEST_EXAMPLE_PLAN, a JSON object: page (the backend's allowed origin), blockedPage
// (the same backend on an origin the portal does not allow), chromium (the browser's path), and
// files: {large, small, tus, blockedS3, blockedTus} (paths).
import { chromium } from 'playwright-core';
import { launchChromium } from './chromium.mjs';

const plan = JSON.parse(process.env.INGEST_EXAMPLE_PLAN || 'null');
if (!plan) {
  throw new Error('INGEST_EXAMPLE_PLAN is not set');
}
const wait = 45_000;

function expect(cond, message) {
  if (!cond) {
    throw new Error(message);
  }
}

const chrome = await launchChromium(chromium, plan.chromium, 'ingest-example-', wait);
const { browser } = chrome;

// upload opens the example at origin with uploader, picks files through the Dashboard's "browse
// files", presses Upload, and waits until every file is listed under "Uploaded", stored or
// failed. It returns what the page listed and the requests the browser made to the portal.
async function upload(origin, uploader, names) {
  const page = await browser.newPage();
  const problems = [];
  const requests = [];
  page.on('pageerror', (err) => problems.push(`page error: ${err.message}`));
  page.on('requestfinished', async (req) => {
    const resp = await req.response();
    const status = resp ? resp.status() : 0;
    requests.push({ method: req.method(), url: req.url(), status });
    if (status >= 400) {
      problems.push(`${req.method()} ${req.url()} answered ${status}: ${await resp.text().catch(() => '')}`);
    }
  });
  await page.goto(`${origin}/?uploader=${uploader}`);
  await page.waitForFunction(() => window.uppy);
  const [chooser] = await Promise.all([
    page.waitForEvent('filechooser'),
    page.locator('.uppy-Dashboard-browse').first().click(),
  ]);
  await chooser.setFiles(names.map((n) => plan.files[n]));
  await page.locator('.uppy-StatusBar-actionBtn--upload').click();
  await page.waitForFunction((n) => document.querySelectorAll('#uploaded li').length >= n, names.length,
    { timeout: wait });
  const listed = await page.$$eval('#uploaded li', (lis) => lis.map((li) => ({
    name: li.dataset.name, fileId: li.dataset.fileId || null, error: li.dataset.error || null,
  })));
  await page.close();
  return { listed, requests, problems };
}

function stored({ listed, problems }, what) {
  expect(problems.length === 0, `${what}: ${problems.join('; ')}`);
  for (const f of listed) {
    expect(f.fileId && !f.error, `${what}: ${f.name} failed: ${f.error}`);
  }
  return listed;
}

try {
  const [s3, tus, blockedS3, blockedTus] = await Promise.all([
    upload(plan.page, 'aws-s3', ['large', 'small']),
    upload(plan.page, 'tus', ['tus']),
    upload(plan.blockedPage, 'aws-s3', ['blockedS3']),
    upload(plan.blockedPage, 'tus', ['blockedTus']),
  ]);
  const partPUTs = s3.requests.filter((r) => r.method === 'PUT' && /\/uppy\/g\/[^/]+\/s3\/multipart\/[^/?]+\/\d+\?/.test(r.url));
  const formPOSTs = s3.requests.filter((r) => r.method === 'POST' && /\/uppy\/g\/[^/]+\/s3\/upload$/.test(r.url));
  const tusPATCHes = tus.requests.filter((r) => r.method === 'PATCH' && r.url.includes('/tus/'));
  const report = {
    s3: stored(s3, 'aws-s3'),
    parts: partPUTs.map((r) => ({ part: Number(new URL(r.url).pathname.split('/').pop()), status: r.status })),
    formPosts: formPOSTs.map((r) => r.status),
    tus: stored(tus, 'tus'),
    tusPatches: tusPATCHes.map((r) => r.status),
    blocked: [...blockedS3.listed, ...blockedTus.listed],
  };
  console.log(JSON.stringify(report));
} finally {
  await chrome.close();
}
