# fuzz_regress: one CTest test per reproducer kept in tests/fuzz/repro/, replayed with
# `allocsim replay` against the healthy reference server (allocsim-server of the stream's
# revision, started by replay itself). Each must hold (exit 0): the bug the fuzzer found with
# it stays fixed, or the server keeps handling the hostile input the way the ledger says.
# Add a reproducer by copying the fuzzer's OUT/<signature>.allocstream (and its .txt) here
# under a descriptive name; see docs/fuzzing.md.
file(GLOB FUZZ_REPROS CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/tests/fuzz/repro/*.allocstream)
foreach(repro ${FUZZ_REPROS})
  get_filename_component(repro_name ${repro} NAME)
  string(REGEX REPLACE "\\.allocstream$" "" repro_name ${repro_name})
  add_test(NAME fuzz_repro_${repro_name}
           COMMAND ${ALLOCSIM_BIN}/allocsim replay ${repro} --timeout 20s)
  set_tests_properties(fuzz_repro_${repro_name} PROPERTIES
    TIMEOUT 60
    ENVIRONMENT "ALLOCSIM_BIN=${ALLOCSIM_BIN};ALLOCSIM_SOURCE_DIR=${CMAKE_SOURCE_DIR}")
endforeach()
