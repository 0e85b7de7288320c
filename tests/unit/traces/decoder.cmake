add_executable(outpost-traces-decoder-tests ${CMAKE_CURRENT_LIST_DIR}/decoder_test.cpp)
target_link_libraries(outpost-traces-decoder-tests PRIVATE outpost_traces_decode GTest::gtest_main)
gtest_discover_tests(outpost-traces-decoder-tests DISCOVERY_TIMEOUT 60)
