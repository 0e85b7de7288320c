# Tracer payload decoding: the msgpack reader and the v0.3-v0.7 decoders (JSON via nlohmann).
find_package(nlohmann_json 3.10 REQUIRED)
add_library(outpost_traces_decode
  ${CMAKE_CURRENT_LIST_DIR}/msgpack_reader.cpp
  ${CMAKE_CURRENT_LIST_DIR}/decoder.cpp)
target_include_directories(outpost_traces_decode PUBLIC ${PROJECT_SOURCE_DIR})
target_link_libraries(outpost_traces_decode PRIVATE nlohmann_json::nlohmann_json)
