#!/bin/sh
# A server that stops answering mid-run: the reference server, frozen with SIGSTOP as soon as
# it has printed its first allocation. The kernel keeps accepting connections and bytes for
# it, so the harness notices only when a fence (a QUERY) gets no reply.
{ sh -c 'echo $$; exec "$0" "$@"' "$ALLOCSIM_BIN/allocsim-server" "$@"; } | {
  read -r pid
  while IFS= read -r line; do
    printf '%s\n' "$line"
    case $line in
      *Allocated*) kill -STOP "$pid"; break ;;
    esac
  done
  exec cat
}
