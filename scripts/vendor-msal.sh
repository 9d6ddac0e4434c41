#!/usr/bin/env bash
# Vendors msal-browser for the single-page app: installs exactly what
# webapp/spa/npm/package-lock.json pins (npm ci, integrity-checked) and copies
# the package's own browser bundle, byte for byte, to
# webapp/spa/msal-browser.min.js, which the web app embeds and serves at
# /spa/msal-browser.min.js. No build step: the file is the one Microsoft
# publishes on npm (lib/msal-browser.min.js, a UMD bundle that defines
# globalThis.msal; it needs no eval, so it runs under the SPA's CSP).
# Idempotent: a second run changes nothing. TestSPAVendored
# (webapp/spa_vendor_test.go) fails when the copy and the lock disagree.
#
# Upgrading msal-browser:
#   1. edit the exact version in webapp/spa/npm/package.json ("5.x.y", no range);
#   2. (cd webapp/spa/npm && npm install --package-lock-only --no-audit --no-fund)
#   3. scripts/vendor-msal.sh
#   4. go test -run TestSPAVendored ./webapp/ and the browser test
#      (go test -run TestBrowserSPA ./webapp/);
#   5. commit the three files: webapp/spa/npm/package.json,
#      webapp/spa/npm/package-lock.json, webapp/spa/msal-browser.min.js.
set -euo pipefail
cd "$(dirname "$0")/.."

dir=webapp/spa/npm
bundle=node_modules/@azure/msal-browser/lib/msal-browser.min.js
dest=webapp/spa/msal-browser.min.js

# Always a clean install from the lock (npm ci removes node_modules first and
# checks every package against its integrity hash): the copy never comes
# from a stale or edited node_modules.
(cd "$dir" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)

got=$(cd "$dir" && node -p 'require("./node_modules/@azure/msal-browser/package.json").version')
want=$(cd "$dir" && node -p 'require("./package-lock.json").packages["node_modules/@azure/msal-browser"].version')
if [ "$got" != "$want" ]; then
  echo "vendor-msal: node_modules has msal-browser $got, the lock pins $want" >&2
  exit 1
fi

if cmp -s "$dir/$bundle" "$dest"; then
  echo "vendor-msal: $dest is msal-browser $got already"
else
  cp "$dir/$bundle" "$dest"
  echo "vendor-msal: $dest <- msal-browser $got ($bundle)"
fi
sha256sum "$dest"
