#!/usr/bin/env bash
# Runs every test of the project on a fresh machine: formatting and lints,
# the Rust tests, then the Node client tests against the release binary
# (socket.io-client v4 and v2). Installs what it needs.
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
cd client-tests
npm ci --no-audit --no-fund
CHAT_SERVICE_BIN="$PWD/../target/release/chat-service" npm test
