// What signin.mjs and spa.mjs share: reading the environment the Go test
// sets, Chromium's flags, logging, failing, and the watchdog.
import fs from 'node:fs';
import path from 'node:path';

// env reads a variable the Go test sets; a missing one is a usage error.
export const env = (name, fallback) => {
  const v = process.env[name] ?? fallback;
  if (!v) {
    console.error(`FAIL: ${name} is not set`);
    process.exit(2);
  }
  return v;
};

// chromiumArgs are exactly the browser tests' flags (launched with
// ignoreDefaultArgs: true, which drops Playwright's own list: that list
// turns off browser features such as third-party storage partitioning and
// HTTPS upgrades, and the apps must work in Chromium as users run it).
// Besides them only the profile directory, the trust for the dev tenant's
// certificate — that one server key and nothing else
// (--ignore-certificate-errors-spki-list, honoured because --user-data-dir
// is set), not every certificate — and the pipe Playwright talks over.
export const chromiumArgs = (userDataDir, spki) => [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
  `--user-data-dir=${userDataDir}`,
  `--ignore-certificate-errors-spki-list=${spki}`,
  '--remote-debugging-pipe',
  'about:blank', // the first tab's page, instead of the new-tab page
];

export const log = (...a) => console.log(`[${new Date().toISOString().slice(11, 23)}]`, ...a);

// Failure is a step that did not do what it should (as opposed to a crash).
export class Failure extends Error {}
export const fail = (msg) => { throw new Failure(msg); };
export const expect = (cond, msg) => { if (!cond) fail(msg); };

// clearScreenshots removes the names from dir, so no stale screenshot of an
// earlier run is taken for this one's.
export function clearScreenshots(dir, names) {
  fs.mkdirSync(dir, { recursive: true });
  for (const f of names) fs.rmSync(path.join(dir, f), { force: true });
}

// startWatchdog gives up well before the Go test's own timeout, with a
// message naming the step (step() returns it).
export const startWatchdog = (step) => setTimeout(() => {
  console.error(`FAIL: timed out at step "${step()}"`);
  process.exit(1);
}, Number(process.env.ENTRAKIT_SCRIPT_TIMEOUT_MS || 100_000));

// screenshot saves the whole page as dir/name.
export async function screenshot(page, dir, name) {
  const file = path.join(dir, name);
  await page.screenshot({ path: file, fullPage: true });
  log(`screenshot ${file}`);
}

// bodyText is the page's text, for failure messages.
export async function bodyText(page) {
  return (await page.locator('body').innerText().catch(() => '')).replace(/\s+/g, ' ').trim().slice(0, 600);
}

// finish runs main and exits: 0 when it passed and the browser reported no
// problem, 1 with a FAIL line (and a screenshot of the page) otherwise.
// s holds the script's state: problems, notes, step(), page(), context(),
// where() (the page's address, safe to print), failureShot (a path) and
// watchdog.
export async function finish(main, s) {
  let code = 0;
  try {
    await main();
    if (s.notes.length) log(`notes (tolerated):\n  ${s.notes.join('\n  ')}`);
    if (s.problems.length) {
      console.error(`FAIL: the browser reported ${s.problems.length} problem(s):\n  ${s.problems.join('\n  ')}`);
      code = 1;
    } else {
      log('PASS');
    }
  } catch (e) {
    console.error(`FAIL: step "${s.step()}": ${e instanceof Failure ? e.message : e.stack || e}`);
    if (s.problems.length) console.error(`browser problems so far:\n  ${s.problems.join('\n  ')}`);
    const page = s.page();
    if (page) {
      console.error(`page: ${s.where()}`);
      await page.screenshot({ path: s.failureShot, fullPage: true })
        .then(() => console.error(`screenshot ${s.failureShot}`)).catch(() => {});
    }
    code = 1;
  } finally {
    clearTimeout(s.watchdog);
    const context = s.context();
    if (context) await context.close().catch(() => {});
  }
  process.exit(code);
}
