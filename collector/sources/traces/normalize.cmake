# Span normalization, top-level marking, obfuscation and ignore_resources (RE2).
add_library(outpost_traces_normalize
  ${CMAKE_CURRENT_LIST_DIR}/normalize.cpp
  ${CMAKE_CURRENT_LIST_DIR}/obfuscate.cpp)
target_include_directories(outpost_traces_normalize PUBLIC ${PROJECT_SOURCE_DIR})
target_link_libraries(outpost_traces_normalize PRIVATE PkgConfig::RE2)
