#!/usr/bin/env bash
# The layering check: a module of src/ may name (`crate::x`, `$crate::x`, `x` inside a
# grouped `use crate::{…}`, `super::…::x` where the `super`s reach the crate root, or an
# item the crate root re-exports from `x`) only modules of a strictly lower rank.
# Spaces and line breaks around `::` do not hide a path; an alias of the crate root
# (`use crate as c`, `crate::{self as c}`) and a `#[path]` that takes another module's
# file are refused, since the check could not follow them. The ranks are read
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

# Items the crate root re-exports from a ranked module (`pub use error::{CreateError,
# OpenError};`): `crate::CreateError` names `error` as surely as `crate::error::…` does.
# One "ITEM MODULE" line each.
reexports=$(awk '
    !on && /^[[:space:]]*pub(\([a-z]+\))? use [a-z_][a-z0-9_]*::/ { on = 1; buf = "" }
    on {
        buf = buf " " $0
        if (index(buf, ";") == 0) next
        on = 0; s = buf
        sub(/^[[:space:]]*pub(\([a-z]+\))? use /, "", s); sub(/;.*/, "", s)
        m = s; sub(/::.*/, "", m); rest = substr(s, length(m) + 3)
        gsub(/[{}]/, "", rest)
        n = split(rest, items, ",")
        for (i = 1; i <= n; i++) {
            it = items[i]; gsub(/^[[:space:]]+|[[:space:]]+$/, "", it)
            if (it ~ / as /) sub(/.* as /, "", it); else sub(/.*::/, "", it)
            if (it != "" && it != "self" && it != "*") print it, m
        }
    }' "$src/lib.rs" | sort -u)

status=0
while IFS= read -r -d '' file; do
    rel=${file#"$src"/}
    case $rel in
        lib.rs) continue ;;               # the root declares the map
        bin/*) continue ;;                # binaries are crates of their own (`shmlane::`)
        */*) mod=${rel%%/*} ;;
        *) mod=${rel%.rs} ;;
    esac
    # How many `super`s from this file reach the crate root (by location: a file that
    # `#[path]` puts deeper is judged as if it were here, which only adds reports).
    depth=$(echo "$rel" | awk -F/ '{ print ($NF == "mod.rs") ? NF - 1 : NF }')
    RANKS="$ranks" REEXPORTS="$reexports" awk -v file="$file" -v rel="$rel" -v mod="$mod" -v depth="$depth" '
    BEGIN {
        n = split(ENVIRON["RANKS"], rows, "\n")
        for (i = 1; i <= n; i++) { split(rows[i], f, " "); rank[f[1]] = f[2]; owner[f[1]] = f[1] }
        n = split(ENVIRON["REEXPORTS"], rows, "\n")
        for (i = 1; i <= n; i++) {
            split(rows[i], f, " ")
            if ((f[2] in rank) && !(f[1] in rank)) { rank[f[1]] = rank[f[2]]; owner[f[1]] = f[2] }
        }
        if (!(mod in rank)) {
            printf "%s:1: module %s has no rank: add it under a // rank line in src/lib.rs\n", file, mod
            bad = 1
        }
        inblock = 0; text = ""
    }
    function report(target, line,    m) {
        if (target == "" || target == "self" || target == "super" || target == "crate") return
        if (!(target in rank)) return          # an item of the crate root itself
        m = owner[target]
        if (m == mod) return
        if (rank[mod] != "" && rank[m] + 0 >= rank[mod] + 0) {
            if (m != target) target = target " (re-exported from " m ")"
            printf "%s:%d: %s (rank %d) imports %s (rank %d): a module may import only strictly lower ranks (map: src/lib.rs)\n", \
                file, line, mod, rank[mod], target, rank[m]
            bad = 1
        }
    }
    function complain(what, line) {
        printf "%s:%d: %s: the layering check cannot follow it; name the module by a crate:: path\n", file, line, what
        bad = 1
    }
    function lineat(pos,    pre) { pre = substr(text, 1, pos - 1); return 1 + gsub(/\n/, "\n", pre) }
    # The path that starts at `pos` in `text` names the crate root: check what follows.
    function rootpath(pos, line,    s, group, expect, c) {
        s = substr(text, pos)
        if (match(s, /^[[:space:]]+as[^A-Za-z0-9_]/)) { complain("an alias of the crate root", line); return }
        if (!match(s, /^[[:space:]]*::[[:space:]]*/)) return
        s = substr(s, RLENGTH + 1)
        if (substr(s, 1, 1) != "{") {
            if (match(s, /^[A-Za-z_][A-Za-z0-9_]*/)) report(substr(s, 1, RLENGTH), line)
            return
        }
        # A grouped `use crate::{a, b::c, {d}}`: the first name of each item at depth 1.
        group = 1; expect = 1; s = substr(s, 2)
        while (s != "" && group > 0) {
            c = substr(s, 1, 1)
            if (c == "\n") { line++; s = substr(s, 2); continue }
            if (c == "{") { group++; s = substr(s, 2); continue }
            if (c == "}") { group--; s = substr(s, 2); continue }
            if (c == ",") { if (group == 1) expect = 1; s = substr(s, 2); continue }
            if (expect && group == 1 && match(s, /^self[[:space:]]+as[^A-Za-z0-9_]/)) {
                complain("an alias of the crate root", line); expect = 0; s = substr(s, RLENGTH + 1); continue
            }
            if (expect && group == 1 && match(s, /^[A-Za-z_][A-Za-z0-9_]*/)) {
                report(substr(s, 1, RLENGTH), line); expect = 0
                s = substr(s, RLENGTH + 1); continue
            }
            s = substr(s, 2)
        }
    }
    # A `#[path = "..."]` must stay inside this module'"'"'s own files.
    function checkpath(line, p,    dir, n, parts, i, k, out, top) {
        dir = rel; sub(/[^\/]*$/, "", dir)
        n = split(dir p, parts, "/"); k = 0
        for (i = 1; i <= n; i++) {
            if (parts[i] == "" || parts[i] == ".") continue
            if (parts[i] == "..") { if (k == 0) { k = -1; break }; k--; continue }
            out[++k] = parts[i]
        }
        top = (k < 1) ? "" : out[1]
        if (k == 1) sub(/\.rs$/, "", top)
        if (top != mod) {
            printf "%s:%d: #[path = \"%s\"] takes a file of module %s into module %s: the layering check judges files by where they are\n", \
                file, line, p, (top == "" ? "(outside src)" : top), mod
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
        if (match(s, /#[[:space:]]*\[[[:space:]]*path[[:space:]]*=[[:space:]]*"[^"]*"/)) {
            p = substr(s, RSTART, RLENGTH); sub(/^[^"]*"/, "", p); sub(/"$/, "", p)
            checkpath(NR, p)
        }
        gsub(/"([^"\\]|\\.)*"/, "\"\"", s)
        sub(/\/\/.*/, "", s)
        text = text s "\n"
    }
    END {
        # `crate` / `$crate`, then `::` (spaces and line breaks allowed around it).
        pos = 1
        while (match(substr(text, pos), /(^|[^A-Za-z0-9_])\$?crate[^A-Za-z0-9_]/)) {
            at = pos + RSTART - 1; len = RLENGTH
            k = index(substr(text, at, len), "crate")
            start = at + k - 1
            rootpath(start + 5, lineat(start))
            pos = start + 5
        }
        # `super::…` (after an optional `self::`) as many times as this file is deep:
        # the crate root again.
        pos = 1
        while (match(substr(text, pos), /(^|[^A-Za-z0-9_:])(self[[:space:]]*::[[:space:]]*)?super([[:space:]]*::[[:space:]]*super)*[^A-Za-z0-9_]/)) {
            at = pos + RSTART - 1; len = RLENGTH - 1
            chain = substr(text, at, len)
            supers = gsub(/super/, "super", chain)
            if (supers >= depth + 0) rootpath(at + len, lineat(at + len))
            pos = at + len
        }
        exit bad
    }' "$file" || status=1
done < <(find "$src" -name '*.rs' -print0 | sort -z)

if [ "$status" -ne 0 ]; then
    echo "check-layers: imports point sideways or upward (see the ranks in src/lib.rs and docs/architecture.md)"
    exit 1
fi
echo "check-layers: ok ($(echo "$ranks" | wc -l) modules, every import points down)"
