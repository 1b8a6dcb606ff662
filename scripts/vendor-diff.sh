#!/usr/bin/env bash
# Prints the whole difference between the vendored crates (vendor/) and
# their crates.io sources, `src/` of each: what vendor/patches.diff holds.
#   bash scripts/vendor-diff.sh > vendor/patches.diff
# The crates.io sources are fetched by cargo (a throwaway project pins the
# exact versions) and unpacked into a temporary folder.
set -euo pipefail
cd "$(dirname "$0")/.."
crates=(engineioxide-core:0.2.3 engineioxide:0.17.9 socketioxide:0.18.9)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/fetch/src" "$work/orig"
echo 'fn main() {}' > "$work/fetch/src/main.rs"
{
    printf '[package]\nname = "vendor-diff"\nversion = "0.0.0"\nedition = "2021"\n[dependencies]\n'
    for c in "${crates[@]}"; do printf '%s = "=%s"\n' "${c%%:*}" "${c##*:}"; done
} > "$work/fetch/Cargo.toml"
(cd "$work/fetch" && cargo fetch -q)
for c in "${crates[@]}"; do
    name=${c%%:*} version=${c##*:}
    crate=$(ls "${CARGO_HOME:-$HOME/.cargo}"/registry/cache/*/"$name-$version.crate" | head -n 1)
    tar xzf "$crate" -C "$work/orig"
    diff -ruN "$work/orig/$name-$version/src" "vendor/$name/src" | sed "s#$work/orig/#/#" || true
done
