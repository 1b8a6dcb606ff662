#!/usr/bin/env bash
# Runs every test of the project on a fresh machine: formatting and lints,
# the Rust tests, the Node client tests against the release binary
# (socket.io-client v4 and v2) with the memory state, again with the SQLite
# state (plus its restart, kill -9 and refused-file tests of
# test/sqlite.test.mjs), again with the Redis state (plus the two-instance
# tests of test/cluster.test.mjs), again on a 3-master Redis Cluster, a
# smoke run of the benchmark, then the web chat in headless Chromium. Also
# checks the vendored crates against crates.io + vendor/patches/ and the
# dependency tree against a RustSec advisory database snapshot, when one is
# there (scripts/audit.sh). Installs what it needs (npm packages;
# redis-server, the sqlite3 command, Debian's chromium if missing;
# cargo-audit).
#
# CLIENT_TEST_MODES (default "memory sqlite redis cluster") picks the client
# test runs: `npm test` with CHAT_SERVICE_STATE=memory, then =sqlite (each
# server on a database file of its own); redis = CHAT_SERVICE_STATE=redis on
# a redis-server started for the run; cluster = the same with
# CHAT_SERVICE_REDIS_CLUSTER=1 on a Redis Cluster started for the run.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/redis.sh

CLIENT_TEST_MODES=${CLIENT_TEST_MODES:-memory sqlite redis cluster}
SECONDS=0

step() { printf '\n=== %s (at %ss)\n' "$*" "$SECONDS"; }

# Every Redis started below is stopped however the script ends.
trap redis_stop_all EXIT
trap 'exit 130' INT TERM

wants() { [[ " $CLIENT_TEST_MODES " == *" $1 "* ]]; }

# client_tests STATE REDIS_URL CLUSTER(0|1): `npm test` in client-tests in
# one mode; the test Redis only reaches it through these variables.
client_tests() {
    local state=$1 url=$2 cluster=$3
    (
        cd client-tests
        unset CHAT_SERVICE_STATE CHAT_SERVICE_REDIS_URL CHAT_SERVICE_REDIS_CLUSTER CHAT_SERVICE_REDIS_PREFIX
        export CHAT_SERVICE_BIN="$bin"
        export CHAT_SERVICE_STATE="$state"
        [ -z "$url" ] || export CHAT_SERVICE_REDIS_URL="$url"
        [ "$cluster" = 0 ] || export CHAT_SERVICE_REDIS_CLUSTER=1
        npm test
    )
}

# cargo-audit, when there is an advisory database to use it with
# (scripts/audit.sh), builds meanwhile: minutes of CPU, once per machine.
mkdir -p target
bash scripts/audit.sh install > target/audit-install.log 2>&1 &
audit_install=$!

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy"
cargo clippy --all-targets -- -D warnings
# The state conformance suite as other crates build it (feature
# `conformance`, outside cfg(test)).
cargo clippy --lib --features conformance -- -D warnings

step "vendored crates: crates.io sources + vendor/patches/, and in use (vendor/README.md)"
bash scripts/vendor.sh check

step "redis-server (for the Redis state tests), sqlite3 (for the SQLite state's file tests)"
if ! command -v redis-server >/dev/null 2>&1 || ! command -v sqlite3 >/dev/null 2>&1; then
    apt-get update -qq && apt-get install -y -qq redis-server sqlite3
fi
redis-server --version
sqlite3 -version

step "cargo test"
cargo test --all-targets
# The vendored crates' own tests (vendor/README.md).
cargo test -p engineioxide -p engineioxide-core -p socketioxide-parser-common \
    --features engineioxide/v3,engineioxide/__test_harness --lib --tests

step "cargo build --release"
cargo build --release --bins --examples

step "security advisories (cargo-audit: Cargo.lock and the vendored crates' releases)"
wait "$audit_install" || { cat target/audit-install.log; exit 1; }
cat target/audit-install.log
bash scripts/audit.sh check

step "client tests (node)"
if ! command -v node >/dev/null 2>&1; then
    apt-get update -qq && apt-get install -y -qq nodejs npm
fi
bin="$PWD/target/release/chat-service"
(cd client-tests && npm ci --no-audit --no-fund)

if wants memory; then
    step "client tests (node): memory state"
    client_tests memory "" 0
fi

if wants sqlite; then
    step "client tests (node): SQLite state (a database file per server) and its restart tests"
    client_tests sqlite "" 0
fi

if wants redis; then
    step "client tests (node): Redis state (a redis-server for the run) and two instances"
    redis_start
    client_tests redis "$REDIS_URL" 0
    redis_stop_all
fi

if wants cluster; then
    step "client tests (node): Redis Cluster state (3 masters started for the run) and two instances"
    redis_cluster_start
    client_tests redis "$REDIS_CLUSTER_URL" 1
    redis_stop_all
fi

step "benchmark smoke run (QUICK=1: every server and scenario, tiny sizes)"
# Keeps the benchmark working (load generator, ceiling, the original from
# npm); its figures are not checked here: see scripts/bench.sh.
QUICK=1 STRICT=1 BUILD=0 RESULTS="$PWD/target/bench-smoke" bash scripts/bench.sh

step "browser test (web chat in headless Chromium)"
if [ ! -x "${CHROMIUM_PATH:-/usr/bin/chromium}" ]; then
    sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update -qq
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver
fi
cd client-tests/browser
npm ci --no-audit --no-fund
CHAT_SERVICE_BIN="$bin" npm test

step "all tests passed"
