#!/usr/bin/env bash
# Installs what the test suite needs and is missing: Debian packages (redis-server,
# chromium, postgresql) and npm packages where a package-lock.json exists. Idempotent
# and quiet: a second run on the same machine installs nothing and prints nothing.
set -euo pipefail
cd "$(dirname "$0")/.."

sudo=""
[ "$(id -u)" = 0 ] || sudo="sudo"

need=()
command -v redis-server >/dev/null 2>&1 || need+=(redis-server)
command -v chromium >/dev/null 2>&1 || need+=(chromium)
# Debian keeps initdb and postgres in /usr/lib/postgresql/<major>/bin, off PATH
# (internal/testpg looks there first, then on PATH).
compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null || command -v initdb >/dev/null 2>&1 ||
  need+=(postgresql)
if [ ${#need[@]} -gt 0 ]; then
  echo "deps: installing ${need[*]} (apt-get)" >&2
  $sudo apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

# npm ci where a lock file exists and node_modules is missing or older than it.
while IFS= read -r lock; do
  dir=$(dirname "$lock")
  stamp="$dir/node_modules/.package-lock.json"
  if [ ! -f "$stamp" ] || [ "$lock" -nt "$stamp" ]; then
    echo "deps: npm ci in $dir" >&2
    (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
  fi
done < <(find . -name package-lock.json -not -path '*/node_modules/*' -not -path './.git/*')
