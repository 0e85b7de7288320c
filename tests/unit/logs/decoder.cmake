add_executable(outpost-logs-decoder-tests
  ${CMAKE_CURRENT_LIST_DIR}/line_decoder_test.cpp
  ${CMAKE_CURRENT_LIST_DIR}/processing_rules_test.cpp
  ${CMAKE_CURRENT_LIST_DIR}/multi_line_test.cpp
  ${CMAKE_CURRENT_LIST_DIR}/source_config_test.cpp)
target_link_libraries(outpost-logs-decoder-tests PRIVATE outpost_logs_config outpost_test_support
  PkgConfig::FMT GTest::gtest_main)
gtest_discover_tests(outpost-logs-decoder-tests DISCOVERY_TIMEOUT 60)
