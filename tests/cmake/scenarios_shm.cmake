# The scenario library in the SHM transport (docs/shm-transport.md): every scenario, with every
# mesh forced to layouts v1-K, v2b and v4, runs with real stand-in processes writing region
# files in a private directory; each check point is compared with the writer model byte for
# byte and the rendering with the golden scenarios/NAME.shm-LAYOUT.golden. The `both` tests
# (every layout too) run the socket transport against allocsim-server at the same time, with the same
# stand-in processes (their pids in the frames and in the region slots).
file(GLOB SHM_SCENARIOS CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/scenarios/*.scn)
foreach(scn ${SHM_SCENARIOS})
  get_filename_component(name ${scn} NAME_WE)
  foreach(layout v1-K v2b v4)
    add_test(NAME shm_${name}_${layout}
             COMMAND ${ALLOCSIM_BIN}/allocsim run ${scn} --transport shm --shm-layout ${layout} -q)
    add_test(NAME shm_both_${name}_${layout}
             COMMAND ${ALLOCSIM_BIN}/allocsim run ${scn} --transport both --shm-layout ${layout} -q)
    set_tests_properties(shm_${name}_${layout} shm_both_${name}_${layout} PROPERTIES TIMEOUT 120)
  endforeach()
endforeach()
# The story library (scenarios/stories/) in both transports and every layout: no region goldens,
# but every check point is still compared with the writer model byte for byte.
file(GLOB SHM_LIBRARY_STORIES CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/scenarios/stories/*.scn)
foreach(scn ${SHM_LIBRARY_STORIES})
  get_filename_component(name ${scn} NAME_WE)
  foreach(layout v1-K v2b v4)
    foreach(transport shm both)
      add_test(NAME shm_${transport}_story_${name}_${layout}
               COMMAND ${ALLOCSIM_BIN}/allocsim run ${scn} --transport ${transport} --shm-layout ${layout} --no-golden -q)
      set_tests_properties(shm_${transport}_story_${name}_${layout} PROPERTIES TIMEOUT 120)
    endforeach()
  endforeach()
endforeach()
# The dry run prints the model's regions; the socket transport's dry run stays byte-identical.
add_test(NAME shm_dry_seed
         COMMAND ${ALLOCSIM_BIN}/allocsim run ${CMAKE_SOURCE_DIR}/scenarios/t3k_llama_trace.scn --dry-run --transport shm --quiet)
set_tests_properties(shm_dry_seed PROPERTIES
  PASS_REGULAR_EXPRESSION "== dump 1 \\(line 48\\): expected SHM regions\n-- tt_device_[0-9]+_memory \\(device 4\\)\n  layout v4, 8576 bytes, version 4, init_state READY\n  num_active_processes 1, reference_count 1\n  board_serial 0, asic_id [0-9]+, device_id 4\n  totals: dram=[0-9]+ l1=0 l1_small=0 trace=12503040 cb=0")
# Bad input: a region directory that cannot be created is exit 3 with the cause.
add_test(NAME shm_dir_unusable
         COMMAND ${CMAKE_COMMAND} -E env ${ALLOCSIM_BIN}/allocsim run ${CMAKE_SOURCE_DIR}/scenarios/decode.scn --transport shm --shm-dir /proc/allocsim-no-such-dir)
set_tests_properties(shm_dir_unusable PROPERTIES WILL_FAIL FALSE PASS_REGULAR_EXPRESSION "cannot create the region directory")
# A reader under the harness (--reader): the SHM shim shows it the private directory as
# /dev/shm (glob + open + mmap, and shm_open); the machine's /dev/shm is never read.
add_test(NAME shm_reader_python
         COMMAND ${ALLOCSIM_BIN}/allocsim run ${CMAKE_SOURCE_DIR}/scenarios/t3k_llama_trace.scn --transport shm
                 --reader "python3 ${CMAKE_SOURCE_DIR}/tests/data/shm_reader_demo.py")
set_tests_properties(shm_reader_python PROPERTIES
  ENVIRONMENT "ALLOCSIM_SHIM=${CMAKE_BINARY_DIR}/lib/liballocsim_shim.so"
  PASS_REGULAR_EXPRESSION "--- dump 1 \\(line 48\\): reader output ---\nregions: 8\ntt_device_[0-9]+_memory size=8576 version=4 active=1 refs=1 dram=4276465664 l1=0 l1_small=0 trace=12503040 cb=0\n.*shm_open tt_device_[0-9]+_memory: 8576 bytes\n--- dump 2 \\(line 60\\): reader output ---\nregions: 8\ntt_device_[0-9]+_memory size=8576 version=4 active=0 refs=0 dram=0 l1=0 l1_small=0 trace=0 cb=0")
# `expect shm` stories (tests/data/shm/): crash, exit without close and two processes sharing
# chips, per layout, with the region values worked out by hand from shm-tracking.md; each
# runs live (real stand-ins) and dry (the model's regions). fail_expect.scn must fail and
# name the region, the field, the expected and the found value.
file(GLOB SHM_STORIES CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/tests/data/shm/*.scn)
foreach(scn ${SHM_STORIES})
  get_filename_component(name ${scn} NAME_WE)
  if(name STREQUAL "fail_expect")
    continue()
  endif()
  add_test(NAME shm_story_${name} COMMAND ${ALLOCSIM_BIN}/allocsim run ${scn} --transport shm --no-golden -q)
  add_test(NAME shm_story_${name}_dry COMMAND ${ALLOCSIM_BIN}/allocsim run ${scn} --dry-run --transport shm --quiet)
  # Both transports at once: one stand-in per process, its pid in the frames and in the slots
  # (a crash story holds on the server side only if the server saw that very pid die).
  add_test(NAME shm_story_${name}_both COMMAND ${ALLOCSIM_BIN}/allocsim run ${scn} --transport both --no-golden -q)
  set_tests_properties(shm_story_${name} shm_story_${name}_dry shm_story_${name}_both PROPERTIES TIMEOUT 60)
endforeach()
add_test(NAME shm_story_fail_expect_report
         COMMAND sh -c "'${ALLOCSIM_BIN}/allocsim' run '${CMAKE_SOURCE_DIR}/tests/data/shm/fail_expect.scn' --transport shm --no-golden; echo \"exit $?\"")
set_tests_properties(shm_story_fail_expect_report PROPERTIES
  PASS_REGULAR_EXPRESSION "line 9: expect shm total DRAM on all: none\n    region tt_device_[0-9]+_memory \\(device 0\\): totals.dram: expected 0, found 1048576\n.*processes\\[0\\].dram \\(p\\): expected 2097152, found 1048576\n.*init_state: expected IN_PROGRESS, found READY\nFAILED [^\n]*: 6 checks, 3 failed\n.*exit 1")
add_test(NAME shm_story_fail_expect_dry
         COMMAND sh -c "'${ALLOCSIM_BIN}/allocsim' run '${CMAKE_SOURCE_DIR}/tests/data/shm/fail_expect.scn' --dry-run --transport shm --quiet; echo \"exit $?\"")
set_tests_properties(shm_story_fail_expect_dry PROPERTIES
  PASS_REGULAR_EXPRESSION "expect line 9: FAILED: expect shm total DRAM on all: none\n  region tt_device_[0-9]+_memory \\(device 0\\): totals.dram: expected 0, found 1048576\n.*expect line 12: ok: expect shm refcount on all: 1\n.*expectations 1 held, 3 failed\n.*exit 1")
# The seed story's SHM expectations (no TRACE bytes on any chip after close) in both transports
# of the dry run, and the socket transport's dry run of it stays as it was (the expectations
# are not evaluated there).
add_test(NAME shm_seed_expect_dry
         COMMAND ${ALLOCSIM_BIN}/allocsim run ${CMAKE_SOURCE_DIR}/scenarios/t3k_llama_trace.scn --dry-run --transport shm --quiet)
set_tests_properties(shm_seed_expect_dry PROPERTIES
  PASS_REGULAR_EXPRESSION "expect line 55: ok: expect shm total TRACE on all: 12503040\n.*expect line 67: ok: expect shm total TRACE on all: none\n.*expectations 16 held, 0 failed")
add_test(NAME shm_seed_socket_dry_ignores_shm
         COMMAND ${ALLOCSIM_BIN}/allocsim run ${CMAKE_SOURCE_DIR}/scenarios/t3k_llama_trace.scn --dry-run --quiet)
set_tests_properties(shm_seed_socket_dry_ignores_shm PROPERTIES
  PASS_REGULAR_EXPRESSION "expectations 9 held, 0 failed" FAIL_REGULAR_EXPRESSION "expect shm")
# A harness killed mid-run leaves its private directory (with an `owner` file); the next run
# removes it (dead owner) and keeps directories with a live owner or none; no run without
# --shm-live touches /dev/shm/tt_device_*, --shm-live with --shm-dir is refused.
add_test(NAME shm_stale_dirs
         COMMAND sh ${CMAKE_SOURCE_DIR}/tests/shm_stale.sh ${ALLOCSIM_BIN}/allocsim ${CMAKE_SOURCE_DIR}/tests/data/shm/crash_v4.scn)
set_tests_properties(shm_stale_dirs PROPERTIES TIMEOUT 60 PASS_REGULAR_EXPRESSION "^ok: killed run left")
# A failing --transport both run ends with a command line that reproduces it: both transports,
# the layout and the socket side's options, plus the seed and revision.
add_test(NAME shm_both_repro_line
         COMMAND sh -c "'${ALLOCSIM_BIN}/allocsim' run '${CMAKE_SOURCE_DIR}/tests/data/shm/fail_expect.scn' --transport both --shm-layout v4 --no-golden; echo \"exit $?\"")
set_tests_properties(shm_both_repro_line PROPERTIES TIMEOUT 60
  PASS_REGULAR_EXPRESSION "reproduce: allocsim run [^\n]*fail_expect.scn --transport both --shm-layout v4 --no-golden --seed 0 --protocol v72\n(.*\n)*exit 1\n$")
