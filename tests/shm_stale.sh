#!/bin/sh
# The SHM transport's private directories (docs/shm-transport.md, Isolation):
#  1. a run that is killed mid-run (SIGKILL: no cleanup) leaves /BASE/allocsim-XXXXXX with an
#     `owner` file naming its pid;
#  2. the next run removes every such directory whose owner is dead, and leaves alone one
#     whose owner is alive and one without an owner file;
#  3. no run without --shm-live creates anything under /dev/shm/tt_device_* (the machine's
#     regions are compared before and after), --shm-live with --shm-dir is refused (exit 2)
#     and the help says what --shm-live touches.
# usage: shm_stale.sh ALLOCSIM SCENARIO
set -u
A=$1 SCN=$2
fail() { echo "FAIL: $*"; exit 1; }
BASE=$(mktemp -d /dev/shm/allocsim-test-stale.XXXXXX 2>/dev/null || mktemp -d)
trap 'rm -rf "$BASE"' EXIT
export ALLOCSIM_SHM_BASE=$BASE
before=$(ls -d /dev/shm/tt_device_* 2>/dev/null | sort)

# 1. the reader kills its parent, the harness, at the first check point
"$A" run "$SCN" --transport shm --no-golden -q --reader 'kill -9 $PPID' >/dev/null 2>&1
set -- "$BASE"/allocsim-*
[ $# -eq 1 ] && [ -d "$1" ] || fail "expected one directory left by the killed run, found: $*"
killed=$1
[ -f "$killed/owner" ] || fail "expected $killed/owner"
ls "$killed" | grep -q '^tt_device_.*_memory$' || fail "expected region files in $killed"
owner=$(cat "$killed/owner")
sleep 0.2
kill -0 "$owner" 2>/dev/null && fail "the killed harness (pid $owner) is still alive"

# 2. a live owner and no owner at all are kept; a dead owner is removed
mkdir "$BASE/allocsim-LIVE01" "$BASE/allocsim-NOWNER"
echo $$ >"$BASE/allocsim-LIVE01/owner"
: >"$BASE/allocsim-LIVE01/tt_device_1_memory"
: >"$BASE/allocsim-NOWNER/tt_device_1_memory"
"$A" run "$SCN" --transport shm --no-golden -q >/dev/null || fail "second run failed"
[ -e "$killed" ] && fail "expected $killed (owner $owner dead) removed, found it"
[ -f "$BASE/allocsim-LIVE01/tt_device_1_memory" ] || fail "a directory with a live owner was touched"
[ -f "$BASE/allocsim-NOWNER/tt_device_1_memory" ] || fail "a directory without an owner file was touched"
left=$(ls -d "$BASE"/allocsim-* | wc -l)
[ "$left" -eq 2 ] || fail "expected the second run to remove its own directory, found $left directories"

# 3. the machine's /dev/shm/tt_device_* are untouched; --shm-live is opt-in and explained
after=$(ls -d /dev/shm/tt_device_* 2>/dev/null | sort)
[ "$before" = "$after" ] || fail "/dev/shm/tt_device_* changed during runs without --shm-live"
"$A" run "$SCN" --transport shm --shm-live --shm-dir "$BASE/x" >/dev/null 2>&1
[ $? -eq 2 ] || fail "--shm-live with --shm-dir: expected exit 2"
[ -e "$BASE/x" ] && fail "--shm-live with --shm-dir created $BASE/x"
"$A" run "$SCN" --transport shm --help | grep -q -- "--shm-live .*/dev/shm.*tt_device_" || fail "help does not explain --shm-live"
after=$(ls -d /dev/shm/tt_device_* 2>/dev/null | sort)
[ "$before" = "$after" ] || fail "/dev/shm/tt_device_* changed"
echo "ok: killed run left $killed (owner $owner), the next run removed it and kept the live and unowned ones"
