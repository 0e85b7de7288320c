add_executable(outpost-logs-inputs-tests
  ${CMAKE_CURRENT_LIST_DIR}/network_input_test.cpp
  ${CMAKE_CURRENT_LIST_DIR}/journald_input_test.cpp)
target_link_libraries(outpost-logs-inputs-tests PRIVATE outpost_logs_inputs outpost_test_support
  GTest::gtest_main)
gtest_discover_tests(outpost-logs-inputs-tests DISCOVERY_TIMEOUT 60)
