# Tests of the offset registry, file identity and path globbing.
add_executable(outpost-logs-files-tests
  ${CMAKE_CURRENT_LIST_DIR}/file_identity_test.cpp
  ${CMAKE_CURRENT_LIST_DIR}/path_glob_test.cpp
  ${CMAKE_CURRENT_LIST_DIR}/registry_test.cpp)
target_link_libraries(outpost-logs-files-tests PRIVATE outpost_logs_files outpost_test_support
  GTest::gtest_main)
gtest_discover_tests(outpost-logs-files-tests DISCOVERY_TIMEOUT 60)
