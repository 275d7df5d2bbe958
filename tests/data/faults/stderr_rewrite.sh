#!/bin/sh
# A canary for the stderr check of misframed-client stories: allocsim-server with every
# "Unknown message type: 7" line on its stderr rewritten to type 9, so the server's stderr no
# longer matches the model's.
exec 3>&1
"$ALLOCSIM_BIN/allocsim-server" "$@" 2>&1 1>&3 3>&- | sed -u -e 's/Unknown message type: 7/Unknown message type: 9/' >&2
