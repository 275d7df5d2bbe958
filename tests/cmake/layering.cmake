# The folder layout of docs/architecture.md, checked from the sources: includes point down the
# flow and no source file is over 1 200 lines. The self-test is its canary.
add_test(NAME layering COMMAND bash ${CMAKE_SOURCE_DIR}/tests/check_layering.sh ${CMAKE_SOURCE_DIR})
add_test(NAME layering_self_test COMMAND bash ${CMAKE_SOURCE_DIR}/tests/check_layering.sh --self-test)
