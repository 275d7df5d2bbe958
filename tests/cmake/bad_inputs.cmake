# Resource limits (docs/hardening.md): scenarios that ask for 10^8 buffers, 2x10^8 frames or
# 10^9 statements stop at allocsim's default limits with a one-line error and exit status 2,
# within a bounded amount of memory: `ulimit -v 2 GiB` in the normal build, the sanitizer's own
# RSS limit in the ASan/UBSan build (ASan reserves terabytes of address space, so ulimit -v
# cannot apply there). The malformed inputs of tests/bad/ are run by tests/test_bad_inputs.c.
set(ALLOCSIM_LIMITS_DIR ${CMAKE_SOURCE_DIR}/tests/bad/limits)
if(ALLOCSIM_SANITIZE OR ALLOCSIM_FUZZ)
  set(ALLOCSIM_MEMORY_CAP "export ASAN_OPTIONS=\"$ASAN_OPTIONS:hard_rss_limit_mb=2048\"")
else()
  set(ALLOCSIM_MEMORY_CAP "ulimit -v 2097152")
endif()

# Exit status 2 and exactly the expected line on stderr, nothing else there. The test prints
# stderr then "exit N" so that one regular expression judges both.
function(allocsim_limit_test name expected_line)
  add_test(NAME ${name}
           COMMAND sh -c "${ALLOCSIM_MEMORY_CAP} && cd \"$0\" && b=$1 && shift && e=\"$TMPDIR_ALLOCSIM/${name}.err\" && \"$b\" \"$@\" 2>\"$e\" >/dev/null; s=$?; cat \"$e\"; echo \"exit $s\""
                   ${CMAKE_SOURCE_DIR} ${ALLOCSIM_BIN}/allocsim ${ARGN})
  set_tests_properties(${name} PROPERTIES TIMEOUT 300
    ENVIRONMENT "TMPDIR_ALLOCSIM=${CMAKE_BINARY_DIR}"
    PASS_REGULAR_EXPRESSION "^${expected_line}\nexit 2\n$")
endfunction()

allocsim_limit_test(limits_frames_default
  "tests/bad/limits/churn_1e8_frames\\.scn:8:5: stopped after 1000000 frames: the run's frame limit \\(--max-frames\\)"
  run tests/bad/limits/churn_1e8_frames.scn --dry-run --quiet)
allocsim_limit_test(limits_frames_default_live
  "tests/bad/limits/churn_1e8_frames\\.scn:8:5: stopped after 1000000 frames: the run's frame limit \\(--max-frames\\)"
  run tests/bad/limits/churn_1e8_frames.scn)
allocsim_limit_test(limits_statements_default
  "tests/bad/limits/decode_1e9_statements\\.scn:7:5: stopped after 1000000 statements: the run's statement limit \\(--max-statements\\)"
  run tests/bad/limits/decode_1e9_statements.scn --dry-run --quiet)
allocsim_limit_test(limits_memory_budget
  "tests/bad/limits/churn_1e8_frames\\.scn:[0-9]+:5: out of memory \\(host\\): allocsim's memory limit of 64 MiB was reached \\(--max-memory\\)"
  run tests/bad/limits/churn_1e8_frames.scn --dry-run --max-memory 64MiB) # not --quiet: that keeps no steps

# 10^8 buffers: 390 625 allocations of distinct buffers on each of 256 devices (a 10 MB
# scenario written at test time), with the frame limit off so that the buffer limit acts.
add_test(NAME limits_buffers_default
         COMMAND sh -c "${ALLOCSIM_MEMORY_CAP} && f=\"$TMPDIR_ALLOCSIM/limits_1e8_buffers.scn\" && awk 'BEGIN { print \"protocol v144-256\"; print \"mesh galaxy devices=256\"; print \"process wide\"; print \"  open\"; for (i = 0; i < 390625; i++) printf \"  alloc b%d DRAM 4KiB\\n\", i }' > \"$f\" && \"$0\" run \"$f\" --dry-run --quiet --max-frames 0 2>&1 >/dev/null; echo \"exit $?\""
                 ${ALLOCSIM_BIN}/allocsim)
set_tests_properties(limits_buffers_default PROPERTIES TIMEOUT 300
  ENVIRONMENT "TMPDIR_ALLOCSIM=${CMAKE_BINARY_DIR}"
  PASS_REGULAR_EXPRESSION "^[^\n]*limits_1e8_buffers\\.scn:3911:3: stopped at 1000001 buffers held by the server: the run's buffer limit \\(--max-buffers\\)\nexit 2\n$")

# A decode of 2^64-1 steps is virtual time only: it completes at once, exit status 0.
add_test(NAME limits_decode_count_is_free
         COMMAND sh -c "${ALLOCSIM_MEMORY_CAP} && \"$0\" run \"$1\" --dry-run --quiet"
                 ${ALLOCSIM_BIN}/allocsim ${ALLOCSIM_LIMITS_DIR}/decode_huge_count.scn)
set_tests_properties(limits_decode_count_is_free PROPERTIES TIMEOUT 60
  PASS_REGULAR_EXPRESSION "expectations 1 held, 0 failed")
