# The receiver component: HTTP routes, the processing order and the trace writer.
add_library(outpost_traces ${CMAKE_CURRENT_LIST_DIR}/pipeline.cpp
  ${CMAKE_CURRENT_LIST_DIR}/trace_receiver.cpp)
target_link_libraries(outpost_traces PUBLIC outpost_core outpost_forwarder outpost_encoders
  outpost_traces_decode outpost_traces_normalize outpost_traces_sampler outpost_traces_stats
  outpost_traces_encode PRIVATE PkgConfig::FMT)
