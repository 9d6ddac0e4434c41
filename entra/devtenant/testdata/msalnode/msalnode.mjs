// Runs @azure/msal-node against the dev tenant for TestMSALNode
// (entra/devtenant/msalnode_test.go). The test starts the tenant, writes its
// CA to a file named by NODE_EXTRA_CA_CERTS, and talks to this script in
// JSON lines:
//
//   stdin  line 1   the scenario (below)
//   stdout          {"authorize": url}            auth code flow only: open url
//   stdin           {"code": ..., "state": ...}   what the tenant sent back
//   stdout          {"steps": [...], "requests": [...]}   then exit 0
//
// Scenario: {"flow": "authcode" | "clientcredentials", "authority",
// "clientId", "clientSecret" or "certificate": {"thumbprintSha256",
// "privateKeyFile"}, "scopes", and "redirectUri", "nonce" (authcode) or
// "calls" (clientcredentials)}.
//
// A step is one msal-node call: its result (tokens included: the test
// decodes them) or its error, and the HTTP requests it made. A failed call
// is a result, not a crash: the test judges it. Exit 1 means the script
// itself failed (bad input, stdin closed early); the reason is on stderr.
//
// Requests are recorded by wrapping fetch, which msal-node's own HttpClient
// calls, so msal-node sends exactly what it sends to Entra. Secrets (client
// secret, code, verifier, tokens, the assertion) are recorded by length
// only; a client assertion's header and claims are recorded decoded. Any
// request to a host other than the authority's (login.microsoftonline.com
// for instance discovery, say) is refused and recorded as refused.
import { ConfidentialClientApplication, CryptoProvider, LogLevel } from '@azure/msal-node';
import fs from 'node:fs';
import readline from 'node:readline';

const lines = readline.createInterface({ input: process.stdin, crlfDelay: Infinity })[Symbol.asyncIterator]();

async function receive(what) {
  const { value, done } = await lines.next();
  if (done) throw new Error(`stdin closed before ${what}`);
  return JSON.parse(value);
}

function send(msg) {
  process.stdout.write(JSON.stringify(msg) + '\n');
}

const secretParams = new Set([
  'client_secret', 'client_assertion', 'code', 'code_verifier', 'refresh_token',
  'assertion', 'password', 'access_token', 'id_token',
]);

const requests = [];
let tenantHost = '';

function decodeJWTPart(jwt, i) {
  try {
    return JSON.parse(Buffer.from(jwt.split('.')[i], 'base64url').toString('utf8'));
  } catch {
    return null;
  }
}

const realFetch = globalThis.fetch;
globalThis.fetch = async (input, init = {}) => {
  const url = new URL(typeof input === 'string' || input instanceof URL ? input : input.url);
  const rec = {
    method: init.method || 'GET',
    host: url.host,
    path: url.pathname,
    query: [...url.searchParams.keys()],
    headers: {},
    params: [],
  };
  for (const [name, value] of new Headers(init.headers || {})) {
    rec.headers[name] = /^(authorization|cookie)$/i.test(name) ? `<${value.length} chars>` : value;
  }
  if (typeof init.body === 'string' && init.body !== '') {
    for (const [name, value] of new URLSearchParams(init.body)) {
      rec.params.push({ name, value: secretParams.has(name) ? `<${value.length} chars>` : value });
      if (name === 'client_assertion') {
        rec.assertion = { header: decodeJWTPart(value, 0), claims: decodeJWTPart(value, 1) };
      }
    }
  }
  requests.push(rec);
  if (url.host !== tenantHost) {
    rec.refused = true;
    throw new TypeError(`msalnode.mjs: refused a request to ${url.origin}: only the dev tenant (${tenantHost}) may be called`);
  }
  const res = await realFetch(input, init);
  rec.status = res.status;
  if (!res.ok) {
    try {
      const body = await res.clone().json();
      rec.error = { error: body.error, error_codes: body.error_codes, suberror: body.suberror };
    } catch {
      // not JSON: the status says enough
    }
  }
  return res;
};

