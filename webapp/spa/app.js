// The single-page app at /spa/: signs in with msal-browser (authorization
// code flow with PKCE, redirects only) and calls this web app's API
// (/api/me, /api/me/photo, /api/users) with an access token for the API's
// access_as_user scope. Loaded after msal-browser.min.js, which defines the
// global `msal`. No inline script, no eval: the page's CSP allows neither.
//
// Token renewal: acquireTokenSilent looks in the cache, then redeems the
// refresh token; it never falls back to msal-browser's hidden iframe
// (CacheLookupPolicy.AccessTokenAndRefreshToken). That iframe would load
// this page inside the authority's frame, which frame-ancestors 'none'
// forbids, and msal-browser 5 expects its redirect bridge there, which this
// page does not run. When the refresh token no longer serves, the app
// redirects to sign in again.
'use strict';

(() => {
  const $ = (id) => document.getElementById(id);

  // What to do again after a redirect to the authority (a claims challenge
  // or an expired sign-in interrupted it): {action: "profile"} or
  // {action: "search", text}, and whether the redirect carried claims.
  const PENDING_KEY = 'entrakit.spa.pending';

  let cfg; // /spa/config.json
  let pca; // msal.PublicClientApplication
  // True right after coming back from a claims redirect: a second
  // challenge then is shown, not followed (no redirect loop).
  let claimsJustSatisfied = false;
  let photoURL = ''; // the current blob: URL, revoked when replaced

  function say(msg) {
    $('status').textContent = msg;
  }

  function showError(msg) {
    const el = $('error');
    el.textContent = msg || '';
    el.hidden = !msg;
  }

  // describe turns any error into one readable line.
  function describe(err) {
    if (err && err.errorCode) { // msal's AuthError and its subclasses
      const text = (err.errorMessage || '').split('\n')[0];
      return `${err.errorCode}${text ? `: ${text}` : ''}`;
    }
    return (err && err.message) || String(err);
  }

  // APIError is a non-2xx answer of the API, with its JSON error body.
  class APIError extends Error {}

  async function apiError(resp, what) {
    let body = {};
    try {
      body = await resp.json();
    } catch {
      // not JSON: the status says enough
    }
    const detail = body.error_description || body.error || resp.statusText || 'no details';
    const ref = body.request_id ? ` (request ${body.request_id})` : '';
    return new APIError(`${what} failed: HTTP ${resp.status}: ${detail}${ref}`);
  }

  function setState(state) {
    document.body.dataset.state = state;
    $('signed-out').hidden = state !== 'signed-out';
    $('signed-in').hidden = state !== 'signed-in';
    $('who').hidden = state !== 'signed-in';
  }

  // ---- The API's 401 claims challenge ----

  // claimsFromChallenge returns the claims request (a JSON string) of a
  // WWW-Authenticate: Bearer error="insufficient_claims", claims="<base64>"
  // challenge, or '' for any other answer. The value is standard base64 of
  // the JSON (Microsoft Entra's CAE and step-up challenges).
  function claimsFromChallenge(header) {
    if (!header || !/^\s*Bearer\s/i.test(header)) return '';
    const params = {};
    const re = /([A-Za-z_][\w-]*)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,"]+))/g;
    for (const m of header.matchAll(re)) {
      const key = m[1].toLowerCase();
      if (!(key in params)) params[key] = m[2] !== undefined ? m[2].replace(/\\(.)/g, '$1') : m[3];
    }
    if (params.error !== 'insufficient_claims' || !params.claims) return '';
    try {
      const bin = atob(params.claims.replace(/-/g, '+').replace(/_/g, '/'));
      const json = new TextDecoder('utf-8', { fatal: true }).decode(Uint8Array.from(bin, (c) => c.charCodeAt(0)));
      const parsed = JSON.parse(json);
      return parsed && typeof parsed === 'object' ? json : '';
    } catch {
      return '';
    }
  }

  // ---- Tokens ----

  // needsInteraction: only the user can fix this (sign in again, consent).
  // With the iframe fallback off, a refused refresh token (invalid_grant)
  // and a missing or expired one land here too.
  function needsInteraction(err) {
    return err instanceof msal.InteractionRequiredAuthError ||
      ['invalid_grant', 'no_tokens_found', 'refresh_token_expired', 'token_refresh_required'].includes(err && err.errorCode);
  }

  // redirectForToken leaves the page for the authority; `retry` is done
  // again when the browser comes back (see main). extra: {claims}.
  async function redirectForToken(retry, extra) {
    sessionStorage.setItem(PENDING_KEY, JSON.stringify({ ...retry, claims: Boolean(extra.claims) }));
    say(extra.claims ? 'The API asks for a fresh sign-in; redirecting…' : 'Your sign-in expired; redirecting…');
    await pca.acquireTokenRedirect({ scopes: cfg.apiScopes, account: pca.getActiveAccount(), ...extra });
  }

  // accessToken for the API, from the cache or the refresh token; null
  // when the page is redirecting instead.
  async function accessToken(retry) {
    const account = pca.getActiveAccount();
    if (!account) {
      setState('signed-out');
      return null;
    }
    try {
      const r = await pca.acquireTokenSilent({
        scopes: cfg.apiScopes,
        account,
        cacheLookupPolicy: msal.CacheLookupPolicy.AccessTokenAndRefreshToken,
      });
      return r.accessToken;
    } catch (err) {
      if (needsInteraction(err)) {
        // A refused refresh token may name the claims to ask for.
        await redirectForToken(retry, err.claims ? { claims: err.claims } : {});
        return null;
      }
      throw err;
    }
  }

  // callAPI GETs apiBase+path with the bearer token. It answers the
  // Response, or null when the page is redirecting for a token (a claims
  // challenge included).
  async function callAPI(path, retry) {
    const token = await accessToken(retry);
    if (!token) return null;
    const resp = await fetch(cfg.apiBase + path, {
      headers: { Authorization: `Bearer ${token}` },
      cache: 'no-store',
    });
    if (resp.status === 401) {
      const claims = claimsFromChallenge(resp.headers.get('WWW-Authenticate'));
      if (claims) {
        // Read the answer to its end before leaving the page: the browser
        // would otherwise abort the request mid-body.
        await resp.text().catch(() => '');
        if (claimsJustSatisfied) {
          throw new APIError('The API asked again for the claims the last sign-in provided; sign out and sign in again.');
        }
        await redirectForToken(retry, { claims });
        return null;
      }
    }
    if (resp.ok) claimsJustSatisfied = false;
    return resp;
  }

  // ---- Profile ----

  function initials(name) {
    return (name || '').split(/\s+/).filter(Boolean).slice(0, 2).map((w) => w[0].toUpperCase()).join('');
  }

  function showPhoto(url, name) {
    const img = $('profile-photo');
    const ini = $('profile-initials');
    if (photoURL && photoURL !== url) URL.revokeObjectURL(photoURL);
    photoURL = url;
    if (url) {
      img.src = url;
      img.alt = `Photo of ${name}`;
      img.hidden = false;
      ini.hidden = true;
    } else {
      img.removeAttribute('src');
      img.hidden = true;
      ini.textContent = initials(name);
      ini.hidden = !ini.textContent;
    }
  }

  async function loadPhoto(name) {
    const resp = await callAPI('/me/photo', { action: 'profile' });
    if (!resp) return false;
    const type = (resp.headers.get('Content-Type') || '').split(';')[0].trim().toLowerCase();
    if (resp.status === 404) {
      showPhoto('', name); // no photo: initials
      return true;
    }
    if (!resp.ok) throw await apiError(resp, 'Loading your photo');
    if (!['image/jpeg', 'image/png', 'image/gif'].includes(type)) {
      showPhoto('', name);
      return true;
    }
    showPhoto(URL.createObjectURL(await resp.blob()), name);
    return true;
  }

  async function loadProfile() {
    const section = $('profile');
    section.setAttribute('aria-busy', 'true');
    say('Loading your profile…');
    try {
      const resp = await callAPI('/me', { action: 'profile' });
      if (!resp) return;
      if (!resp.ok) throw await apiError(resp, 'Loading your profile');
      const me = await resp.json();
      $('profile-name').textContent = me.displayName || '';
      $('profile-upn').textContent = me.userPrincipalName || '';
      $('profile-mail').textContent = me.mail || '—';
      $('profile-job').textContent = me.jobTitle || '—';
      $('profile-department').textContent = me.department || '—';
      $('profile-office').textContent = me.officeLocation || '—';
      $('account-name').textContent = me.displayName || me.userPrincipalName || '';
      if (!(await loadPhoto(me.displayName))) return;
      section.dataset.loads = String(Number(section.dataset.loads || 0) + 1);
      showError('');
      say('Profile loaded.');
    } finally {
      section.removeAttribute('aria-busy');
    }
  }

  // ---- Search ----

  async function search(text) {
    const list = $('search-results');
    const summary = $('search-summary');
    say(`Searching for “${text}”…`);
    const resp = await callAPI(`/users?search=${encodeURIComponent(text)}`, { action: 'search', text });
    if (!resp) return;
    if (!resp.ok) throw await apiError(resp, 'Searching');
    const body = await resp.json();
    const users = Array.isArray(body.value) ? body.value : [];
    list.replaceChildren(...users.map((u) => {
      const li = document.createElement('li');
      const name = document.createElement('strong');
      name.textContent = u.displayName || u.userPrincipalName || u.id;
      li.append(name);
      const details = [u.userPrincipalName, u.jobTitle, u.department].filter(Boolean).join(' · ');
      if (details) {
        const small = document.createElement('small');
        small.textContent = details;
        li.append(' ', small);
      }
      return li;
    }));
    summary.textContent = users.length === 1 ? `1 person matches “${text}”.` : `${users.length} people match “${text}”.`;
    showError('');
    say('Search done.');
  }

  // ---- Wiring ----

  // guard runs an action, showing its failure in the alert region.
  function guard(action) {
    return async (ev) => {
      if (ev) ev.preventDefault();
      try {
        await action(ev);
      } catch (err) {
        say('Something went wrong.');
        showError(describe(err));
      }
    };
  }

  function signedOut() {
    setState('signed-out');
    say('You are signed out.');
    $('signin').disabled = false;
  }

  async function main() {
    if (typeof msal === 'undefined') throw new Error('msal-browser did not load');
    const resp = await fetch('config.json', { cache: 'no-store' });
    if (!resp.ok) throw new Error(`config.json: HTTP ${resp.status}`);
    cfg = await resp.json();

    pca = new msal.PublicClientApplication({
      auth: {
        clientId: cfg.clientId,
        authority: cfg.authority,
        // Not a Microsoft host: trust it as configured, with no instance
        // discovery call to login.microsoftonline.com.
        knownAuthorities: cfg.knownAuthorities,
        redirectUri: cfg.redirectUri,
        postLogoutRedirectUri: cfg.postLogoutRedirectUri,
      },
      // Per tab, gone when the tab closes; never localStorage (#storage).
      cache: { cacheLocation: msal.BrowserCacheLocation.SessionStorage },
      system: {
        loggerOptions: {
          logLevel: msal.LogLevel.Warning,
          piiLoggingEnabled: false,
          loggerCallback: (level, message, containsPii) => {
            if (!containsPii) console.warn(`msal: ${message}`);
          },
        },
      },
    });
    await pca.initialize();

    $('signin').addEventListener('click', guard(async () => {
      $('signin').disabled = true;
      say('Redirecting to sign in…');
      await pca.loginRedirect({ scopes: cfg.apiScopes });
    }));
    $('signout').addEventListener('click', guard(async () => {
      $('signout').disabled = true;
      say('Signing out…');
      await pca.logoutRedirect({
        account: pca.getActiveAccount(),
        // Entra returns here when it is one of the SPA's redirect URIs and
        // the user has a session with the SPA: msal-browser's request, as is.
        postLogoutRedirectUri: cfg.postLogoutRedirectUri,
      });
    }));
    $('refresh').addEventListener('click', guard(loadProfile));
    $('search-form').addEventListener('submit', guard(async () => {
      const text = $('search-input').value.trim();
      if (text) await search(text);
    }));

    let result = null;
    try {
      result = await pca.handleRedirectPromise();
    } catch (err) {
      sessionStorage.removeItem(PENDING_KEY);
      showError(`Sign-in failed: ${describe(err)}`);
    }
    if (result && result.account) pca.setActiveAccount(result.account);
    if (!pca.getActiveAccount()) {
      const accounts = pca.getAllAccounts();
      if (accounts.length) pca.setActiveAccount(accounts[0]);
    }
    const account = pca.getActiveAccount();
    if (!account) {
      sessionStorage.removeItem(PENDING_KEY);
      signedOut();
      return;
    }

    setState('signed-in');
    $('account-name').textContent = account.name || account.username;
    let pending = null;
    try {
      pending = JSON.parse(sessionStorage.getItem(PENDING_KEY) || 'null');
    } catch {
      // ignore a damaged entry
    }
    sessionStorage.removeItem(PENDING_KEY);
    claimsJustSatisfied = Boolean(result && pending && pending.claims);

    await guard(loadProfile)();
    if (pending && pending.action === 'search' && typeof pending.text === 'string' && pending.text) {
      $('search-input').value = pending.text;
      await guard(() => search(pending.text))();
    }
  }

  guard(main)();
})();
