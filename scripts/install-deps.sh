#!/usr/bin/env bash
# Installs what mcp-audit needs on a Debian machine, skipping what is there.
#   scripts/install-deps.sh build   compilers, CMake, Ninja, the -dev libraries, help2man (the man page)
#   scripts/install-deps.sh test    the above, GoogleTest, Node.js and the npm test clients
#   scripts/install-deps.sh bench   the test set and wrk (the HTTP benchmark)
#   scripts/install-deps.sh fuzz    the build set and clang 16 with libFuzzer
#   scripts/install-deps.sh soak    the build set and gnuplot (the soak's chart)
set -euo pipefail
cd "$(dirname "$0")/.."

what=${1:-build}
packages=(cmake ninja-build g++ pkg-config ccache help2man dpkg-dev
  nlohmann-json3-dev libvalijson-dev libssl-dev libsqlite3-dev libspdlog-dev libcli11-dev libtomlplusplus-dev
  libboost-dev libcurl4-openssl-dev libjwt-dev libpq-dev libmariadb-dev zlib1g-dev libsimdjson-dev
  libarchive-dev)
[[ $what == fuzz ]] && packages+=(clang-16 libclang-rt-16-dev)
[[ $what == soak || $what == test ]] && packages+=(gnuplot-nox)  # the soak's chart
if [[ $what == test || $what == bench ]]; then
  # The servers the sink tests start on loopback (tests/support/db-server.sh, rsyslog-server.sh,
  # tls-proxy.sh).
  packages+=(libgtest-dev libgmock-dev postgresql mariadb-server rsyslog rsyslog-gnutls openssl stunnel4)
  # The package test installs the .deb and calls the service it starts.
  packages+=(curl)
  # An independent check of the checkpoints' notes and the Merkle proofs: Go's
  # sumdb/note and sumdb/tlog (tests/support/tlog_check).
  packages+=(golang-go golang-golang-x-mod-dev)
  [[ $what == bench ]] && packages+=(wrk curl)
  # The browser the console's tests drive (puppeteer-core, tests/e2e).
  packages+=(chromium)
  packages+=(clang-16 libclang-rt-16-dev)
  # Any Node.js with npm will do to fetch the test clients (they run on the
  # Node 22 that npm brings); Debian's packages when there is none.
  command -v npm >/dev/null 2>&1 || packages+=(nodejs npm)
fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "install-deps: installing ${missing[*]}" >&2
  sudo=()
  [[ $(id -u) == 0 ]] || sudo=(sudo)
  export DEBIAN_FRONTEND=noninteractive
  "${sudo[@]}" apt-get update -qq
  "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
fi

if [[ $what == test || $what == bench ]]; then
  # The MCP clients the end-to-end tests drive the server with (pinned in
  # tests/e2e/package-lock.json), and Node 22 from the npm registry.
  e2e=tests/e2e
  if [[ ! -f $e2e/node_modules/.installed || $e2e/package-lock.json -nt $e2e/node_modules/.installed ]]; then
    echo "install-deps: npm ci in $e2e" >&2
    (cd "$e2e" && npm ci --no-audit --no-fund --loglevel=error >&2)
    touch "$e2e/node_modules/.installed"
  fi
fi
