# Dry runs of the scenario library (allocsim run --dry-run): every scenarios/*.scn must
# simulate with all its expectations holding (exit 0) and produce the same output twice.
# Plus: the seed story's TRACE lines, a seeded determinism check on another revision, the
# exit status of a bad scenario, and the timeline header (8 phases: load weights, warm-up,
# trace_begin, trace_end, decode, dump, close, dump).
file(GLOB ALLOCSIM_SCENARIOS CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/scenarios/*.scn)
foreach(scn ${ALLOCSIM_SCENARIOS})
  get_filename_component(scn_name ${scn} NAME_WE)
  add_test(NAME dry_${scn_name}
           COMMAND ${ALLOCSIM_BIN}/allocsim run ${scn} --dry-run --quiet --check-determinism)
  set_tests_properties(dry_${scn_name} PROPERTIES TIMEOUT 60)
endforeach()

set(ALLOCSIM_SEED_STORY ${CMAKE_SOURCE_DIR}/scenarios/t3k_llama_trace.scn)
add_test(NAME dry_seed_story_trace_lines
         COMMAND ${ALLOCSIM_BIN}/allocsim run ${ALLOCSIM_SEED_STORY} --dry-run)
set_tests_properties(dry_seed_story_trace_lines PROPERTIES TIMEOUT 60
  PASS_REGULAR_EXPRESSION "ALLOC dev=4 size=12503040 type=TRACE id=1043741824 proc=llama\nALLOC dev=0 size=12503040 type=TRACE id=1043741824 proc=llama")

add_test(NAME dry_determinism
         COMMAND ${ALLOCSIM_BIN}/allocsim run ${CMAKE_SOURCE_DIR}/scenarios/two_processes.scn
                 --dry-run --seed 12345 --protocol v144 --check-determinism)
set_tests_properties(dry_determinism PROPERTIES TIMEOUT 60
  PASS_REGULAR_EXPRESSION "determinism: ok")

add_test(NAME dry_bad_scenario_exits_2
         COMMAND sh -c "printf 'process p\\n  jump\\n' > \"$1\" && \"$0\" run \"$1\" --dry-run; test $? -eq 2"
                 ${ALLOCSIM_BIN}/allocsim ${CMAKE_BINARY_DIR}/dry_bad_scenario.scn)
set_tests_properties(dry_bad_scenario_exits_2 PROPERTIES TIMEOUT 60)

add_test(NAME dry_timeline_file
         COMMAND sh -c "\"$0\" run \"$1\" --dry-run --quiet --timeline \"$2\" >/dev/null && head -3 \"$2\" && grep -c '^#phase' \"$2\""
                 ${ALLOCSIM_BIN}/allocsim ${ALLOCSIM_SEED_STORY} ${CMAKE_BINARY_DIR}/dry_seed_story.timeline.tsv)
set_tests_properties(dry_timeline_file PROPERTIES TIMEOUT 60
  PASS_REGULAR_EXPRESSION "#allocsim-timeline v1\n#title [^\n]*t3k_llama_trace.scn, seed 0, protocol v72\n#time_unit ns\n8\n")
