#!/usr/bin/env bash
# The vendored crates (vendor/README.md) are their crates.io sources with
# the patches of vendor/patches/ applied in order, and nothing else. This
# script checks that, and rebuilds or extends the patches.
#
#   bash scripts/vendor.sh check        # CI: vendor/<crate> == crates.io + patches,
#                                       # and each vendored crate is the one in use
#   bash scripts/vendor.sh sync         # rewrites vendor/<crate> as crates.io + patches
#   bash scripts/vendor.sh record NN-name
#                                       # what vendor/ has beyond the patches becomes
#                                       # vendor/patches/NN-name.diff
#   bash scripts/vendor.sh diff         # the whole crates.io -> vendor/ difference
#
# The crates.io sources are fetched by cargo (a throwaway project pins the
# exact versions, so the checksums of the index are checked) and unpacked
# into a temporary folder: <name>/ for each crate, less what is not copied.
# Patches are `git diff` output with paths relative to that folder
# (a/<name>/src/...), applied with `git apply` (no fuzz, no offsets).
set -euo pipefail
cd "$(dirname "$0")/.."

# name version [paths of the .crate that are not copied]. Cargo's own
# .cargo_vcs_info.json, Cargo.lock and Cargo.toml.orig never are; the
# patch 00-vendoring.diff drops the Cargo.toml targets of what is left out.
crates=(
    "engineioxide-core 0.2.3"
    "engineioxide 0.17.9 benches"
    "socketioxide 0.18.9 benches tests"
    "socketioxide-parser-common 0.17.3 benches"
)

usage() { sed -n '2,12p' "$0" >&2; exit 2; }
mode=${1:-}
case $mode in
    check | sync | diff) [ $# -eq 1 ] || usage ;;
    record) [ $# -eq 2 ] && [[ $2 =~ ^[0-9][0-9]-[a-z0-9-]+$ ]] || usage ;;
    *) usage ;;
esac

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
tree=$work/tree
mkdir -p "$work/fetch/src" "$tree"

# Exact versions from crates.io, through cargo.
echo 'fn main() {}' > "$work/fetch/src/main.rs"
{
    printf '[package]\nname = "vendor-fetch"\nversion = "0.0.0"\nedition = "2021"\n'
    printf '[workspace]\n[dependencies]\n'
    for c in "${crates[@]}"; do
        read -r name version _ <<< "$c"
        printf '%s = "=%s"\n' "$name" "$version"
    done
} > "$work/fetch/Cargo.toml"
(cd "$work/fetch" && { cargo fetch -q --offline 2>/dev/null || cargo fetch -q; })

for c in "${crates[@]}"; do
    read -r name version skip <<< "$c"
    crate=$(ls "${CARGO_HOME:-$HOME/.cargo}"/registry/cache/*/"$name-$version.crate" | head -n 1)
    tar xzf "$crate" -C "$tree"
    mv "$tree/$name-$version" "$tree/$name"
    for path in .cargo_vcs_info.json Cargo.lock Cargo.toml.orig $skip; do
        rm -rf "${tree:?}/$name/$path"
    done
done

git() { command git -C "$tree" -c core.quotepath=off -c core.autocrlf=false "$@"; }
git init -q
git add -A
git -c user.name=vendor -c user.email=vendor@localhost commit -q -m crates.io

names() { for c in "${crates[@]}"; do echo "${c%% *}"; done; }

# vendor/<crate> over the tree, staged: what `git diff --cached` shows.
stage_vendor() {
    for name in $(names); do
        rm -rf "${tree:?}/$name"
        cp -R "vendor/$name" "$tree/$name"
    done
    git add -A
}

if [ "$mode" = diff ]; then
    stage_vendor
    git diff --cached --no-color --no-ext-diff
    exit 0
fi

for patch in vendor/patches/*.diff; do
    git apply --whitespace=nowarn "$PWD/$patch" || { echo "$patch does not apply"; exit 1; }
done

case $mode in
    sync)
        for name in $(names); do
            rm -rf "vendor/${name:?}"
            cp -R "$tree/$name" "vendor/$name"
        done
        echo "vendor/ rewritten from crates.io + vendor/patches/"
        ;;
    record)
        git add -A
        git -c user.name=vendor -c user.email=vendor@localhost commit -q -m patches
        stage_vendor
        out=vendor/patches/$2.diff
        [ ! -e "$out" ] || { echo "$out exists"; exit 1; }
        git diff --cached --no-color --no-ext-diff > "$out"
        if [ -s "$out" ]; then
            echo "$out: $(grep -E '^[-+]' "$out" | grep -cvE '^(\+\+\+|---) ') lines changed"
        else
            rm "$out"
            echo "vendor/ has nothing beyond the patches"
        fi
        ;;
    check)
        status=0
        for name in $(names); do
            if ! diff -r "$tree/$name" "vendor/$name" > "$work/diff"; then
                echo "vendor/$name is not crates.io + vendor/patches/ (bash scripts/vendor.sh record NN-name):"
                head -n 100 "$work/diff"
                status=1
            fi
        done
        [ $status -eq 0 ] && echo "vendor/: crates.io sources + $(ls vendor/patches/*.diff | wc -l) patches, exactly"
        # A [patch.crates-io] entry whose version no longer matches what the
        # dependencies ask for is skipped with a mere warning, and its fixes
        # silently vanish: fail instead.
        for name in $(names); do
            used=$(cargo tree -i "$name" --prefix none -e normal | head -n 1)
            echo "in use: $used"
            [[ $used == *"($PWD/vendor/$name)" ]] || { echo "$name: vendor/$name is not the one in use"; status=1; }
        done
        exit $status
        ;;
esac
