# The logs batcher (JSON array batches to the forwarder) and the offset tracker behind the
# registry. status.cpp (detectStatus) is compiled into outpost_encoders, because the logs encoder
# calls it; this library gets it through that link.
add_library(outpost_logs_batcher
  ${CMAKE_CURRENT_LIST_DIR}/offset_tracker.cpp
  ${CMAKE_CURRENT_LIST_DIR}/batcher.cpp
)
target_include_directories(outpost_logs_batcher PUBLIC ${PROJECT_SOURCE_DIR})
target_link_libraries(outpost_logs_batcher PUBLIC outpost_core outpost_forwarder outpost_encoders)
