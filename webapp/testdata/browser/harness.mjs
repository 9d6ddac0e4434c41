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
