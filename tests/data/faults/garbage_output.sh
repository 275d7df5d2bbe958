#!/bin/sh
# A server that prints garbage instead of its reports: binary bytes and broken UTF-8 on stdout,
# while a quiet reference server answers the protocol (so fences work but no dump completes).
printf 'garbage \001\002\033[31m\377\376 not a report\n\200\201\202 tail without newline' 
exec "$ALLOCSIM_BIN/allocsim-server" --quiet "$@"
