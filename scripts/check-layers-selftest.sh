#!/usr/bin/env bash
# Self-test of scripts/check-layers.sh: each case below adds one line to a copy of src/
# that points upward in a way a line-by-line `crate::x` scan misses (a `super` chain that
# reaches the crate root, spaces or a line break around `::`, an alias of the crate
# root, an item the root re-exports, a `#[path]` into another module); the check must
# fail on every case, and pass on the untouched copy and on paths that stay legal.
#
# Usage: scripts/check-layers-selftest.sh [CHECK]   (default: scripts/check-layers.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
check=${1:-scripts/check-layers.sh}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# FILE (under src/) | line appended | must fail (1) or pass (0)
cases=(
    'wait/mod.rs|use crate::pipe::Pipe;|1'
    'wait/mod.rs|use super::pipe::Pipe;|1'
    'wait/epoch.rs|use super::super::pipe::Pipe;|1'
    'wait/mod.rs|use self::super::pipe;|1'
    'wait/mod.rs|use crate ::pipe::Pipe;|1'
    'wait/mod.rs|use crate::\npipe::Pipe;|1'
    'wait/mod.rs|use crate::{\n    primitive,\n    pipe,\n};|1'
    'wait/mod.rs|use crate as root;|1'
    'wait/mod.rs|use crate::{self as root};|1'
    'wait/mod.rs|fn f(_: crate::CreateError) {}|1'
    'wait/mod.rs|#[path = "../pipe/mod.rs"] mod p;|1'
    'wait/mod.rs|macro_rules! m { () => { $crate :: queue::Queue } }|1'
    'wait/mod.rs|use crate::primitive::futex; fn g(_: crate::WaitMode) {}|0'
    'wait/epoch.rs|use super::eventcount;|0'
    'wait/mod.rs|fn h() { let _ = "crate::pipe"; } // crate::pipe|0'
    'ring/spsc/producer.rs|use super::super::mpmc;|0'
)
fails=0
run() { # NAME EXPECTED
    local got=0
    "$check" "$tmp/src" >"$tmp/out" 2>&1 || got=1
    if [ "$got" != "$2" ]; then
        echo "check-layers-selftest: $1: expected $( [ "$2" = 1 ] && echo failure || echo success ), got:"
        sed 's/^/    /' "$tmp/out"
        fails=1
    fi
}
cp -r src "$tmp/src"
run "untouched src" 0
for c in "${cases[@]}"; do
    IFS='|' read -r file line want <<<"$c"
    rm -rf "$tmp/src"; cp -r src "$tmp/src"
    printf '%b\n' "$line" >>"$tmp/src/$file"
    run "$file += $line" "$want"
done
[ "$fails" = 0 ] && echo "check-layers-selftest: ok (${#cases[@]} cases)"
exit "$fails"
