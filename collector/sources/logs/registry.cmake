# The offset registry (registry.json), file identity and path globbing.
find_package(nlohmann_json 3.10 REQUIRED)
add_library(outpost_logs_files STATIC
  ${CMAKE_CURRENT_LIST_DIR}/file_identity.cpp
  ${CMAKE_CURRENT_LIST_DIR}/path_glob.cpp
  ${CMAKE_CURRENT_LIST_DIR}/registry.cpp)
target_include_directories(outpost_logs_files PUBLIC ${PROJECT_SOURCE_DIR})
target_link_libraries(outpost_logs_files PUBLIC outpost_core PkgConfig::FMT
  PRIVATE nlohmann_json::nlohmann_json)