// step runs one msal-node call and records its outcome and its requests.
async function step(steps, name, call) {
  const first = requests.length;
  const out = { name };
  try {
    const r = await call();
    Object.assign(out, {
      ok: true,
      accessToken: r.accessToken,
      idToken: r.idToken,
      scopes: r.scopes,
      fromCache: r.fromCache,
      tokenType: r.tokenType,
      account: r.account && {
        homeAccountId: r.account.homeAccountId,
        localAccountId: r.account.localAccountId,
        tenantId: r.account.tenantId,
        username: r.account.username,
      },
    });
    out.result = r;
  } catch (e) {
    Object.assign(out, {
      ok: false,
      error: { name: e.name, errorCode: e.errorCode, subError: e.subError, message: e.errorMessage || e.message },
    });
  }
  out.requests = requests.slice(first);
  steps.push(out);
  return out;
}

function newApp(scenario, credential) {
  return new ConfidentialClientApplication({
    auth: {
      clientId: scenario.clientId,
      authority: scenario.authority,
      // A known authority's cloud discovery metadata is made from its host:
      // no instance discovery request to login.microsoftonline.com.
      knownAuthorities: [tenantHost],
      ...credential,
    },
    system: {
      loggerOptions: {
        logLevel: LogLevel.Info,
        piiLoggingEnabled: false,
        loggerCallback: (level, message) => process.stderr.write(message + '\n'),
      },
    },
  });
}

async function authCode(scenario) {
  const app = newApp(scenario, { clientSecret: scenario.clientSecret });
  const crypto = new CryptoProvider();
  const pkce = await crypto.generatePkceCodes();
  const state = crypto.createNewGuid();
  const { scopes, redirectUri, nonce } = scenario;
  const url = await app.getAuthCodeUrl({
    scopes, redirectUri, state, nonce,
    codeChallenge: pkce.challenge, codeChallengeMethod: 'S256',
  });
  send({ authorize: url });
  const response = await receive('the authorization response');

  const steps = [];
  const byCode = await step(steps, 'acquireTokenByCode', () =>
    app.acquireTokenByCode(
      { code: response.code, scopes, redirectUri, codeVerifier: pkce.verifier, nonce, state },
      { code: response.code, state: response.state },
    ));
  if (!byCode.ok) return steps;
  const account = byCode.result.account;
  await step(steps, 'acquireTokenSilent forceRefresh', () =>
    app.acquireTokenSilent({ account, scopes, forceRefresh: true }));
  await step(steps, 'acquireTokenSilent', () => app.acquireTokenSilent({ account, scopes }));
  return steps;
}

async function clientCredentials(scenario) {
  const cert = scenario.certificate;
  const app = newApp(scenario, {
    clientCertificate: {
      thumbprintSha256: cert.thumbprintSha256,
      privateKey: fs.readFileSync(cert.privateKeyFile, 'utf8'),
    },
  });
  const steps = [];
  for (let i = 1; i <= (scenario.calls || 1); i++) {
    await step(steps, `acquireTokenByClientCredential #${i}`, () =>
      app.acquireTokenByClientCredential({ scopes: scenario.scopes, skipCache: true }));
  }
  return steps;
}

try {
  const scenario = await receive('the scenario');
  tenantHost = new URL(scenario.authority).host;
  const flows = { authcode: authCode, clientcredentials: clientCredentials };
  if (!flows[scenario.flow]) throw new Error(`unknown flow ${JSON.stringify(scenario.flow)}`);
  const steps = await flows[scenario.flow](scenario);
  for (const s of steps) delete s.result;
  send({ steps, requests });
  process.exit(0);
} catch (e) {
  process.stderr.write(`msalnode.mjs: ${e.stack || e}\n`);
  process.exit(1);
}
