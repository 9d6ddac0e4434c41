// Drives Debian's Chromium through the single-page app (/spa/, msal-browser)
// against the dev tenant and the web app's API: sign-in, search, a silent
// refresh after the access token expired, a claims challenge after the
// user's sessions were revoked, sign-out. Run by the web app's SPA browser
// test, which starts the servers and passes everything through the
// environment:
//
//   ENTRAKIT_APP_URL         http://localhost:<port> (the web app: /spa/ and /api/)
//   ENTRAKIT_TENANT_URL      https://localhost:<port> (the dev tenant)
//   ENTRAKIT_USERNAME        a persona's user name
//   ENTRAKIT_PASSWORD        its password
//   ENTRAKIT_DISPLAY_NAME    its display name, expected in the profile
//   ENTRAKIT_SEARCH          a search text, e.g. "Ale"
//   ENTRAKIT_SEARCH_EXPECT   a display name expected among its results
//   ENTRAKIT_CONTROL_URL     the test's control server: POST {control}/revoke
//                            revokes the persona's sessions (204)
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
const searchText = env('ENTRAKIT_SEARCH');
const searchExpect = env('ENTRAKIT_SEARCH_EXPECT');
const controlURL = env('ENTRAKIT_CONTROL_URL').replace(/\/$/, '');
const spki = env('ENTRAKIT_SPKI');
const userDataDir = env('ENTRAKIT_USER_DATA_DIR');
const artifacts = env('ENTRAKIT_ARTIFACTS_DIR');
const executablePath = env('ENTRAKIT_CHROMIUM', '/usr/bin/chromium');
const appOrigin = new URL(appURL).origin;
const tenantOrigin = new URL(tenantURL).origin;
const spaURL = appURL + '/spa/';

const screenshots = ['spa-01-home.png', 'spa-02-signin.png', 'spa-03-profile.png', 'spa-04-search.png',
  'spa-05-refreshed.png', 'spa-06-challenge.png', 'spa-07-signedout.png', 'spa-failure.png'];
clearScreenshots(artifacts, screenshots);

const args = chromiumArgs(userDataDir, spki);

const problems = []; // console errors, page errors, failed requests, HTTP errors
const notes = []; // tolerated, reported at the end

// Chromium asks every site for /favicon.ico (the SPA declares none; the
// dev tenant has none). Tolerated, and reported as a note.
const favicon = (u) => u.endsWith('/favicon.ico');
let step = 'launch';

// Step 4 expects exactly one 401 from the API with an insufficient_claims
// challenge (and Chromium's console error about it): tolerated while
// armed, once, and noted.
const challenge = { armed: false, responses: 0, consoles: 0 };

// What went to the dev tenant: token requests (grant type, answer) and
// authorization requests (whether they carried claims).
const tokenPosts = [];
const authorizeRequests = [];
// Writes to the app origin's localStorage, seen by a hook in the page.
const localWrites = [];

const watchdog = startWatchdog(() => step);

let context;
let page;

const shot = (name) => screenshot(page, artifacts, name);

const bodyText = () => harnessBodyText(page);

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// until polls cond from Node (not with the page's timers: the page's clock
// is Playwright's fake one) until it answers truthy.
async function until(cond, what, timeout = 20_000) {
  const end = Date.now() + timeout;
  for (;;) {
    const v = await cond().catch((e) => { if (e instanceof Failure) throw e; return undefined; });
    if (v) return v;
    if (Date.now() > end) fail(`waited ${timeout / 1000}s for ${what}; at ${here()}: ${await bodyText()}`);
    await sleep(100);
  }
}

