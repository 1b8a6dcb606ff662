#!/usr/bin/env bash
# Runs every test of the project on a fresh machine: formatting and lints,
# the Rust tests, the Node client tests against the release binary
# (socket.io-client v4 and v2), then the web chat in headless Chromium.
# Installs what it needs (npm packages; Debian's chromium if missing).
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n=== %s\n' "$*"; }

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy"
cargo clippy --all-targets -- -D warnings

step "redis-server (for the Redis state tests)"
if ! command -v redis-server >/dev/null 2>&1; then
    apt-get update -qq && apt-get install -y -qq redis-server
fi
redis-server --version

step "cargo test"
cargo test --all-targets

step "cargo build --release"
cargo build --release --bins --examples

step "client tests (node)"
if ! command -v node >/dev/null 2>&1; then
    apt-get update -qq && apt-get install -y -qq nodejs npm
fi
bin="$PWD/target/release/chat-service"
(
    cd client-tests
    npm ci --no-audit --no-fund
    CHAT_SERVICE_BIN="$bin" npm test
)

step "browser test (web chat in headless Chromium)"
if [ ! -x "${CHROMIUM_PATH:-/usr/bin/chromium}" ]; then
    sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update -qq
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver
fi
cd client-tests/browser
npm ci --no-audit --no-fund
CHAT_SERVICE_BIN="$bin" npm test
