# Line decoding (split, truncate, encodings, UTF-8): standard library only, so the fuzz project
# (tests/fuzz) compiles line_decoder.cpp alone.
add_library(outpost_logs_decoder ${CMAKE_CURRENT_LIST_DIR}/line_decoder.cpp)
target_include_directories(outpost_logs_decoder PUBLIC ${PROJECT_SOURCE_DIR})

# Processing rules and multi-line aggregation (RE2).
add_library(outpost_logs_rules
  ${CMAKE_CURRENT_LIST_DIR}/processing_rules.cpp
  ${CMAKE_CURRENT_LIST_DIR}/multi_line.cpp)
target_link_libraries(outpost_logs_rules PUBLIC outpost_logs_decoder PkgConfig::RE2
  PRIVATE PkgConfig::FMT)

# Log source configuration (conf.d `logs:` entries), validated into LogSourceConfig.
add_library(outpost_logs_config ${CMAKE_CURRENT_LIST_DIR}/source_config.cpp)
target_link_libraries(outpost_logs_config PUBLIC outpost_core outpost_logs_rules)
