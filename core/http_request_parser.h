#pragma once

#include <cstddef>
#include <memory>
#include <optional>
#include <string>

#include "core/http_server.h"

struct http_parser;

namespace outpost {

// The byte side of HttpServer: turns a connection's input into HttpRequests with http-parser, plus
// the checks the server adds (header and body limits, token characters in field names, HTTP/1.x
// only). No socket, loop or timer: the server's connection feeds it what it reads, and the fuzz
// target feeds it bytes. One request at a time: after kComplete, take the request, then feed the
// bytes after it (pipelined requests). An Upgrade is not supported: the stream stays HTTP/1.1.
class HttpRequestParser {
 public:
  struct Limits {
    size_t max_body_bytes = 25 * 1024 * 1024;  // de-chunked
    size_t max_header_bytes = 64 * 1024;       // request line and header lines
  };
  enum class Error { kMalformed, kBodyTooLarge, kHeadersTooLarge };

  // What the request line and headers said, when they are complete.
  struct Head {
    bool keep_alive = true;      // the connection may carry another request after this one
    bool head = false;           // a HEAD request
    bool http10 = false;         // HTTP/1.0
    bool body_expected = false;  // chunked, or a Content-Length above 0
  };

  // Told of a request's progress, from inside feed().
  class Listener {
   public:
    virtual ~Listener() = default;
    virtual void onRequestBegin() = 0;  // its first byte
    // Its headers are complete (the body, if any, follows).
    virtual void onRequestHead(const HttpRequest& request, const Head& head) = 0;
  };

  struct Result {
    enum class Status { kMore, kComplete, kError };
    Status status = Status::kMore;
    size_t used = 0;                  // bytes consumed from this feed()
    Error error = Error::kMalformed;  // kError
    const char* detail = "";          // kError: http-parser's description of what it saw
  };

  HttpRequestParser(Limits limits, Listener* listener);
  ~HttpRequestParser();
  HttpRequestParser(const HttpRequestParser&) = delete;
  HttpRequestParser& operator=(const HttpRequestParser&) = delete;

  // Parses until the bytes run out (kMore), a request is complete (kComplete: takeRequest(),
  // then feed the bytes after `used`) or the input is refused (kError: feed no more).
  Result feed(const char* data, size_t len);
  // The request kComplete announced (method, target, path, query, headers, body; no peer).
  HttpRequest takeRequest();
  // Frees the request being received (the connection is closing or failed).
  void discardRequest();

 private:
  struct Callbacks;

  int onMessageBegin();
  int onUrl(const char* at, size_t len);
  int onHeaderField(const char* at, size_t len);
  int onHeaderValue(const char* at, size_t len);
  int onHeadersComplete();
  int onBody(const char* at, size_t len);
  int onMessageComplete();
  int chargeHeaderBytes(size_t n);
  void commitHeader();

  const Limits limits_;
  Listener* const listener_;
  std::unique_ptr<http_parser> parser_;
  std::optional<Error> error_;  // set by a callback that stops the parser
  HttpRequest request_;         // being received
  std::string field_;
  std::string value_;
  bool in_value_ = false;
  size_t header_bytes_ = 0;
};

}  // namespace outpost
