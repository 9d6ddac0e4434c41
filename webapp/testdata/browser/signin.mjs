// Drives Debian's Chromium through the web app's sign-in and sign-out
// against the dev tenant. Run by TestBrowserSignIn (webapp/browser_test.go),
// which starts both servers and passes everything through the environment:
//
//   ENTRAKIT_APP_URL         http://localhost:<port> (the web app)
//   ENTRAKIT_TENANT_URL      https://localhost:<port> (the dev tenant)
//   ENTRAKIT_USERNAME        a persona's user name
//   ENTRAKIT_PASSWORD        its password
//   ENTRAKIT_DISPLAY_NAME    its display name, expected on /me
//   ENTRAKIT_SPKI            base64 SHA-256 of the dev tenant leaf's SubjectPublicKeyInfo
//   ENTRAKIT_USER_DATA_DIR   a fresh Chromium profile directory
//   ENTRAKIT_ARTIFACTS_DIR   where the PNG screenshots go
//   ENTRAKIT_CHROMIUM        Chromium's executable (default /usr/bin/chromium)
//
// It exits 0 when every step passed, 1 with a "FAIL:" line otherwise.
import { chromium } from 'playwright-core';
import path from 'node:path';
import {
  env, chromiumArgs, log, Failure, fail, expect, clearScreenshots, startWatchdog, screenshot,
  bodyText as harnessBodyText, finish,
} from './harness.mjs';

const appURL = env('ENTRAKIT_APP_URL').replace(/\/$/, '');
const tenantURL = env('ENTRAKIT_TENANT_URL').replace(/\/$/, '');
const username = env('ENTRAKIT_USERNAME');
const password = env('ENTRAKIT_PASSWORD');
const displayName = env('ENTRAKIT_DISPLAY_NAME');
const spki = env('ENTRAKIT_SPKI');
const userDataDir = env('ENTRAKIT_USER_DATA_DIR');
const artifacts = env('ENTRAKIT_ARTIFACTS_DIR');
const executablePath = env('ENTRAKIT_CHROMIUM', '/usr/bin/chromium');
const appOrigin = new URL(appURL).origin;
const tenantOrigin = new URL(tenantURL).origin;

const screenshots = ['01-home.png', '02-signin.png', '03-consent.png', '04-profile.png', '05-signedout.png', 'failure.png'];
clearScreenshots(artifacts, screenshots);

const args = chromiumArgs(userDataDir, spki);

const problems = []; // console errors, page errors, failed requests, HTTP errors
const notes = []; // tolerated, reported at the end

// Chromium asks every site for /favicon.ico; the app has none (a 404 and a
// console error on the first page). Tolerated, and reported as a note.
const favicon = (u) => u.endsWith('/favicon.ico');
let step = 'launch';
const watchdog = startWatchdog(() => step);

let context;
let page;

const shot = (name) => screenshot(page, artifacts, name);

const bodyText = () => harnessBodyText(page);

// An app page: HTTP 200, its stylesheet applied (the CSP allows it), no
// error page.
async function expectAppPage(pathname) {
  await page.waitForLoadState('load');
  const u = new URL(page.url());
  expect(u.origin === appOrigin && u.pathname === pathname,
    `expected ${appOrigin}${pathname}, at ${page.url()}: ${await bodyText()}`);
  const css = await page.evaluate(() => [...document.styleSheets].map((s) => {
    try { return { href: s.href, rules: s.cssRules.length }; } catch (e) { return { href: s.href, rules: -1 }; }
  }));
  expect(css.some((s) => s.href && s.href.endsWith('/static/style.css') && s.rules > 0),
    `the stylesheet did not load on ${pathname} (CSP or MIME type?): ${JSON.stringify(css)}`);
  const border = await page.evaluate(() => getComputedStyle(document.querySelector('header')).borderBottomStyle);
  expect(border === 'solid', `the stylesheet is not applied on ${pathname} (header border-bottom-style ${border})`);
}

async function onTenant() {
  return new URL(page.url()).origin === tenantOrigin;
}

