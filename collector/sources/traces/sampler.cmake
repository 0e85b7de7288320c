# The samplers and rate_by_service.
add_library(outpost_traces_sampler ${CMAKE_CURRENT_LIST_DIR}/sampler.cpp)
target_link_libraries(outpost_traces_sampler PUBLIC outpost_traces_normalize)
