#!/usr/bin/env bash
# Refreshes web/vendor/ from npm: the official browser bundle of
# socket.io-client 4.x (dist/socket.io.min.js, MIT, license header kept)
# and its LICENSE. The bundle is committed, so the server and its web chat
# work offline with no build step; run this only to move to a newer 4.x.
#
#   bash web/update-vendor.sh            # latest 4.x
#   bash web/update-vendor.sh 4.8.1      # a given version
set -euo pipefail
version="${1:-4}"
vendor="$(cd "$(dirname "$0")" && pwd)/vendor"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

tarball="$(cd "$tmp" && npm pack --silent "socket.io-client@$version")"
tar -xzf "$tmp/$tarball" -C "$tmp" package/dist/socket.io.min.js package/LICENSE package/package.json
mkdir -p "$vendor"
# The source map is not shipped: drop the comment that points to it.
sed '/^\/\/# sourceMappingURL=/d' "$tmp/package/dist/socket.io.min.js" > "$vendor/socket.io.min.js"
cp "$tmp/package/LICENSE" "$vendor/socket.io-client.LICENSE"
node -e 'process.stdout.write("socket.io-client " + require(process.argv[1]).version + "\n")' \
    "$tmp/package/package.json" > "$vendor/VERSION"
echo "web/vendor: $(cat "$vendor/VERSION")"
