#include "mcp/server.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "core/build_info.h"
#include "mcp/tools.h"

namespace outpost::mcp {

using nlohmann::json;

namespace {

constexpr size_t kToolsPerPage = 20;
constexpr const char* kLogLevels[] = {"debug", "info",     "notice", "warning",
                                      "error", "critical", "alert",  "emergency"};

json resourceList() {
  return json::array(
      {{{"uri", "outpost://status"},
        {"name", "status"},
        {"title", "Outpost status"},
        {"description", "The agent's status: forwarding, log files and lag, checks, counters"},
        {"mimeType", "application/json"}},
       {{"uri", "outpost://config"},
        {"name", "config"},
        {"title", "Outpost configuration"},
        {"description",
         "The resolved configuration as `outpost configcheck` prints it, each "
         "value's origin, secrets redacted"},
        {"mimeType", "application/json"}},
       {{"uri", "outpost://log-sources"},
        {"name", "log-sources"},
        {"title", "Log sources"},
        {"description", "Every log source with its files, rotations and lag"},
        {"mimeType", "application/json"}}});
}

}  // namespace

Server::Server(Options options, Writer writer)
    : options_(std::move(options)), writer_(std::move(writer)) {
  progress_thread_ = std::thread([this] { progressLoop(); });
}

Server::~Server() {
  finish();
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  progress_thread_.join();
}

void Server::finish() {
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait(lock, [this] { return running_ == 0; });
}

void Server::send(const json& message) {
  const std::string line = toLine(message);
  std::lock_guard<std::mutex> lock(write_mu_);
  writer_(line);
}

void Server::handleLine(std::string_view line) {
  if (line.find_first_not_of(" \t\r") == std::string_view::npos) {
    return;  // blank lines are not messages
  }
  json j = json::parse(line, nullptr, false);
  if (j.is_discarded()) {
    send(errorMessage(nullptr, rpc::kParseError, "parse error: the line is not JSON"));
    return;
  }
  if (j.is_array()) {
    // JSON-RPC batches were dropped from MCP in 2025-06-18.
    send(errorMessage(nullptr, rpc::kInvalidRequest, "batches are not supported"));
    return;
  }
  handleMessage(j);
}

json Server::initialize(const json& params) {
  std::string asked = params.is_object() ? params.value("protocolVersion", "") : "";
  version_ = kProtocolVersions[0];
  for (const char* v : kProtocolVersions) {
    if (asked == v) {
      version_ = v;
    }
  }
  return {
      {"protocolVersion", version_},
      {"capabilities",
       {{"tools", {{"listChanged", false}}},
        {"resources", {{"subscribe", false}, {"listChanged", false}}},
        {"logging", json::object()}}},
      {"serverInfo", {{"name", "outpost-mcp"}, {"title", "Outpost"}, {"version", build::kVersion}}},
      {"instructions",
       "Read-only tools over this host's Outpost agent: search_logs searches the log files "
       "themselves (default: the last 15 minutes), tail_logs shows the newest processed "
       "lines, query_metrics and list_metrics the last hour of metrics, search_traces and "
       "get_trace recent APM traces, agent_status and list_checks the agent. Times are "
       "UTC. Lists carry next_cursor and truncated; empty answers carry hints."}};
}

void Server::handleMessage(const json& j) {
  const Message m = classify(j);
  if (m.kind == Message::Kind::kInvalid) {
    send(errorMessage(m.id, m.error_code, m.error));
    return;
  }
  if (m.kind == Message::Kind::kResponse) {
    return;  // we send no requests, so nothing waits for an answer
  }
  const bool request = m.kind == Message::Kind::kRequest;
  const json& p = m.params;
  auto reply = [&](json result) {
    if (request) {
      send(resultMessage(m.id, std::move(result)));
    }
  };
  auto fail = [&](int code, const std::string& message) {
    if (request) {
      send(errorMessage(m.id, code, message));
    }
  };

  if (m.method == "initialize") {
    reply(initialize(p));
  } else if (m.method == "notifications/initialized" || m.method == "initialized") {
    // Nothing to do: we answer requests whether or not this came.
  } else if (m.method == "ping") {
    reply(json::object());
  } else if (m.method == "notifications/cancelled") {
    if (p.is_object() && p.contains("requestId")) {
      std::lock_guard<std::mutex> lock(mu_);
      auto it = calls_.find(p["requestId"].dump());
      if (it != calls_.end()) {
        it->second->cancel = true;
      }
    }
  } else if (m.method == "logging/setLevel") {
    const std::string level = p.is_object() ? p.value("level", "") : "";
    if (std::find(std::begin(kLogLevels), std::end(kLogLevels), level) == std::end(kLogLevels)) {
      fail(rpc::kInvalidParams,
           "level must be one of debug, info, notice, warning, error, "
           "critical, alert, emergency");
      return;
    }
    log_level_ = level;
    reply(json::object());
  } else if (m.method == "tools/list") {
    size_t from = 0;
    if (p.is_object() && p.contains("cursor")) {
      const auto& c = p["cursor"];
      if (!c.is_string() || c.get<std::string>().empty() ||
          c.get<std::string>().find_first_not_of("0123456789") != std::string::npos ||
          c.get<std::string>().size() > 6 || std::stoul(c.get<std::string>()) >= tools().size()) {
        fail(rpc::kInvalidParams, "invalid cursor: use the nextCursor of the previous page");
        return;
      }
      from = std::stoul(c.get<std::string>());
    }
    json list = json::array();
    const size_t to = std::min(tools().size(), from + kToolsPerPage);
    for (size_t i = from; i < to; ++i) {
      list.push_back(describe(tools()[i]));
    }
    json result = {{"tools", std::move(list)}};
    if (to < tools().size()) {
      result["nextCursor"] = std::to_string(to);
    }
    reply(std::move(result));
  } else if (m.method == "tools/call") {
    if (!request) {
      return;
    }
    if (!p.is_object() || !p.contains("name") || !p["name"].is_string()) {
      fail(rpc::kInvalidParams, "tools/call needs a name");
      return;
    }
    const Tool* tool = findTool(p["name"].get<std::string>());
    if (tool == nullptr) {
      fail(rpc::kInvalidParams,
           "unknown tool '" + p["name"].get<std::string>() + "' (tools/list names them)");
      return;
    }
    const json args = p.contains("arguments") ? p["arguments"] : json::object();
    if (!args.is_object()) {
      fail(rpc::kInvalidParams, "arguments must be an object");
      return;
    }
    const size_t budget = options_.max_result_bytes;
    const auto socket = options_.socket_path;
    const auto timeout = options_.call_timeout;
    startCall(m, [tool, args, budget, socket, timeout](const std::atomic<bool>& cancel) {
      ToolResult r;
      std::string why;
      if (!validateArgs(args, tool->input_schema, &why)) {
        r.is_error = true;
        r.text = why;
        r.structured = {{"error", why}};
      } else {
        r = tool->run(args, ToolContext{socket, budget, timeout, &cancel});
      }
      if (!r.is_error) {
        fitBudget(r.structured, budget);
        r.text = r.structured.dump(-1, ' ', false, json::error_handler_t::replace);
      }
      json result = {{"content", json::array({{{"type", "text"}, {"text", r.text}}})},
                     {"isError", r.is_error}};
      if (!r.is_error) {
        result["structuredContent"] = std::move(r.structured);
      }
      return result;
    });
  } else if (m.method == "resources/list") {
    reply({{"resources", resourceList()}});
  } else if (m.method == "resources/templates/list") {
    reply({{"resourceTemplates", json::array({{{"uriTemplate", "outpost://trace/{trace_id}"},
                                               {"name", "trace"},
                                               {"title", "A trace"},
                                               {"description", "One APM trace's span tree"},
                                               {"mimeType", "application/json"}}})}});
  } else if (m.method == "resources/read") {
    if (!request) {
      return;
    }
    const std::string uri = p.is_object() ? p.value("uri", "") : "";
    if (uri != "outpost://status" && uri != "outpost://log-sources" && uri != "outpost://config" &&
        !(uri.rfind("outpost://trace/", 0) == 0 && uri.size() > 16)) {
      fail(rpc::kInvalidParams, "unknown resource '" + uri + "' (resources/list names them)");
      return;
    }
    const auto socket = options_.socket_path;
    const auto timeout = options_.call_timeout;
    const size_t budget = options_.max_result_bytes;
    startCall(m, [uri, socket, timeout, budget](const std::atomic<bool>& cancel) -> json {
      ToolResult r = readResource(uri, ToolContext{socket, budget, timeout, &cancel});
      if (r.is_error) {
        return {{"__error", r.text}};
      }
      return {{"contents",
               json::array({{{"uri", uri},
                             {"mimeType", "application/json"},
                             {"text", r.structured.dump(-1, ' ', false,
                                                        json::error_handler_t::replace)}}})}};
    });
  } else if (request) {
    fail(rpc::kMethodNotFound, "method not found: " + m.method);
  }
}

void Server::startCall(const Message& m, std::function<json(const std::atomic<bool>&)> work) {
  auto call = std::make_shared<Call>();
  call->id = m.id;
  call->started = std::chrono::steady_clock::now();
  if (m.params.is_object() && m.params.contains("_meta") && m.params["_meta"].is_object() &&
      m.params["_meta"].contains("progressToken")) {
    call->progress_token = m.params["_meta"]["progressToken"];
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    calls_[m.id.dump()] = call;
    ++running_;
  }
  std::thread([this, call, work = std::move(work)] {
    json result = work(call->cancel);
    {
      std::lock_guard<std::mutex> l(mu_);
      call->done = true;
      calls_.erase(call->id.dump());
    }
    if (!call->cancel) {  // a cancelled request gets no answer
      if (result.is_object() && result.contains("__error")) {
        send(errorMessage(call->id, rpc::kInternalError, result["__error"].get<std::string>()));
      } else {
        send(resultMessage(call->id, std::move(result)));
      }
    }
    std::lock_guard<std::mutex> l(mu_);
    --running_;
    cv_.notify_all();  // (the last use of this: finish() may return now)
  }).detach();
}

// Every progress_interval: a progress notification for each call that asked for them and runs.
void Server::progressLoop() {
  std::unique_lock<std::mutex> lock(mu_);
  while (!stopping_) {
    cv_.wait_for(lock, options_.progress_interval);
    if (stopping_) {
      break;
    }
    std::vector<std::shared_ptr<Call>> running;
    for (const auto& [id, call] : calls_) {
      if (!call->progress_token.is_null() && !call->done && !call->cancel) {
        running.push_back(call);
      }
    }
    lock.unlock();
    for (const auto& call : running) {
      const double s =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - call->started).count();
      send(notificationMessage("notifications/progress",
                               {{"progressToken", call->progress_token},
                                {"progress", std::round(s * 10) / 10},
                                {"message", fmt::format("still working: {:.1f} s", s)}}));
    }
    lock.lock();
  }
}

}  // namespace outpost::mcp
