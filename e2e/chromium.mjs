// launchChromium starts Debian's Chromium (at executablePath) headless through playwright-core's
// chromium (passed in, so that each npm project of e2e/ uses its own copy), with a new empty
// profile: no downloaded browser, nothing of a previous run. close() ends it and removes the
// profile. requiredEnv reads a variable the script cannot run without. Shared by the browser
// scripts of e2e/.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export async function launchChromium(chromium, executablePath, prefix, timeout) {
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  const browser = await chromium.launchPersistentContext(profile, {
    executablePath,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  browser.setDefaultTimeout(timeout);
  return {
    browser,
    async close() {
      await browser.close();
      fs.rmSync(profile, { recursive: true, force: true });
    },
  };
}

export function requiredEnv(name) {
  const v = process.env[name];
  if (!v) {
    throw new Error(`${name} is not set`);
  }
  return v;
}
