#pragma once

#include <atomic>
#include <chrono>
#include <string>
#include <string_view>

// A minimal blocking HTTP/1.1 client for the query socket (`outpost status`): one request,
// `Connection: close`, the whole response read until the daemon closes.
namespace outpost::query {

struct ClientResult {
  bool ok = false;  // a response was read
  int status = 0;
  std::string body;
  std::string error;     // why not: the socket is missing, permission denied, ...
  int error_number = 0;  // errno of the failure (ENOENT, ECONNREFUSED, EACCES, ...)
};

ClientResult queryGet(const std::string& socket_path, const std::string& target,
                      std::chrono::milliseconds timeout = std::chrono::seconds(10));
// POST with a JSON body.
ClientResult queryPost(const std::string& socket_path, const std::string& target,
                       const std::string& json_body,
                       std::chrono::milliseconds timeout = std::chrono::seconds(60));

// Any method; `body` sent as JSON when not empty. When `cancel` becomes true the connection is
// closed at once (the daemon then stops a search it runs for us) and the result says
// ECANCELED.
ClientResult queryRequest(const std::string& socket_path, std::string_view method,
                          const std::string& target, const std::string& body,
                          std::chrono::milliseconds timeout,
                          const std::atomic<bool>* cancel = nullptr);

// Percent-encodes a query-string value.
std::string urlEncode(std::string_view s);

}  // namespace outpost::query
