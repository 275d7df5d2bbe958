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
# Live CB/kernel checks: the DUMP_KERNELS report a server prints is compared with the model's
# field by field except ages, and `expect kernels` / `expect query` are evaluated on the
# server's report and replies. Canary: a server whose report names another kernel id fails
# both the model comparison and the expectation; a server whose ages differ passes.
set(S11_FIX ${CMAKE_SOURCE_DIR}/scenarios/stories/s11_cb_device0_fix.scn)
add_test(NAME live_kernels_canary
         COMMAND ${ALLOCSIM_BIN}/allocsim run ${S11_FIX} --server
                 "sh -c '${ALLOCSIM_BIN}/allocsim-server --protocol v144 | sed -u -e s/Kernel.ID:.0x1000/Kernel\\ ID:\\ 0x1003/'")
set_tests_properties(live_kernels_canary PROPERTIES TIMEOUT 60
  PASS_REGULAR_EXPRESSION "FAIL [^\n]*kernels 1 \\(line 10\\): model \\(ages not compared\\)\n    missing kernel 0x1000 on device 0 \\(128 KB, app\\)\n    extra kernel 0x1003 on device 0 \\(128 KB, app\\)\n(.*\n)*FAIL [^\n]*line 13: expect kernels has 0x1000 size=128KiB owner=app\n    device 0: expected kernel 0x1000 listed, found none")
add_test(NAME live_kernels_ages_ignored
         COMMAND ${ALLOCSIM_BIN}/allocsim run ${S11_FIX} --tap --server
                 "sh -c '${ALLOCSIM_BIN}/allocsim-server --protocol v144 | sed -u -e s/Age:.*/Age:\\ \\ \\ \\ \\ \\ \\ 987654\\ seconds/'")
set_tests_properties(live_kernels_ages_ignored PROPERTIES TIMEOUT 60
  PASS_REGULAR_EXPRESSION "ok [0-9]+ - [^\n]*line 9: expect query: cb=393216, kernel=339968 \\(server's replies\\)\n(.*\n)*ok [0-9]+ - [^\n]*kernels 1 \\(line 10\\): model \\(ages not compared\\)"
  FAIL_REGULAR_EXPRESSION "not ok")
# Canary for the stderr check of a misframed client (S9): a server whose stderr says type 9
# where the model says type 7 must fail that check, naming both lines.
add_test(NAME live_stderr_canary
         COMMAND ${ALLOCSIM_BIN}/allocsim run ${CMAKE_SOURCE_DIR}/scenarios/stories/s9_struct_size_bug.scn --no-golden
                 --server "sh ${CMAKE_SOURCE_DIR}/tests/data/faults/stderr_rewrite.sh --protocol v144")
set_tests_properties(live_stderr_canary PROPERTIES TIMEOUT 60 ENVIRONMENT "ALLOCSIM_BIN=${ALLOCSIM_BIN}"
  PASS_REGULAR_EXPRESSION "FAIL [^\n]*: server stderr matches model \\(2 lines\\)\n    expected, not printed: Unknown message type: 7\n    printed, not expected: Unknown message type: 9\n")
