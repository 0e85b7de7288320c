#pragma once

#include <uv.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/telemetry.h"

namespace outpost {

// An outgoing HTTP request. The body is shared, not copied: one compressed payload goes to
// several endpoints.
struct OutgoingRequest {
  std::string url;  // full URL, e.g. https://7-60-0-app.agent.datadoghq.com/api/v2/series
  std::string method = "POST";
  std::vector<std::string> headers;  // "Name: value"
  std::shared_ptr<const std::string> body;
};

struct HttpResult {
  int status = 0;               // HTTP status; 0 when the request failed below HTTP
  std::string transport_error;  // status 0: timeout, connect, dns, tls, send, recv, proxy, ...
  std::string error_detail;     // libcurl's message (never contains the API key)
  std::string retry_after;      // the Retry-After header, if any
  std::string body;             // first 64 KiB of the response body
  double seconds = 0;           // total time of the attempt
};

// libcurl's multi-socket API driven by the libuv loop: one uv_poll per socket, one uv_timer for
// curl's timeouts, connection reuse (keep-alive, HTTP/2 multiplexing when the server offers it
// over TLS). Loop thread only.
class HttpClient {
 public:
  struct Options {
    int64_t timeout_ms = 20'000;
    bool verify_tls = true;
    std::string proxy_http;             // for http:// URLs; empty: libcurl reads http_proxy
    std::string proxy_https;            // for https:// URLs; empty: libcurl reads HTTPS_PROXY
    std::vector<std::string> no_proxy;  // empty: libcurl reads NO_PROXY
    long max_host_connections = 8;
  };
  using Callback = std::function<void(HttpResult)>;

  HttpClient(uv_loop_t* loop, Options options);
  ~HttpClient();  // Abandons requests in flight; their callbacks are not called.
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  // Starts a request; `done` runs on the loop when it completes. Returns an id for cancel().
  uint64_t send(OutgoingRequest request, Callback done);
  // Abandons one request; its callback is not called.
  void cancel(uint64_t id);
  size_t inFlight() const;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace outpost
