#pragma once

#include <nlohmann/json.hpp>

#include <string>
#include <string_view>

// JSON-RPC 2.0 as MCP's stdio transport carries it: one message per line.
namespace outpost::mcp {

namespace rpc {
constexpr int kParseError = -32700;
constexpr int kInvalidRequest = -32600;
constexpr int kMethodNotFound = -32601;
constexpr int kInvalidParams = -32602;
constexpr int kInternalError = -32603;
}  // namespace rpc

struct Message {
  enum class Kind { kRequest, kNotification, kResponse, kInvalid };
  Kind kind = Kind::kInvalid;
  nlohmann::json id;  // string or integer (requests and responses); null otherwise
  std::string method;
  nlohmann::json params = nlohmann::json::object();
  // kInvalid: the error to answer with (code and message), and the id when one was readable.
  int error_code = 0;
  std::string error;
};

// Classifies one parsed JSON value.
Message classify(const nlohmann::json& j);

// {"jsonrpc":"2.0","id":id,"result":result}
nlohmann::json resultMessage(const nlohmann::json& id, nlohmann::json result);
// {"jsonrpc":"2.0","id":id,"error":{"code","message"[,"data"]}}
nlohmann::json errorMessage(const nlohmann::json& id, int code, std::string_view message,
                            const nlohmann::json& data = nullptr);
// {"jsonrpc":"2.0","method":method,"params":params}
nlohmann::json notificationMessage(std::string_view method, nlohmann::json params);

// One line of output: compact JSON, invalid UTF-8 replaced, no raw newline inside.
std::string toLine(const nlohmann::json& message);

}  // namespace outpost::mcp
