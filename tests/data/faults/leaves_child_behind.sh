#!/bin/sh
# A wrapper that starts the server in the background and exits at once with status 4: the
# process the harness started is gone, the process it left behind (a server started a second
# later, so that the exit is always seen before any connection) is still in the harness's
# process group, and it must not outlive the run.
(sleep 1; exec "$ALLOCSIM_BIN/allocsim-server" "$@") &
exit 4
