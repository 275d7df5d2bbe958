#!/bin/sh
# A server that fails at start-up the way allocation_server_poc does when it cannot bind its
# socket (protocol.md §3.1): one line on stderr, exit status 1.
echo "Error: Failed to bind socket" >&2
exit 1
