# The story library (scenarios/stories/, one scenario per tracking story, buggy and fixed
# client streams): each one dry (its own revision) and the whole folder against
# allocsim-server (each story names the revision its era used).
file(GLOB ALLOCSIM_STORIES ${CMAKE_SOURCE_DIR}/scenarios/stories/*.scn)
foreach(scn ${ALLOCSIM_STORIES})
  get_filename_component(scn_name ${scn} NAME_WE)
  add_test(NAME dry_story_${scn_name} COMMAND ${ALLOCSIM_BIN}/allocsim run ${scn} --dry-run --quiet)
endforeach()
add_test(NAME live_stories COMMAND ${ALLOCSIM_BIN}/allocsim check ${CMAKE_SOURCE_DIR}/scenarios/stories -q -j 2)
set_tests_properties(live_stories PROPERTIES TIMEOUT 600)
