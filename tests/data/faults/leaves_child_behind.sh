#!/bin/sh
# A wrapper that starts the server in the background and exits at once with status 4: the
# process the harness started is gone, the server it left behind is still in the harness's
# process group, and it must not outlive the run.
"$ALLOCSIM_BIN/allocsim-server" "$@" &
exit 4
