#pragma once

#include <nlohmann/json.hpp>

#include <atomic>
#include <chrono>
#include <string>
#include <vector>

// The tools outpost-mcp offers: each is one or a few calls to the query socket, read-only.
namespace outpost::mcp {

struct ToolContext {
  std::string socket_path;
  size_t max_result_bytes = 64 << 10;
  std::chrono::milliseconds timeout{120'000};
  const std::atomic<bool>* cancel = nullptr;  // the client cancelled the call
};

struct ToolResult {
  nlohmann::json structured = nlohmann::json::object();
  std::string text;  // the same, as compact JSON (or the error message)
  bool is_error = false;
};

struct Tool {
  std::string name;
  std::string title;
  std::string description;
  nlohmann::json input_schema;
  nlohmann::json output_schema;
  ToolResult (*run)(const nlohmann::json& args, const ToolContext& ctx);
};

const std::vector<Tool>& tools();
const Tool* findTool(const std::string& name);

// The tools/list entry of a tool.
nlohmann::json describe(const Tool& tool);

// Checks `args` against a tool's input schema (object, known properties, types, ranges,
// enums, required); the reason when they do not fit.
bool validateArgs(const nlohmann::json& args, const nlohmann::json& schema, std::string* error);

// Fits a result into `max_bytes` of JSON: drops the last elements of its largest list until it
// does, and says so (truncated, a hint).
void fitBudget(nlohmann::json& result, size_t max_bytes);

// Reads one query-socket resource: status, config, log-sources, trace/{id}.
ToolResult readResource(const std::string& uri, const ToolContext& ctx);

}  // namespace outpost::mcp