// here is the page's address without query or fragment: they may hold a
// state, a code (the SPA's redirect lands on /spa/#code=...) or an error.
function here() {
  try {
    const u = new URL(page.url());
    return u.protocol === 'about:' ? page.url() : `${u.origin}${u.pathname}`;
  } catch {
    return page.url();
  }
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

// claimsRequest parses an authorize request's claims parameter (OIDC Core
// §5.5), {} when there is none.
function claimsRequest(raw) {
  if (!raw) return {};
  try {
    const v = JSON.parse(raw);
    return v && typeof v === 'object' ? v : fail(`the claims parameter is not a JSON object: ${raw}`);
  } catch {
    return fail(`the claims parameter is not JSON: ${raw}`);
  }
}

// spaState is the SPA's body[data-state] (signed-in, signed-out), its
// error line, and the profile's load counter.
async function spaState() {
  if (new URL(page.url()).origin !== appOrigin) return { state: '', error: '', loads: 0 };
  return page.evaluate(() => ({
    state: document.body.dataset.state || '',
    error: document.getElementById('error')?.hidden ? '' : document.getElementById('error')?.textContent || '',
    loads: Number(document.getElementById('profile')?.dataset.loads || 0),
    name: document.getElementById('profile-name')?.textContent || '',
  }));
}

// untilSPA waits for the SPA to show what want() accepts, failing early
// when the page shows an error instead.
async function untilSPA(want, what, timeout) {
  return until(async () => {
    const s = await spaState();
    if (s.error) fail(`the SPA shows an error while waiting for ${what}: ${s.error}`);
    return want(s) ? s : undefined;
  }, what, timeout);
}

// The SPA page itself: on /spa/, its stylesheet applied (the CSP allows it).
async function expectSPAPage() {
  await page.waitForLoadState('load');
  const u = new URL(page.url());
  expect(u.origin === appOrigin && u.pathname === '/spa/', `expected ${spaURL}, at ${here()}: ${await bodyText()}`);
  const css = await page.evaluate(() => [...document.styleSheets].map((s) => {
    try { return { href: s.href, rules: s.cssRules.length }; } catch (e) { return { href: s.href, rules: -1 }; }
  }));
  expect(css.some((s) => s.href && s.href.endsWith('/spa/spa.css') && s.rules > 0),
    `the SPA's stylesheet did not load (CSP or MIME type?): ${JSON.stringify(css)}`);
  const border = await page.evaluate(() => getComputedStyle(document.querySelector('header')).borderBottomStyle);
  expect(border === 'solid', `the SPA's stylesheet is not applied (header border-bottom-style ${border})`);
}

// storage classifies the app origin's sessionStorage and localStorage keys
// in the page, so that no token value leaves it (not even into this log).
async function storage() {
  return page.evaluate(() => {
    const credential = /(^|\|)(accesstoken|accesstoken_with_authscheme|refreshtoken|idtoken)(\||$)/i;
    const jwt = /eyJ[\w-]{8,}\.eyJ[\w-]{8,}\./;
    const scan = (s) => {
      const out = { keys: 0, accessTokens: 0, tokenLike: [] };
      for (let i = 0; i < s.length; i++) {
        const k = s.key(i);
        const v = s.getItem(k) || '';
        out.keys++;
        if (/(^|\|)accesstoken/i.test(k)) out.accessTokens++;
        if (credential.test(k) || jwt.test(v) || /"secret"\s*:/.test(v)) out.tokenLike.push(k);
      }
      return out;
    };
    return { session: scan(window.sessionStorage), local: scan(window.localStorage) };
  });
}

async function expectNoTokensInLocalStorage() {
  const s = await storage();
  expect(s.local.tokenLike.length === 0, `localStorage holds token-like entries: ${s.local.tokenLike.join(', ')}`);
  const bad = localWrites.filter((w) => w.tokenLike);
  expect(bad.length === 0, `the page wrote token-like entries to localStorage: ${bad.map((w) => w.key).join(', ')}`);
  return s;
}

// signIn completes the dev tenant's pages as signin.mjs does: the
// password form, then the consent page if asked, until the browser is back
// on the app.
async function signIn(formShot) {
  await page.waitForURL((u) => u.origin === tenantOrigin || u.protocol === 'chrome-error:', { waitUntil: 'load' });
  expect(await onTenant(), `Chromium did not open the dev tenant's page (${here()}): ${problems.join('; ')}`);
  const terr = await tenantError();
  expect(!terr, `the dev tenant refused the authorize request: ${terr}`);
  expect(new URL(page.url()).protocol === 'https:', `the sign-in page is not HTTPS: ${here()}`);
  await page.locator('form#login').waitFor();
  if (formShot) await shot(formShot);
  await page.locator('#username').fill(username);
  await page.locator('#password').fill(password);
  await page.locator('#submit').click();
  await Promise.race([
    page.waitForURL((u) => u.origin === appOrigin, { waitUntil: 'load' }),
    page.locator('form#consent').waitFor(),
    page.locator('main.error, #error').first().waitFor(),
  ]);
  const err = await tenantError();
  expect(!err, `the dev tenant refused the sign-in: ${err}`);
  if (await onTenant() && await page.locator('form#consent').count()) {
    const perms = await page.locator('#permissions li').allInnerTexts();
    log(`consent page asks for: ${perms.join(', ')}`);
    expect(await page.locator('#accept').count() > 0, `the consent page offers no Accept: ${await bodyText()}`);
    await page.locator('#accept').click();
    await page.waitForURL((u) => u.origin === appOrigin, { waitUntil: 'load' });
  }
  expect(new URL(page.url()).origin === appOrigin, `not back on the app: ${here()}: ${await bodyText()}`);
}

// expectProfile waits for the signed-in profile of the persona, its photo
// (or, when the API has none, initials) included.
async function expectProfile(what, minLoads = 1) {
  const s = await untilSPA((s) => s.state === 'signed-in' && s.loads >= minLoads, what);
  expect(s.name === displayName, `${what}: profile name "${s.name}", want "${displayName}"`);
  const upn = (await page.locator('#profile-upn').innerText()).trim();
  expect(upn !== '', `${what}: no user principal name in the profile`);
  const photo = await page.evaluate(() => {
    const img = document.getElementById('profile-photo');
    const ini = document.getElementById('profile-initials');
    return { shown: !img.hidden, src: img.currentSrc.slice(0, 5), complete: img.complete, w: img.naturalWidth,
      initials: ini.hidden ? '' : ini.textContent };
  });
  if (photo.shown) {
    await until(() => page.evaluate(() => document.getElementById('profile-photo').complete), 'the photo to load');
    const w = await page.evaluate(() => document.getElementById('profile-photo').naturalWidth);
    expect(w > 0 && photo.src === 'blob:', `${what}: the photo did not load: ${JSON.stringify(photo)}`);
    log(`${what}: profile ${s.name} <${upn}>, photo ${w}px wide (blob: URL)`);
  } else {
    log(`${what}: profile ${s.name} <${upn}>, no photo, initials "${photo.initials}"`);
  }
  return s;
}

async function main() {
  log(`chromium ${executablePath} ${args.join(' ')}`);
  // The profile's own context (not an incognito-like one): cookies and
  // storage behave as in a user's browser.
  context = await chromium.launchPersistentContext(userDataDir, {
    executablePath, ignoreDefaultArgs: true, args, timeout: 30_000, viewport: { width: 1100, height: 800 },
  });
  log(`browser ${context.browser()?.version() ?? '(persistent context)'}`);

  // The fake clock goes in before the first page: step 3 moves it two
  // hours on (Date, timers, performance of every page of the context;
  // Playwright replays the move on each new document).
  await context.clock.install();

  // Every localStorage write, from the first script on: msal-browser must
  // write no token there (cacheLocation sessionStorage).
  await context.exposeBinding('__entrakitLocalStorageWrite', ({ frame }, w) => {
    const origin = (() => { try { return new URL(frame.url()).origin; } catch { return ''; } })();
    if (origin !== appOrigin) return;
    localWrites.push(w);
    log(`localStorage write on the app: ${w.key} (${w.length} chars${w.tokenLike ? ', TOKEN-LIKE' : ''})`);
  });
  await context.addInitScript(() => {
    const set = Storage.prototype.setItem;
    const credential = /(^|\|)(accesstoken|accesstoken_with_authscheme|refreshtoken|idtoken)(\||$)/i;
    const jwt = /eyJ[\w-]{8,}\.eyJ[\w-]{8,}\./;
    Storage.prototype.setItem = function setItem(k, v) {
      try {
        if (this === window.localStorage && typeof window.__entrakitLocalStorageWrite === 'function') {
          const key = String(k);
          const val = String(v);
          window.__entrakitLocalStorageWrite({ key, length: val.length,
            tokenLike: credential.test(key) || jwt.test(val) || /"secret"\s*:/.test(val) });
        }
      } catch (e) { /* the hook never breaks the page */ }
      return set.call(this, k, v);
    };
  });

  page = context.pages()[0] ?? await context.newPage();
  page.setDefaultTimeout(20_000);
  page.setDefaultNavigationTimeout(20_000);

  page.on('console', (m) => {
    if (m.type() === 'error' || m.type() === 'warning') {
      const src = m.location()?.url || '';
      const line = `console ${m.type()} at ${here()}: ${m.text()}${src ? ` (${src})` : ''}`;
      log(line);
      if (favicon(src)) notes.push(line);
      else if (m.type() === 'error' && challenge.armed && challenge.consoles === 0 &&
        src.startsWith(appOrigin + '/api/') && /status of 401/.test(m.text())) {
        challenge.consoles++;
        notes.push(`expected: ${line}`);
      } else if (m.type() === 'error') problems.push(line);
    }
  });
  page.on('pageerror', (e) => { const l = `page error at ${here()}: ${e.message}`; log(l); problems.push(l); });
  page.on('requestfailed', (r) => {
    const u = new URL(r.url()); // no query: it may hold a state or a code
    const l = `request failed: ${r.method()} ${u.origin}${u.pathname}: ${r.failure()?.errorText}`;
    log(l);
    problems.push(l);
  });
  page.on('request', async (r) => {
    const u = new URL(r.url());
    if (u.origin !== tenantOrigin) return;
    if (r.method() === 'POST' && u.pathname.endsWith('/oauth2/v2.0/token')) {
      // Only the grant type and the header names: the body holds a code
      // or a refresh token.
      const grant = new URLSearchParams(r.postData() || '').get('grant_type') || '?';
      const entry = { step, grant, status: 0 };
      tokenPosts.push(entry);
      const h = await r.allHeaders().catch(() => ({}));
      log(`  token request (${step}): grant_type=${grant}; headers: ${Object.keys(h).sort().join(', ')}`);
      r.response().then((resp) => { entry.status = resp ? resp.status() : -1; }).catch(() => {});
    }
    if (r.isNavigationRequest() && u.pathname.endsWith('/oauth2/v2.0/authorize')) {
      const claims = u.searchParams.get('claims');
      authorizeRequests.push({ step, claims });
      log(`  authorize (${step}): prompt=${u.searchParams.get('prompt') || '-'} response_mode=${u.searchParams.get('response_mode')}` +
        ` code_challenge_method=${u.searchParams.get('code_challenge_method')}${claims ? ` claims=${claims}` : ''}`);
    }
  });
  page.on('response', async (r) => {
    const req = r.request();
    const u = new URL(r.url());
    if (u.protocol === 'blob:' || u.protocol === 'data:') return; // the photo's object URL
    log(`${req.method()} ${u.origin}${u.pathname} -> ${r.status()}`);
    if (r.status() < 400) return;
    if (favicon(u.pathname)) {
      notes.push(`HTTP ${r.status()} for ${req.method()} ${u.origin}${u.pathname}`);
      return;
    }
    if (r.status() === 401 && u.origin === appOrigin && u.pathname.startsWith('/api/') && challenge.armed && challenge.responses === 0) {
      const www = (await r.headerValue('www-authenticate').catch(() => null)) || '';
      if (/error="insufficient_claims"/.test(www) && /claims="/.test(www)) {
        challenge.responses++;
        notes.push(`expected: HTTP 401 insufficient_claims for ${req.method()} ${u.pathname}`);
        log(`  the API's claims challenge: ${www.replace(/claims="[^"]*"/, 'claims="…"')}`);
        return;
      }
    }
    problems.push(`HTTP ${r.status()} for ${req.method()} ${u.origin}${u.pathname}`);
  });

  // 1. The SPA, signed out; "Sign in" through the dev tenant; back with
  // the profile.
  step = 'home';
  const resp = await page.goto(spaURL);
  expect(resp && resp.status() === 200, `GET /spa/ answered ${resp && resp.status()}`);
  const csp = (await resp.headerValue('content-security-policy')) || '';
  expect(/script-src 'self'/.test(csp) && !/unsafe-(inline|eval)/.test(csp), `/spa/'s Content-Security-Policy: "${csp}"`);
  await expectSPAPage();
  await untilSPA((s) => s.state === 'signed-out', 'the signed-out page');
  expect(await page.locator('#signin').isVisible(), 'no visible #signin button on the signed-out page');
  const where = await page.locator('#storage').innerText();
  expect(/sessionStorage/.test(where), `#storage does not say where tokens are kept: "${where}"`);
  await shot('spa-01-home.png');

  step = 'sign-in';
  await page.locator('#signin').click();
  await signIn('spa-02-signin.png');
  // msal-browser always asks for optional ID token claims (claims=
  // {"id_token":{...}}); a claims challenge adds "access_token".
  const first = authorizeRequests.at(-1);
  expect(first && !claimsRequest(first.claims).access_token, `the sign-in's authorize request: ${JSON.stringify(first)}`);
  await expectSPAPage();
  await expectProfile('after sign-in');
  expect(tokenPosts.some((t) => t.grant === 'authorization_code'), `no code redemption seen: ${JSON.stringify(tokenPosts)}`);
  let st = await expectNoTokensInLocalStorage();
  expect(st.session.accessTokens > 0, `no msal access token in sessionStorage after sign-in (${st.session.keys} keys)`);
  log(`storage: sessionStorage ${st.session.keys} keys (${st.session.accessTokens} access token), localStorage ${st.local.keys} keys`);
  await shot('spa-03-profile.png');

  // 2. Search.
  step = 'search';
  await page.locator('#search-input').fill(searchText);
  await page.locator('#search-button').click();
  await until(async () => (await page.locator('#search-summary').innerText()).trim(), 'search results');
  const names = (await page.locator('#search-results li strong').allInnerTexts()).map((s) => s.trim());
  log(`search "${searchText}": ${names.join(', ') || '(none)'}`);
  expect(names.includes(searchExpect), `"${searchExpect}" is not among the results for "${searchText}": ${names.join(', ') || '(none)'}`);
  await shot('spa-04-search.png');

  // 3. Two hours on, the access token has expired: "Reload profile" gets
  // a new one with the refresh token, without a page load.
  step = 'silent refresh';
  const skewBefore = await page.evaluate(() => Date.now()) - Date.now();
  await context.clock.fastForward('02:00:00');
  const skew = await page.evaluate(() => Date.now()) - Date.now();
  log(`page clock ${Math.round((skew - skewBefore) / 60000)} min further ahead (${Math.round(skew / 60000)} min ahead of real time)`);
  expect(skew - skewBefore > 110 * 60_000, `the page's clock did not move on: skew ${skew} ms`);
  const posts = tokenPosts.length;
  const navs = authorizeRequests.length;
  let s = await spaState();
  await page.locator('#refresh').click();
  await expectProfile('after the refresh', s.loads + 1);
  const refreshes = tokenPosts.slice(posts).filter((t) => t.grant === 'refresh_token');
  expect(refreshes.length > 0, `no refresh_token grant after the clock moved on: ${JSON.stringify(tokenPosts.slice(posts))}`);
  await until(() => Promise.resolve(refreshes.every((t) => t.status)), 'the token endpoint to answer', 5_000);
  expect(refreshes.every((t) => t.status === 200), `refresh_token grant answers: ${JSON.stringify(refreshes)}`);
  expect(authorizeRequests.length === navs, 'the refresh went to /authorize instead of the token endpoint');
  await expectNoTokensInLocalStorage();
  await shot('spa-05-refreshed.png');

  // 4. The user's sessions are revoked: the API's Graph call is refused
  // and the API answers 401 with a claims challenge; the SPA signs in
  // again with those claims (acquireTokenRedirect) and shows the profile.
  step = 'claims challenge';
  const rv = await fetch(controlURL + '/revoke', { method: 'POST' });
  expect(rv.status === 204, `POST ${controlURL}/revoke answered ${rv.status}`);
  log('revoked the persona\'s sessions');
  challenge.armed = true;
  await page.locator('#refresh').click();
  await signIn();
  const again = authorizeRequests.at(-1);
  expect(again && again.step === 'claims challenge' && claimsRequest(again.claims).access_token,
    `the SPA did not send the challenge's claims to /authorize: ${JSON.stringify(authorizeRequests)}`);
  expect(challenge.responses === 1, `expected one insufficient_claims 401 from the API, saw ${challenge.responses}`);
  await expectSPAPage();
  await expectProfile('after the claims challenge');
  challenge.armed = false;
  await expectNoTokensInLocalStorage();
  await shot('spa-06-challenge.png');

  // 5. Sign out: msal-browser clears its cache, the dev tenant's logout
  // ends the SSO session and sends the browser back to /spa/.
  step = 'sign-out';
  // The next page after the logout request: /spa/ (the dev tenant
  // redirected back) or the dev tenant's own signed-out page (it did not).
  let logoutURL = null;
  const onLogout = (r) => {
    if (r.isNavigationRequest() && r.url().startsWith(tenantOrigin + '/') && new URL(r.url()).pathname.endsWith('/oauth2/v2.0/logout')) {
      logoutURL = new URL(r.url());
    }
  };
  page.on('request', onLogout);
  const landed = page.waitForEvent('framenavigated', { predicate: (f) => f === page.mainFrame() && logoutURL !== null, timeout: 15_000 });
  await page.locator('#signout').click();
  await landed.catch(async () => fail(`no page after the logout request (${logoutURL ? 'sent' : 'never sent'}): at ${here()}: ${await bodyText()}`));
  page.off('request', onLogout);
  log(`  logout: post_logout_redirect_uri=${logoutURL.searchParams.get('post_logout_redirect_uri')}; ` +
    `also ${[...logoutURL.searchParams.keys()].filter((k) => k !== 'post_logout_redirect_uri').join(', ')}`);
  expect(logoutURL.searchParams.get('post_logout_redirect_uri') === spaURL,
    `the logout request's post_logout_redirect_uri is ${logoutURL.searchParams.get('post_logout_redirect_uri')}, want ${spaURL}`);
  await page.waitForLoadState('load');
  expect(!(await onTenant()), `the dev tenant's logout did not return to ${spaURL}: at ${here()}: ${await bodyText()}`);
  await expectSPAPage();
  await untilSPA((s) => s.state === 'signed-out', 'the signed-out page');
  expect(await page.locator('#signin').isVisible(), 'no visible #signin after sign-out');
  st = await expectNoTokensInLocalStorage();
  expect(st.session.tokenLike.length === 0, `sessionStorage still holds tokens after sign-out: ${st.session.tokenLike.join(', ')}`);
  log(`storage after sign-out: sessionStorage ${st.session.keys} keys, localStorage ${st.local.keys} keys; ` +
    `${localWrites.length} localStorage write(s) on the app in all`);
  await shot('spa-07-signedout.png');
}

await finish(main, {
  problems, notes, watchdog, failureShot: path.join(artifacts, 'spa-failure.png'),
  step: () => step, page: () => page, context: () => context, where: () => here(),
});
