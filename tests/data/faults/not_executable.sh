#!/bin/sh
# Committed without the executable bit on purpose: allocsim must say the server command cannot
# be executed (tests/test_server_faults.c).
exec "$ALLOCSIM_BIN/allocsim-server" "$@"
