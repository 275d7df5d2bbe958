# The story library (scenarios/stories/, one scenario per tracking story, buggy and fixed
# client streams): each one dry, in its own revision, twice (determinism). The live runs are
# part of live_library_* (allocsim check recurses into scenarios/stories/; a story is skipped
# with its reason in the revisions of the other client era).
file(GLOB ALLOCSIM_STORIES CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/scenarios/stories/*.scn)
foreach(scn ${ALLOCSIM_STORIES})
  get_filename_component(scn_name ${scn} NAME_WE)
  add_test(NAME dry_story_${scn_name} COMMAND ${ALLOCSIM_BIN}/allocsim run ${scn} --dry-run --quiet --check-determinism)
  set_tests_properties(dry_story_${scn_name} PROPERTIES TIMEOUT 60)
endforeach()
# allocsim check recurses into folders in a stable order (a folder's files sorted, then its
# subfolders sorted; hidden ones skipped): a small tree of one story in four places.
set(ALLOCSIM_CHECK_TREE ${CMAKE_BINARY_DIR}/check_tree)
foreach(rel z.scn b/a.scn b/c/d.scn .hidden/e.scn)
  configure_file(${CMAKE_SOURCE_DIR}/scenarios/stories/s3_mesh_free_device0_fix.scn ${ALLOCSIM_CHECK_TREE}/${rel} COPYONLY)
endforeach()
add_test(NAME check_recurses COMMAND ${ALLOCSIM_BIN}/allocsim check ${ALLOCSIM_CHECK_TREE} --no-golden)
set_tests_properties(check_recurses PROPERTIES TIMEOUT 120
  PASS_REGULAR_EXPRESSION "check_tree/z.scn: [^\n]*\n(.*\n)*== [^\n]*check_tree/b/a.scn: [^\n]*\n(.*\n)*== [^\n]*check_tree/b/c/d.scn: [^\n]*\n(.*\n)*3 passed, 0 failed"
  FAIL_REGULAR_EXPRESSION "e[.]scn")
