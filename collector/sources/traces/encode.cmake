# The trace intake's AgentPayload protobuf, hand-encoded (proto_writer.h): standard library only.
add_library(outpost_traces_encode ${CMAKE_CURRENT_LIST_DIR}/agent_payload.cpp)
target_include_directories(outpost_traces_encode PUBLIC ${PROJECT_SOURCE_DIR})
