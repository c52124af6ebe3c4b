// The admin console driven in headless Chromium, as an operator uses it: sign in with the admin
// token, upload three files with the upload page's Uppy Dashboard (pausing and resuming the
// largest) and watch them reach STORED, open their batch, one of
// the files and its event, retry an event that failed, and sign out. Run by e2e/console_test.go,
// which starts the portal and checks afterwards, through the API and the database, that what the
// browser showed really happened. It prints one JSON line: what it did.
//
// Environment: INGEST_URL, INGEST_ADMIN_TOKEN, INGEST_UPLOADS (paths, ':'-separated),
// INGEST_FAILED_EVENT (the id of a FAILED event), INGEST_SCREENSHOTS (a directory),
// INGEST_CHROMIUM (the browser's path).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { chromium } from 'playwright-core';
import { requiredEnv } from './chromium.mjs';

const env = requiredEnv;
const base = env('INGEST_URL');
const token = env('INGEST_ADMIN_TOKEN');
const uploads = env('INGEST_UPLOADS').split(path.delimiter);
const failedEvent = env('INGEST_FAILED_EVENT');
const shotDir = env('INGEST_SCREENSHOTS');
const wait = 30_000;

// Debian's Chromium, with a new empty profile: no downloaded browser, nothing of a previous run.
const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'ingest-e2e-'));
const browser = await chromium.launchPersistentContext(profile, {
  executablePath: env('INGEST_CHROMIUM'),
  headless: true,
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  // A modest window keeps each screenshot well under the 300 KB docs/ allows.
  viewport: { width: 1100, height: 720 },
});
browser.setDefaultTimeout(wait);
const page = browser.pages()[0] || await browser.newPage();
const problems = [];
page.on('pageerror', (err) => problems.push(`page error: ${err.message}`));
// Every answer of the portal that is an error is a problem, except the favicon it does not have
// (the browser asks for it by itself). The console's own "failed to load" lines say no more.
page.on('response', (resp) => {
  if (resp.status() >= 400 && new URL(resp.url()).pathname !== '/favicon.ico') {
    problems.push(`${resp.request().method()} ${resp.url()} answered ${resp.status()}`);
  }
});
page.on('console', (msg) => {
  if (msg.type() === 'error' && !msg.text().startsWith('Failed to load resource')) {
    problems.push(`console error: ${msg.text()}`);
  }
});

const screenshots = [];
async function shot(name) {
  const file = `${name}.png`;
  await page.screenshot({ path: path.join(shotDir, file) });
  screenshots.push(file);
}

function expect(cond, message) {
  if (!cond) {
    throw new Error(message);
  }
}

async function expectText(text) {
  await page.getByText(text, { exact: false }).first().waitFor();
}

