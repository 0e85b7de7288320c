#include "mcp/jsonrpc.h"

namespace outpost::mcp {

Message classify(const nlohmann::json& j) {
  Message m;
  if (!j.is_object()) {
    m.error_code = rpc::kInvalidRequest;
    m.error = "a message must be a JSON object";
    return m;
  }
  if (j.contains("id")) {
    const auto& id = j["id"];
    if (id.is_string() || id.is_number_integer()) {
      m.id = id;
    } else if (!id.is_null()) {
      m.error_code = rpc::kInvalidRequest;
      m.error = "id must be a string or an integer";
      return m;
    }
  }
  if (!j.contains("jsonrpc") || j["jsonrpc"] != "2.0") {
    m.error_code = rpc::kInvalidRequest;
    m.error = "jsonrpc must be \"2.0\"";
    return m;
  }
  if (!j.contains("method")) {
    if (j.contains("result") || j.contains("error")) {
      m.kind = Message::Kind::kResponse;  // an answer to something we asked (we ask nothing)
      return m;
    }
    m.error_code = rpc::kInvalidRequest;
    m.error = "no method";
    return m;
  }
  if (!j["method"].is_string()) {
    m.error_code = rpc::kInvalidRequest;
    m.error = "method must be a string";
    return m;
  }
  m.method = j["method"].get<std::string>();
  if (j.contains("params")) {
    if (!j["params"].is_object() && !j["params"].is_array()) {
      m.error_code = rpc::kInvalidRequest;
      m.error = "params must be an object or an array";
      return m;
    }
    m.params = j["params"];
  }
  m.kind = j.contains("id") && !j["id"].is_null() ? Message::Kind::kRequest
                                                  : Message::Kind::kNotification;
  return m;
}

nlohmann::json resultMessage(const nlohmann::json& id, nlohmann::json result) {
  return {{"jsonrpc", "2.0"}, {"id", id}, {"result", std::move(result)}};
}

nlohmann::json errorMessage(const nlohmann::json& id, int code, std::string_view message,
                            const nlohmann::json& data) {
  nlohmann::json error = {{"code", code}, {"message", std::string(message)}};
  if (!data.is_null()) {
    error["data"] = data;
  }
  return {{"jsonrpc", "2.0"}, {"id", id}, {"error", std::move(error)}};
}

nlohmann::json notificationMessage(std::string_view method, nlohmann::json params) {
  return {{"jsonrpc", "2.0"}, {"method", std::string(method)}, {"params", std::move(params)}};
}

std::string toLine(const nlohmann::json& message) {
  // dump() escapes control characters, so a newline never appears inside the line.
  return message.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
}

}  // namespace outpost::mcp
