# The whole scenario library against allocsim-server (started like the real server, through the
# socket shim), once per protocol revision: every dump is checked against the scenario's
# expectations, the ledger's exact report and the golden file.
foreach(rev v72 v112 v112-hex v144 v144-256)
  add_test(NAME live_library_${rev}
           COMMAND ${ALLOCSIM_BIN}/allocsim check ${CMAKE_SOURCE_DIR}/scenarios --protocol ${rev} -q -j 2)
  set_tests_properties(live_library_${rev} PROPERTIES TIMEOUT 600)
endforeach()
