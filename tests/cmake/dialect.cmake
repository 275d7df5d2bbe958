# The enhanced server's dialect (tracking-stories.md §3): allocsim-server --dialect enhanced
# prints no dump request/completion lines, so these pass only if the harness finds where its
# dumps end ("Total remaining buffers", or the perfect line plus any DOUBLE-FREED report), and
# the simulator models the dialect (a duplicate ALLOC with another size replaces the stored
# size; `expect poc|enhanced` lines; NAME.enhanced.golden). The whole library: scenarios of
# another protocol than v72 are reported as skipped. The first test names the dialect; the
# second leaves it to detection from the start-up line.
add_test(NAME live_dialect_enhanced
         COMMAND ${ALLOCSIM_BIN}/allocsim check ${CMAKE_SOURCE_DIR}/scenarios --dialect enhanced -q)
add_test(NAME live_dialect_detected
         COMMAND ${ALLOCSIM_BIN}/allocsim check ${CMAKE_SOURCE_DIR}/scenarios -q
                 --server "${ALLOCSIM_BIN}/allocsim-server --dialect enhanced")
set_tests_properties(live_dialect_enhanced live_dialect_detected PROPERTIES TIMEOUT 300)

# A v144-256 scenario: check skips it in this dialect, run refuses it (exit 2).
add_test(NAME live_dialect_skips_other_protocols
         COMMAND ${ALLOCSIM_BIN}/allocsim check ${CMAKE_SOURCE_DIR}/scenarios/galaxy_decode.scn --dialect enhanced)
set_tests_properties(live_dialect_skips_other_protocols PROPERTIES TIMEOUT 60
  PASS_REGULAR_EXPRESSION "skipped: protocol v144-256, the enhanced server speaks only v72")
add_test(NAME live_dialect_run_refuses_other_protocols
         COMMAND sh -c "\"$0\" run \"$1\" --dialect enhanced; test $? -eq 2"
                 ${ALLOCSIM_BIN}/allocsim ${CMAKE_SOURCE_DIR}/scenarios/galaxy_decode.scn)
set_tests_properties(live_dialect_run_refuses_other_protocols PROPERTIES TIMEOUT 60)

# A failure against a detected enhanced server reproduces with --dialect enhanced.
add_test(NAME live_dialect_repro_names_the_dialect
         COMMAND ${ALLOCSIM_BIN}/allocsim run ${CMAKE_SOURCE_DIR}/scenarios/trace_capture.scn
                 --server "${ALLOCSIM_BIN}/allocsim-server --dialect enhanced --fault keep-trace")
set_tests_properties(live_dialect_repro_names_the_dialect PROPERTIES TIMEOUT 60
  PASS_REGULAR_EXPRESSION "FAILED[^\n]*\nreproduce: [^\n]* --dialect enhanced")
