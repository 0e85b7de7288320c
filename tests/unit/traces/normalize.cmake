add_executable(outpost-traces-normalize-tests ${CMAKE_CURRENT_LIST_DIR}/normalize_test.cpp
  ${CMAKE_CURRENT_LIST_DIR}/obfuscate_test.cpp)
target_link_libraries(outpost-traces-normalize-tests PRIVATE outpost_traces_normalize
  GTest::gtest_main)
gtest_discover_tests(outpost-traces-normalize-tests DISCOVERY_TIMEOUT 60)
