find_path(MSGPACK_CXX_INCLUDE_DIR msgpack.hpp REQUIRED)
add_executable(outpost-traces-stats-tests ${CMAKE_CURRENT_LIST_DIR}/stats_test.cpp)
target_include_directories(outpost-traces-stats-tests PRIVATE ${MSGPACK_CXX_INCLUDE_DIR})
target_compile_definitions(outpost-traces-stats-tests PRIVATE MSGPACK_NO_BOOST)
target_link_libraries(outpost-traces-stats-tests PRIVATE outpost_traces_stats outpost_proto
  GTest::gtest_main)
gtest_discover_tests(outpost-traces-stats-tests DISCOVERY_TIMEOUT 60)
