# tcp/udp line inputs and the journald input of the logs pipeline.
add_library(outpost_logs_inputs
  ${CMAKE_CURRENT_LIST_DIR}/network_input.cpp
  ${CMAKE_CURRENT_LIST_DIR}/journald_input.cpp)
target_include_directories(outpost_logs_inputs PUBLIC ${PROJECT_SOURCE_DIR})
target_link_libraries(outpost_logs_inputs PUBLIC outpost_core PkgConfig::SYSTEMD PkgConfig::FMT)
