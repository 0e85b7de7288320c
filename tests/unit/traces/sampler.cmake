add_executable(outpost-traces-sampler-tests ${CMAKE_CURRENT_LIST_DIR}/sampler_test.cpp)
target_link_libraries(outpost-traces-sampler-tests PRIVATE outpost_traces_sampler GTest::gtest_main)
gtest_discover_tests(outpost-traces-sampler-tests DISCOVERY_TIMEOUT 60)
