# The logs encoder, status detection, offset tracker and batcher (the batcher against a real
# Forwarder and the fake intake).
add_executable(outpost-logs-batcher-tests
  ${CMAKE_CURRENT_LIST_DIR}/logs_encoder_test.cpp
  ${CMAKE_CURRENT_LIST_DIR}/status_test.cpp
  ${CMAKE_CURRENT_LIST_DIR}/offset_tracker_test.cpp
  ${CMAKE_CURRENT_LIST_DIR}/batcher_test.cpp
  ${CMAKE_CURRENT_LIST_DIR}/message_queue_test.cpp
)
target_link_libraries(outpost-logs-batcher-tests PRIVATE outpost_logs_batcher outpost_fakeintake
  outpost_test_support GTest::gtest_main)
gtest_discover_tests(outpost-logs-batcher-tests DISCOVERY_TIMEOUT 60)
