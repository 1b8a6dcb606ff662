#!/usr/bin/env bash
# Makes the advisory database snapshot that scripts/audit.sh reads, from a
# git clone of the RustSec advisory database (rustsec/advisory-db): its
# advisories (crates/, rust/) and a SNAPSHOT file naming the commit.
#
#   bash scripts/advisory-db.sh CLONE OUT
#
# CLONE: the clone's work tree or git directory (a bare one works: the
# newest commit of HEAD is taken). OUT: a folder, or a file ending in
# .tar.gz (about 0.5 MB). CI reads it from ../shared/advisory-db or
# ../shared/advisory-db.tar.gz beside the repository (README.md,
# "Security advisories"); it is not committed to this repository.
set -euo pipefail
[ $# -eq 2 ] || { sed -n '2,12p' "$0" >&2; exit 2; }
clone=$1 out=$2
if [ -d "$clone/.git" ]; then
    gitdir=$clone/.git
else
    gitdir=$clone
fi
git() { command git --git-dir="$gitdir" "$@"; }
commit=$(git rev-parse HEAD)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
git archive "$commit" crates rust | tar x -C "$work"
{
    echo "rustsec/advisory-db $commit"
    git log -1 --format='commit date %cI' "$commit"
    echo "$(find "$work/crates" "$work/rust" -name '*.md' | wc -l) advisories"
} > "$work/SNAPSHOT"
if [[ $out == *.tar.gz ]]; then
    tar czf "$out" -C "$work" SNAPSHOT crates rust
else
    mkdir -p "$out"
    cp -R "$work/." "$out/"
fi
cat "$work/SNAPSHOT"
