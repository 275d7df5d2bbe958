# The enhanced server's dialect (tracking-stories.md §3): allocsim-server --dialect enhanced
# prints no dump request/completion lines, so these pass only if the harness finds where its
# dumps end ("Total remaining buffers", or the perfect line plus any DOUBLE-FREED report).
# The first test names the dialect; the second leaves it to detection from the start-up line.
# Scenarios whose dumps depend on the poc's keep-the-first-size rule (a duplicate ALLOC with
# another size: decode, program_cache, t3k_llama_trace, two_processes) and non-v72 ones
# (galaxy_decode) are left out until the simulator models the dialect.
set(_dialect_scns close out_of_memory p150_decode process_crash trace_capture)
set(_dialect_paths)
foreach(s ${_dialect_scns})
  list(APPEND _dialect_paths ${CMAKE_SOURCE_DIR}/scenarios/${s}.scn)
endforeach()
add_test(NAME live_dialect_enhanced
         COMMAND ${ALLOCSIM_BIN}/allocsim check ${_dialect_paths} --dialect enhanced -q)
add_test(NAME live_dialect_detected
         COMMAND ${ALLOCSIM_BIN}/allocsim check ${_dialect_paths} -q
                 --server "${ALLOCSIM_BIN}/allocsim-server --dialect enhanced")
set_tests_properties(live_dialect_enhanced live_dialect_detected PROPERTIES TIMEOUT 300)
