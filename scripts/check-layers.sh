#!/usr/bin/env bash
# The layering check: a module of src/ may name (`crate::x`, `$crate::x`, or `x` inside a
# grouped `use crate::{…}`) only modules of a strictly lower rank. The ranks are read
# from the `// rank N` comments above the `mod` lines of src/lib.rs (the map itself),
# so the map there cannot drift from what this checks, and the layer table of
# docs/architecture.md must list the same modules and ranks. Comments (line, block,
# doc) and string literals are ignored.
#
# Usage: scripts/check-layers.sh [SRC_DIR]   (default: src)
# Exit status 1 with one line per violation: FILE:LINE: MODULE (rank A) imports
# OTHER (rank B).
set -euo pipefail
cd "$(dirname "$0")/.."
src=${1:-src}

# module -> rank, from src/lib.rs: a `// rank N` line sets the rank of the `mod` lines
# that follow it.
ranks=$(awk '
    /^\/\/ *rank [0-9]+/ { match($0, /rank [0-9]+/); r = substr($0, RSTART + 5, RLENGTH - 5); next }
    /^[[:space:]]*(pub(\([a-z]+\))? )?mod [a-z_][a-z0-9_]*;/ {
        if (r == "") { print "error: src/lib.rs: a mod line before any // rank line: " $0 > "/dev/stderr"; exit 2 }
        sub(/^[[:space:]]*(pub(\([a-z]+\))? )?mod /, ""); sub(/;.*/, ""); print $0, r
    }' "$src/lib.rs" | sort -u)
if [ -z "$ranks" ]; then
    echo "check-layers: no '// rank N' map found above the mod lines of $src/lib.rs"; exit 1
fi

# The same map in docs/architecture.md ("## Layers": `| rank | module(s) | what |`, the
# modules in backticks in the second column) must list the same modules and ranks.
doc=docs/architecture.md
if [ "$src" = src ] && [ -f "$doc" ]; then
    doc_ranks=$(awk '
        /^## Layers/ { on = 1; next }
        /^## / { on = 0 }
        on && /^\| *[0-9]+ *\|/ {
            split($0, col, "|"); r = col[2]; gsub(/ /, "", r); m = col[3]
            while (match(m, /`[a-z_]+`/)) { print substr(m, RSTART + 1, RLENGTH - 2), r; m = substr(m, RSTART + RLENGTH) }
        }' "$doc" | sort -u)
    if [ "$doc_ranks" != "$ranks" ]; then
        echo "check-layers: the layer table in $doc differs from the // rank map in $src/lib.rs:"
        diff <(echo "$ranks") <(echo "$doc_ranks") | sed 's/^</  lib.rs:/; s/^>/  docs:/' | grep -E '^  (lib|docs)' || true
        exit 1
    fi
fi

status=0
while IFS= read -r -d '' file; do
    rel=${file#"$src"/}
    case $rel in
        lib.rs) continue ;;               # the root declares the map
        bin/*) continue ;;                # binaries are crates of their own (`shmlane::`)
        */*) mod=${rel%%/*} ;;
        *) mod=${rel%.rs} ;;
    esac
    RANKS="$ranks" awk -v file="$file" -v mod="$mod" '
    BEGIN {
        n = split(ENVIRON["RANKS"], rows, "\n")
        for (i = 1; i <= n; i++) { split(rows[i], f, " "); rank[f[1]] = f[2] }
        if (!(mod in rank)) {
            printf "%s:1: module %s has no rank: add it under a // rank line in src/lib.rs\n", file, mod
            bad = 1
        }
        inblock = 0; group = 0
    }
    function report(target, line) {
        if (target == "" || target == "self" || target == "super" || target == "crate") return
        if (target == mod) return
        if (!(target in rank)) return          # an item of the crate root (e.g. a re-export)
        if (rank[mod] != "" && rank[target] + 0 >= rank[mod] + 0) {
            printf "%s:%d: %s (rank %d) imports %s (rank %d): a module may import only strictly lower ranks (map: src/lib.rs)\n", \
                file, line, mod, rank[mod], target, rank[target]
            bad = 1
        }
    }
    {
        s = $0
        # Block comments (not nested), then strings, then line comments.
        out = ""
        while (s != "") {
            if (inblock) {
                k = index(s, "*/"); if (k == 0) { s = ""; break }
                s = substr(s, k + 2); inblock = 0; continue
            }
            k = index(s, "/*")
            if (k == 0) { out = out s; s = ""; break }
            out = out substr(s, 1, k - 1); s = substr(s, k + 2); inblock = 1
        }
        s = out
        gsub(/"([^"\\]|\\.)*"/, "\"\"", s)
        sub(/\/\/.*/, "", s)
        # Scan for paths.
        while (s != "") {
            if (group > 0) {
                c = substr(s, 1, 1)
                if (c == "{") { group++; s = substr(s, 2); expect = 0; continue }
                if (c == "}") { group--; s = substr(s, 2); continue }
                if (c == ",") { if (group == 1) expect = 1; s = substr(s, 2); continue }
                if (expect && group == 1 && match(s, /^[A-Za-z_][A-Za-z0-9_]*/)) {
                    report(substr(s, 1, RLENGTH), NR); expect = 0
                    s = substr(s, RLENGTH + 1); continue
                }
                s = substr(s, 2); continue
            }
            if (!match(s, /(^|[^A-Za-z0-9_])\$?crate::/)) break
            s = substr(s, RSTART + RLENGTH)
            if (substr(s, 1, 1) == "{") { group = 1; expect = 1; s = substr(s, 2); continue }
            if (match(s, /^[A-Za-z_][A-Za-z0-9_]*/)) report(substr(s, 1, RLENGTH), NR)
        }
    }
    END { exit bad }' "$file" || status=1
done < <(find "$src" -name '*.rs' -print0 | sort -z)

if [ "$status" -ne 0 ]; then
    echo "check-layers: imports point sideways or upward (see the ranks in src/lib.rs and docs/architecture.md)"
    exit 1
fi
echo "check-layers: ok ($(echo "$ranks" | wc -l) modules, every import points down)"
