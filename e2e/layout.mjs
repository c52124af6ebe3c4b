// The console's layout measured in headless Chromium: on a wide window the dashboard's cards of
// a row share their top, width and height, and its charts span the same width as the cards above
// them; on a 420 px wide one (a phone) no page scrolls sideways, and every link of the navigation
// is on the screen, not covered, and leads to its page. Run by e2e/console_test.go; it prints
// one JSON line: the pages it measured.
//
// Environment: INGEST_URL, INGEST_ADMIN_TOKEN, INGEST_CHROMIUM (the browser's path).
import { chromium } from 'playwright-core';
import { launchChromium, requiredEnv } from './chromium.mjs';

const env = requiredEnv;
const base = env('INGEST_URL');
const { browser, close } = await launchChromium(chromium, env('INGEST_CHROMIUM'), 'ingest-layout-', 30_000);
const page = browser.pages()[0] || await browser.newPage();
const problems = [];
const near = (a, b) => Math.abs(a - b) < 1;
const narrow = { width: 420, height: 800 };

// grids returns the box of each .cards or .charts grid of the dashboard and those of its children.
async function grids() {
  return page.$$eval('#dashboard .cards, #dashboard .charts', (gs) => gs.map((g) => {
    const box = (el) => { const r = el.getBoundingClientRect(); return { left: r.left, right: r.right, top: r.top, width: r.width, height: r.height }; };
    return { kind: g.className, box: box(g), items: [...g.children].map(box) };
  }));
}

function checkAlignment(gs) {
  const cards = gs.filter((g) => g.kind === 'cards');
  if (cards.length === 0) {
    problems.push('the dashboard has no cards');
    return;
  }
  let right = 0;
  for (const g of gs) {
    const rows = new Map();
    for (const it of g.items) {
      const key = [...rows.keys()].find((top) => near(top, it.top)) ?? it.top;
      rows.set(key, [...(rows.get(key) || []), it]);
    }
    for (const row of rows.values()) {
      const [first] = row;
      if (!near(Math.min(...row.map((it) => it.left)), g.box.left)) {
        problems.push(`a row of .${g.kind} starts at ${Math.min(...row.map((it) => it.left))}, not at its grid's left ${g.box.left}`);
      }
      if (row.some((it) => !near(it.width, first.width) || !near(it.height, first.height))) {
        problems.push(`the boxes of a row of .${g.kind} differ in size: ${JSON.stringify(row)}`);
      }
      if (g.kind === 'cards') {
        right = Math.max(right, ...row.map((it) => it.right));
      }
    }
    if (g.kind === 'charts' && !near(Math.max(...g.items.map((it) => it.right)), right)) {
      problems.push(`the charts end at ${Math.max(...g.items.map((it) => it.right))}, the cards above at ${right}`);
    }
  }
}

// checkNarrow checks the page at the current (narrow) width.
async function checkNarrow(where) {
  const { scroll, width } = await page.evaluate(() => ({ scroll: document.documentElement.scrollWidth, width: window.innerWidth }));
  if (scroll > width) {
    problems.push(`${where} is ${scroll} px wide in a ${width} px window: it scrolls sideways`);
  }
  const links = await page.$$eval('header nav a', (as) => as.map((a) => {
    const r = a.getBoundingClientRect();
    const hit = document.elementFromPoint(r.left + r.width / 2, r.top + r.height / 2);
    return { text: a.textContent, left: r.left, right: r.right, top: r.top, bottom: r.bottom, reachable: hit === a || a.contains(hit) };
  }));
  for (const l of links) {
    if (l.left < 0 || l.right > width || l.top < 0 || l.bottom > narrow.height) {
      problems.push(`${where}: the navigation's "${l.text}" is off the screen (${l.left}–${l.right} of ${width})`);
    } else if (!l.reachable) {
      problems.push(`${where}: the navigation's "${l.text}" is covered`);
    }
  }
}
try {
  await page.setViewportSize({ width: 1100, height: 720 });
  await page.goto(base + '/admin/signin');
  await page.fill('input[name="username"]', 'admin');
  await page.fill('input[name="secret"]', env('INGEST_ADMIN_TOKEN'));
  await Promise.all([page.waitForURL(base + '/admin/'), page.click('form button[type="submit"]')]);
  checkAlignment(await grids());

  await page.setViewportSize(narrow);
  const measured = [];
  for (const path of ['/admin/', '/admin/files', '/admin/events']) {
    await page.goto(base + path);
    await checkNarrow(path);
    measured.push(path);
  }
  // A link of the navigation, tapped, leads to its page.
  await Promise.all([page.waitForURL(base + '/admin/grants'), page.getByRole('link', { name: 'Grants', exact: true }).click()]);
  await checkNarrow('/admin/grants');
  measured.push('/admin/grants');

  if (problems.length > 0) {
    throw new Error(problems.join('\n'));
  }
  console.log(JSON.stringify({ measured }));
} catch (err) {
  console.error(`failed at ${page.url()}: ${err.stack || err}`);
  process.exitCode = 1;
} finally {
  await close();
}
