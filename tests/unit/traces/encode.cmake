add_executable(outpost-traces-encode-tests ${CMAKE_CURRENT_LIST_DIR}/agent_payload_test.cpp)
target_link_libraries(outpost-traces-encode-tests PRIVATE outpost_traces_encode outpost_proto
  GTest::gtest_main)
gtest_discover_tests(outpost-traces-encode-tests DISCOVERY_TIMEOUT 60)
