#!/bin/sh
# Regenerates v112_seed_crash.log: the stdout of a 112-byte server (allocsim-server --protocol
# v112, a private socket) that ran the library's seed story and then process_crash, attached
# to by `allocsim run --socket --server-log`. Usage: sh make_v112_seed_crash.sh BUILD_DIR
set -eu
bin=${1:-build}/bin
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../.." && pwd)
dir=$(mktemp -d /tmp/allocsim-v112.XXXXXX)
"$bin/allocsim-server" --protocol v112 --socket "$dir/s.sock" >"$dir/server.log" 2>"$dir/server.err" &
srv=$!
sleep 0.5
"$bin/allocsim" run "$root/scenarios/t3k_llama_trace.scn" --protocol v112 --socket "$dir/s.sock" --server-log "$dir/server.log" -q
"$bin/allocsim" run "$root/scenarios/process_crash.scn" --protocol v112 --socket "$dir/s.sock" --server-log "$dir/server.log" -q
kill "$srv"
wait "$srv" || true
sed "s|$dir/s.sock|/tmp/allocsim-v112/s.sock|" "$dir/server.log" >"$here/v112_seed_crash.log"
rm -rf "$dir"