try {
  // Sign in: the console sends a visitor without a session to its sign-in page.
  await page.goto(base + '/admin/');
  expect(new URL(page.url()).pathname === '/admin/signin', `/admin/ led to ${page.url()}, not the sign-in page`);
  await page.fill('input[name="username"]', 'admin');
  await page.fill('input[name="secret"]', token);
  await shot('signin');
  await Promise.all([page.waitForURL(base + '/admin/'), page.click('form button[type="submit"]')]);
  await shot('dashboard');

  // Upload: Uppy Dashboard, files picked in its file input as a person choosing them would.
  // Reached from the navigation: htmx would swap the page in without its script, so the portal
  // has the browser load it whole.
  await Promise.all([page.waitForURL(base + '/admin/upload'), page.getByRole('link', { name: 'Upload', exact: true }).click()]);
  await page.locator('#uploader[data-ready="true"]').waitFor();
  await page.fill('#batch-name', 'Field survey, December');
  const files = uploads.map((p) => ({ name: path.basename(p), size: fs.statSync(p).size }));
  await page.locator('input.uppy-Dashboard-input[name="files[]"]').first().setInputFiles(uploads);
  for (const f of files) {
    await page.locator('.uppy-Dashboard-Item', { hasText: f.name }).first().waitFor();
  }
  // The largest file is paused mid-upload with its button in the Dashboard, and resumed once
  // the others are stored. The browser's upload speed is held down meanwhile (DevTools'
  // network throttling), so the pause comes while its bytes are still going.
  const big = files.reduce((a, b) => (b.size > a.size ? b : a));
  const cdp = await browser.newCDPSession(page);
  await cdp.send('Network.enable');
  const throttle = (uploadThroughput) => cdp.send('Network.emulateNetworkConditions',
    { offline: false, latency: 0, downloadThroughput: -1, uploadThroughput });
  await throttle(4 << 20);
  await page.click('.uppy-StatusBar-actionBtn--upload');
  const bigRow = `#uploads li[data-name="${big.name}"]`;
  await page.waitForFunction((sel) => Number(document.querySelector(sel)?.dataset.uploaded || 0) >= 2 << 20, bigRow);
  const bigItem = page.locator('.uppy-Dashboard-Item', { hasText: big.name }).first();
  await bigItem.getByRole('button', { name: 'Pause upload' }).click();
  await page.locator(`${bigRow}[data-state="paused"]`).waitFor();
  await throttle(-1);
  // failedUpload throws (failing the wait) when a file's line says FAILED.
  await page.waitForFunction(([n, sel]) => {
    const failed = document.querySelector('#uploads li[data-state="FAILED"]');
    if (failed) {
      throw new Error('an upload failed: ' + failed.textContent);
    }
    return document.querySelectorAll('#uploads li[data-state="STORED"]').length === n &&
      document.querySelector(sel).dataset.state === 'paused';
  }, [files.length - 1, bigRow]);
  // While paused, the portal holds only part of the file: its tus offset, asked with HEAD as
  // the page itself would (session cookie and CSRF token).
  const pausedAt = await page.evaluate(async (sel) => {
    const url = document.querySelector(sel).dataset.uploadUrl;
    const csrf = document.getElementById('uploader').dataset.csrf;
    const resp = await fetch(url, { method: 'HEAD', headers: { 'Tus-Resumable': '1.0.0', 'X-CSRF-Token': csrf } });
    return Number(resp.headers.get('Upload-Offset'));
  }, bigRow);
  expect(pausedAt < big.size, `the paused upload of ${big.name} is at ${pausedAt} of ${big.size} bytes on the portal`);
  await shot('upload-paused');
  await bigItem.getByRole('button', { name: 'Resume upload' }).click();
  await page.waitForFunction((n) => {
    const failed = document.querySelector('#uploads li[data-state="FAILED"]');
    if (failed) {
      throw new Error('an upload failed: ' + failed.textContent);
    }
    return document.querySelectorAll('#uploads li[data-state="STORED"]').length === n &&
      document.querySelector('#batch-status a') !== null;
  }, files.length);
  await shot('upload');
  const batchHref = await page.getAttribute('#batch-status a', 'href');
  const batchID = batchHref.split('/').pop();

  // The batch, with every file linked.
  await Promise.all([page.waitForURL('**' + batchHref), page.click('#batch-status a')]);
  for (const f of files) {
    await expectText(f.name);
  }
  await expectText('COMPLETE');
  await expectText('Field survey, December');
  await shot('batch');

  // A file, and its file.stored event.
  await Promise.all([page.waitForURL('**/admin/files/*'), page.getByRole('link', { name: big.name }).first().click()]);
  await expectText('STORED');
  await shot('file');
  await Promise.all([page.waitForURL('**/admin/events/*'), page.locator('a[href^="/admin/events/"]').first().click()]);
  await expectText('file.stored');
  await shot('event');

  // The failed event: found in the list filtered by status, retried after a confirmation.
  await page.goto(base + '/admin/events?status=FAILED');
  await page.locator(`a[href="/admin/events/${failedEvent}"]`).first().waitFor();
  await shot('events-failed');
  await Promise.all([page.waitForURL(`**/admin/events/${failedEvent}`), page.locator(`a[href="/admin/events/${failedEvent}"]`).first().click()]);
  await expectText('FAILED');
  // The action asks once more, on a page of its own, before anything changes.
  await Promise.all([page.waitForURL((u) => u.pathname === `/admin/events/${failedEvent}/retry`), page.getByRole('link', { name: /retry/i }).first().click()]);
  await shot('event-retry-confirm');
  await Promise.all([page.waitForURL((u) => u.pathname === `/admin/events/${failedEvent}`), page.locator('form button[type="submit"]', { hasText: /retry/i }).first().click()]);
  // Pending again; the relay may already be delivering it, so its status is not waited for here
  // (the Go test waits for DELIVERED).
  await expectText('pending again');
  await shot('event-retried');

  // Sign out: the console is closed again.
  await Promise.all([page.waitForURL('**/admin/signin**'), page.getByRole('button', { name: /sign out/i }).click()]);
  await page.goto(base + '/admin/');
  expect(new URL(page.url()).pathname === '/admin/signin', `after signing out, /admin/ led to ${page.url()}`);

  expect(problems.length === 0, 'the browser reported: ' + problems.join('; '));
  console.log(JSON.stringify({ batch_id: batchID, retried_event: failedEvent, paused_at: pausedAt, screenshots }));
} catch (err) {
  console.error(`failed at ${page.url()}: ${err.stack || err}`);
  if (problems.length > 0) {
    console.error('the browser reported: ' + problems.join('; '));
  }
  try {
    console.error('--- page ---\n' + (await page.content()).slice(0, 8000));
  } catch (_) {
    // The page is gone; the error above says why.
  }
  process.exitCode = 1;
} finally {
  await browser.close();
  fs.rmSync(profile, { recursive: true, force: true });
}
