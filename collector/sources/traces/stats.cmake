# APM stats: the DDSketch summaries, the concentrator and the StatsPayload (msgpack).
add_library(outpost_traces_stats
  ${CMAKE_CURRENT_LIST_DIR}/apm_sketch.cpp
  ${CMAKE_CURRENT_LIST_DIR}/concentrator.cpp
  ${CMAKE_CURRENT_LIST_DIR}/stats_payload.cpp)
target_link_libraries(outpost_traces_stats PUBLIC outpost_traces_normalize outpost_traces_decode)
