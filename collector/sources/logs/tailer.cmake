# The file tailer and the logs component that ties the parts together.
add_library(outpost_logs file_tailer.cpp logs_source.cpp)
target_include_directories(outpost_logs PUBLIC ${PROJECT_SOURCE_DIR})
target_link_libraries(outpost_logs PUBLIC outpost_logs_decoder outpost_logs_rules
  outpost_logs_config outpost_logs_batcher outpost_logs_files outpost_logs_inputs
  outpost_forwarder outpost_core PkgConfig::FMT)
