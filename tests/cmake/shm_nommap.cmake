# A region directory on a filesystem without mmap support is exit 3 with the cause. No such
# filesystem can be mounted here, so tests/nommap_preload.c makes every shared writable file
# mapping fail with ENODEV, as such a filesystem does (built without sanitizers: it is
# preloaded; the sanitizer runtime is told not to insist on coming first).
add_library(nommap_preload SHARED ${CMAKE_SOURCE_DIR}/tests/nommap_preload.c)
target_link_libraries(nommap_preload dl)
if(ALLOCSIM_SANITIZE OR ALLOCSIM_FUZZ)
  target_compile_options(nommap_preload PRIVATE -fno-sanitize=all)
  target_link_options(nommap_preload PRIVATE -fno-sanitize=all)
endif()
add_dependencies(allocsim nommap_preload)
add_test(NAME shm_dir_without_mmap
         COMMAND sh -c "LD_PRELOAD='${CMAKE_BINARY_DIR}/lib/libnommap_preload.so' ASAN_OPTIONS=verify_asan_link_order=0:detect_leaks=0 '${ALLOCSIM_BIN}/allocsim' run '${CMAKE_SOURCE_DIR}/scenarios/decode.scn' --transport shm; echo \"exit $?\"")
set_tests_properties(shm_dir_without_mmap PROPERTIES TIMEOUT 60
  PASS_REGULAR_EXPRESSION "cannot map a region file there: mmap: No such device.*exit 3\n$")
