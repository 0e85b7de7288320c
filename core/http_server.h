#pragma once

#include <sys/types.h>
#include <uv.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/telemetry.h"

namespace outpost {

// One parsed HTTP/1.1 request. Header names are lower-cased; values are as received.
// Whether a client went away (closed its connection, or it was closed here), so a handler
// answering later may stop working for it. A half-close (shutdown of the client's writing side,
// as `nc -N` does) is not gone on a Unix socket: that client still waits for the answer. Call
// gone() on the loop's thread.
struct PeerWatch {
  std::shared_ptr<const std::atomic<bool>> closed;  // set when the connection closes here
  int fd = -1;
  bool gone() const;
};

struct HttpRequest {
  std::string method;  // "GET", "POST", ...
  std::string target;  // as on the request line: "/api/v2/series?x=1"
  std::string path;    // target before '?', percent-decoding NOT applied
  std::string query;   // target after '?', or empty
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;  // de-chunked
  // Peer credentials on a Unix socket (SO_PEERCRED); unset on TCP.
  std::optional<pid_t> peer_pid;
  std::optional<uid_t> peer_uid;
  std::optional<gid_t> peer_gid;
  std::string peer_address;  // "127.0.0.1:53211" on TCP, "unix" on a Unix socket
  // Tells whether this client went away, for a handler that answers later.
  PeerWatch peer;

  // First header with that (lower-case) name, or empty.
  std::string_view header(std::string_view lower_name) const;
  bool hasHeader(std::string_view lower_name) const;
};

struct HttpResponse {
  int status = 200;
  std::vector<std::pair<std::string, std::string>> headers;  // Content-Length is added
  std::string body;
  // Fault injection (tests, fake intake): close the connection without sending a response.
  bool drop_connection = false;

  static HttpResponse json(int status, std::string body);
  static HttpResponse text(int status, std::string body);
};

// An HTTP/1.1 server on the libuv loop, over TCP and/or Unix stream sockets. Keep-alive,
// pipelined requests (answered in order), chunked request bodies, `Expect: 100-continue`.
// Bad input never crashes or hangs it: a malformed request gets 400, a body over
// max_body_bytes 413, headers over max_header_bytes 431, headers not complete within
// header_timeout_ms 408 (slow-loris), then the connection closes; each is counted.
// Loop thread only.
class HttpServer {
 public:
  struct Options {
    std::string name = "http";  // telemetry tag server:<name> and log component
    size_t max_body_bytes = 25 * 1024 * 1024;
    size_t max_header_bytes = 64 * 1024;
    uint64_t header_timeout_ms = 10'000;  // from connection/request start to end of headers
    uint64_t idle_timeout_ms = 60'000;    // keep-alive connection with no request
    size_t max_connections = 1024;        // more are accepted and closed at once (counted)
  };

  // Sends the response for one request. Call exactly once, on the loop thread, now or later
  // (a handler may answer asynchronously). Safe to call after the connection went away.
  using Respond = std::function<void(HttpResponse)>;
  using Handler = std::function<void(HttpRequest&, Respond)>;

  HttpServer(uv_loop_t* loop, Options options, Handler handler, Telemetry& telemetry);
  ~HttpServer();  // closes listeners and connections
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // `host` is an IPv4/IPv6 literal or "localhost"; port 0 picks a free port (see port()).
  // On failure returns false and sets *error to a message naming the address.
  bool listenTcp(const std::string& host, int port, std::string* error);
  // Removes a stale socket file first; applies `mode` (e.g. 0660) to the socket file.
  bool listenUnix(const std::string& path, int mode, std::string* error);
  int port() const;  // bound TCP port, or 0

  // Fault injection (tests, fake intake): read at most this many body bytes per second from
  // every connection (0 = unlimited).
  void setReadRateLimit(uint64_t bytes_per_second);

  // Stops accepting; open connections finish their in-flight request then close. `done` runs
  // on the loop when every connection is closed.
  void shutdown(std::function<void()> done);

  size_t openConnections() const;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace outpost