async function tenantError() {
  if (!(await onTenant())) return '';
  const err = page.locator('main.error, #error');
  if (await err.count()) return (await err.first().innerText()).replace(/\s+/g, ' ').trim();
  return '';
}

async function main() {
  log(`chromium ${executablePath} ${args.join(' ')}`);
  // The profile's own context (not an incognito-like one): cookies behave
  // as in a user's browser.
  context = await chromium.launchPersistentContext(userDataDir, {
    executablePath, ignoreDefaultArgs: true, args, timeout: 30_000, viewport: { width: 1100, height: 800 },
  });
  log(`browser ${context.browser()?.version() ?? '(persistent context)'}`);
  page = context.pages()[0] ?? await context.newPage();
  page.setDefaultTimeout(20_000);
  page.setDefaultNavigationTimeout(20_000);

  page.on('console', (m) => {
    if (m.type() === 'error' || m.type() === 'warning') {
      const src = m.location()?.url || '';
      const line = `console ${m.type()} at ${page.url()}: ${m.text()}${src ? ` (${src})` : ''}`;
      log(line);
      if (favicon(src)) notes.push(line);
      else if (m.type() === 'error') problems.push(line);
    }
  });
  page.on('pageerror', (e) => { const l = `page error at ${page.url()}: ${e.message}`; log(l); problems.push(l); });
  page.on('requestfailed', (r) => {
    const u = new URL(r.url()); // no query: it may hold a state or a code
    const l = `request failed: ${r.method()} ${u.origin}${u.pathname}: ${r.failure()?.errorText}`;
    log(l);
    problems.push(l);
  });
  page.on('response', async (r) => {
    const req = r.request();
    const u = new URL(r.url());
    log(`${req.method()} ${u.origin}${u.pathname} -> ${r.status()}`);
    if (r.status() >= 400) (favicon(u.pathname) ? notes : problems).push(`HTTP ${r.status()} for ${req.method()} ${u.origin}${u.pathname}`);
    if (u.origin === appOrigin && u.pathname === '/auth/callback') {
      // Which cookies the browser sent with the cross-site form_post: the
      // sign-in transaction cookie (SameSite=None; Secure) must be there.
      const h = await req.allHeaders().catch(() => ({}));
      const names = (h.cookie || '').split(';').map((c) => c.trim().split('=')[0]).filter(Boolean);
      log(`  callback ${req.method()} sent cookies: ${names.join(', ') || '(none)'}; Sec-Fetch-Site: ${h['sec-fetch-site'] || '?'}`);
    }
  });

  // 1. Home, anonymous.
  step = 'home';
  let resp = await page.goto(appURL + '/');
  expect(resp && resp.status() === 200, `GET / answered ${resp && resp.status()}`);
  await expectAppPage('/');
  expect(await page.getByRole('link', { name: 'Sign in', exact: true }).count() > 0, 'no "Sign in" link on the home page');
  await shot('01-home.png');

  // 2. "Sign in" leads to the dev tenant's sign-in page.
  step = 'sign-in page';
  await page.getByRole('link', { name: 'Sign in', exact: true }).first().click();
  await page.waitForURL((u) => u.origin === tenantOrigin || u.protocol === 'chrome-error:', { waitUntil: 'load' });
  expect(await onTenant(), `Chromium did not open the dev tenant's page (${page.url()}): ${problems.join('; ')}`);
  const terr = await tenantError();
  expect(!terr, `the dev tenant refused the authorize request: ${terr}`);
  await page.locator('form#login').waitFor();
  expect(new URL(page.url()).protocol === 'https:', `the sign-in page is not HTTPS: ${page.url()}`);
  await shot('02-signin.png');

  // 3. Credentials.
  step = 'credentials';
  await page.locator('#username').fill(username);
  await page.locator('#password').fill(password);
  await page.locator('#submit').click();
  // Next: the consent page (tenant), or straight back to the app (form_post
  // page on the tenant, which posts itself to the app's callback).
  await Promise.race([
    page.waitForURL((u) => u.origin === appOrigin, { waitUntil: 'load' }),
    page.locator('form#consent').waitFor(),
    page.locator('main.error, #error').first().waitFor(),
  ]);
  const err = await tenantError();
  expect(!err, `the dev tenant refused the sign-in: ${err}`);

  // 4. Consent, if asked.
  if (await onTenant() && await page.locator('form#consent').count()) {
    step = 'consent';
    const perms = await page.locator('#permissions li').allInnerTexts();
    log(`consent page asks for: ${perms.join(', ')}`);
    await shot('03-consent.png');
    expect(await page.locator('#accept').count() > 0, `the consent page offers no Accept: ${await bodyText()}`);
    await page.locator('#accept').click();
    await page.waitForURL((u) => u.origin === appOrigin, { waitUntil: 'load' });
  }

  // 5. Back on the app, signed in.
  step = 'callback';
  await page.waitForLoadState('load');
  expect(new URL(page.url()).origin === appOrigin, `not back on the app: ${page.url()}: ${await bodyText()}`);
  expect(new URL(page.url()).pathname !== '/auth/callback',
    `the app refused the sign-in response (stayed on /auth/callback): ${await bodyText()}`);
  await expectAppPage('/');
  const signOut = page.getByRole('button', { name: `Sign out ${displayName}` });
  expect(await signOut.count() === 1, `not signed in after the callback (no "Sign out ${displayName}" button): ${await bodyText()}`);
  const cookies = await context.cookies(appURL);
  const sess = cookies.find((c) => c.name === '__Host-entrakit');
  expect(sess, `no __Host-entrakit session cookie after sign-in; cookies: ${cookies.map((c) => c.name).join(', ') || '(none)'}`);
  expect(sess.httpOnly && sess.secure && sess.sameSite === 'Lax' && sess.path === '/',
    `session cookie attributes: ${JSON.stringify({ ...sess, value: '…' })}`);
  expect(!cookies.some((c) => c.name.startsWith('__Host-entrakit-signin.')), 'the sign-in transaction cookie outlived the callback');

  // 6. Profile: name and photo.
  step = 'profile';
  await page.getByRole('link', { name: 'Profile', exact: true }).first().click();
  await page.waitForURL(appURL + '/me', { waitUntil: 'load' });
  await expectAppPage('/me');
  const h1 = (await page.locator('main h1').first().innerText()).trim();
  expect(h1 === displayName, `profile name: got "${h1}", want "${displayName}"`);
  const img = page.locator('.profile img');
  await img.waitFor();
  await page.waitForFunction(() => document.querySelector('.profile img')?.complete === true);
  const photo = await img.evaluate((el) => ({ src: el.currentSrc, w: el.naturalWidth, h: el.naturalHeight }));
  log(`photo ${photo.src} ${photo.w}x${photo.h}`);
  expect(photo.w > 0 && photo.h > 0, `the profile photo did not load: ${JSON.stringify(photo)}`);
  await shot('04-profile.png');

  // 7. Sign out: the app, then the dev tenant's logout, then /signedout.
  step = 'sign-out';
  await page.getByRole('button', { name: `Sign out ${displayName}` }).click();
  await page.waitForURL((u) => u.origin === appOrigin && u.pathname === '/signedout', { waitUntil: 'load' });
  await expectAppPage('/signedout');
  const out = (await page.locator('main h1').first().innerText()).trim();
  expect(out === 'Signed out', `signed-out page heading: "${out}"`);
  expect(await page.getByRole('link', { name: 'Sign in', exact: true }).count() > 0, 'still signed in on /signedout');
  expect(!(await context.cookies(appURL)).some((c) => c.name === '__Host-entrakit'), 'the session cookie survived sign-out');
  await shot('05-signedout.png');

  // 8. The session is gone: /me sends the browser to sign in again, and the
  // dev tenant asks for the password (its SSO session ended too).
  step = 'after sign-out';
  await page.goto(appURL + '/me');
  await page.waitForURL((u) => u.origin === tenantOrigin, { waitUntil: 'load' });
  await page.locator('form#login').waitFor();

}

await finish(main, {
  problems, notes, watchdog, failureShot: path.join(artifacts, 'failure.png'),
  step: () => step, page: () => page, context: () => context, where: () => page.url(),
});
