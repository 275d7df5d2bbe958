#!/usr/bin/env bash
# check_layering: keeps the folder layout of docs/architecture.md true, from the sources.
#
# Every `#include "x.h"` in a source folder must name a header of the same folder or of a folder
# below it in the flow (sim → harness → server / fuzz / import / plots → cli), and no source file
# may grow past MAX_LINES. Prints one line per violation (file:line: what, and what is allowed)
# and exits 1 if there is any, 0 otherwise.
#
#   tests/check_layering.sh [ROOT]      check the tree at ROOT (default: the checkout)
#   tests/check_layering.sh --self-test a canary: builds a tree with one upward include and one
#                                       over-long file in a temporary directory and fails unless
#                                       both are reported
set -uo pipefail

MAX_LINES=1200
folders=(sim harness server fuzz import plots shm cli)
declare -A allowed=(
  [sim]=""
  [harness]="sim"
  [server]="sim harness"
  [fuzz]="sim harness"
  [import]="sim harness"
  [plots]="sim harness"
  [shm]="sim harness"
  [cli]="sim harness fuzz import plots shm"
)

check_tree() {
  local root=$1 bad=0 f line hdr owner n
  declare -A home=()
  for d in "${folders[@]}"; do
    [ -d "$root/$d" ] || continue
    for h in "$root/$d"/*.h; do
      [ -e "$h" ] || continue
      hdr=$(basename "$h")
      if [ -n "${home[$hdr]:-}" ]; then
        echo "$d/$hdr: header name also used in ${home[$hdr]}/ (names must be unique across folders)"
        bad=1
      fi
      home[$hdr]=$d
    done
  done
  for d in "${folders[@]}"; do
    [ -d "$root/$d" ] || continue
    for f in "$root/$d"/*.c "$root/$d"/*.h; do
      [ -e "$f" ] || continue
      n=$(wc -l <"$f")
      if [ "$n" -gt "$MAX_LINES" ]; then
        echo "$d/$(basename "$f"): $n lines, more than $MAX_LINES (split it where a reader wants a name)"
        bad=1
      fi
      while IFS=: read -r line hdr; do
        owner=${home[$hdr]:-}
        if [ -z "$owner" ]; then
          echo "$d/$(basename "$f"):$line: includes \"$hdr\", which is in no source folder"
          bad=1
        elif [ "$owner" != "$d" ] && [[ " ${allowed[$d]} " != *" $owner "* ]]; then
          echo "$d/$(basename "$f"):$line: includes \"$hdr\" from $owner/; $d/ may include only from: ${allowed[$d]:-nothing else}"
          bad=1
        fi
      done < <(grep -n '^[[:space:]]*#[[:space:]]*include[[:space:]]*"' "$f" |
               sed 's/^\([0-9]*\):[^"]*"\([^"]*\)".*/\1:\2/')
    done
  done
  return $bad
}

if [ "${1:-}" = "--self-test" ]; then
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  mkdir -p "$tmp/sim" "$tmp/harness"
  printf '#include "runner.h"\nint x;\n' >"$tmp/sim/bad.c"
  printf 'int y;\n' >"$tmp/harness/runner.h"
  printf '#include "bad.h"\n' >"$tmp/harness/ok.c"
  printf 'int z;\n' >"$tmp/sim/bad.h"
  for _ in $(seq 1 $((MAX_LINES + 1))); do echo ';'; done >"$tmp/harness/long.c"
  out=$(check_tree "$tmp") && { echo "self-test: violations not detected"; exit 1; }
  grep -q '^sim/bad.c:1: includes "runner.h" from harness/' <<<"$out" || { echo "self-test: upward include not reported:"; echo "$out"; exit 1; }
  grep -q '^harness/long.c: 1201 lines' <<<"$out" || { echo "self-test: long file not reported:"; echo "$out"; exit 1; }
  grep -q 'ok.c' <<<"$out" && { echo "self-test: a downward include was reported:"; echo "$out"; exit 1; }
  echo "self-test: ok"
  exit 0
fi

root=${1:-$(cd "$(dirname "$0")/.." && pwd)}
if check_tree "$root"; then
  echo "layering: ok (${folders[*]})"
else
  exit 1
fi
