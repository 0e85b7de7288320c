// libFuzzer target for the HTTP/1.1 request parser of HttpServer (APM receiver, query socket): any
// bytes, as a stream of pipelined requests, must parse into requests or stop with an error, never
// crash, spin or trip a sanitizer, and give the same requests and the same outcome (refused or
// not) whether they arrive in one piece or in two (split where the input says). Asserted for every
// request handed out: its headers were announced once before it; a method; a path and query that
// make up the target; lower-case token header names; a body within max_body_bytes and only when one
// was expected; target and header lines within max_header_bytes.
//
// Input layout: bytes 0-1 pick the split point, byte 2 the limits, the rest is the stream.

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "core/http_request_parser.h"

namespace {

using outpost::HttpRequest;
using outpost::HttpRequestParser;
using Status = HttpRequestParser::Result::Status;

void check(bool ok) {
  if (!ok) {
    std::abort();
  }
}

bool isTokenChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
         std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

struct Seen {
  std::string method, target, path, query, body;
  std::vector<std::pair<std::string, std::string>> headers;
  bool keep_alive, head, http10;
  bool operator==(const Seen&) const = default;
};

// Which error ends a stream may depend on the chunking (a header value that arrives in parts is
// charged against max_header_bytes before the parser sees the bad byte after it): 431 or 400,
// both refusals. The requests before it and whether it fails may not.
struct Outcome {
  std::vector<Seen> requests;
  bool failed = false;
  bool operator==(const Outcome&) const = default;
};

class Run : public HttpRequestParser::Listener {
 public:
  explicit Run(HttpRequestParser::Limits limits) : limits_(limits), parser_(limits, this) {}

  void onRequestBegin() override {
    check(!in_request_);
    in_request_ = true;
    has_head_ = false;
  }
  void onRequestHead(const HttpRequest& request, const HttpRequestParser::Head& head) override {
    check(in_request_ && !has_head_);
    check(!request.method.empty() && request.body.empty());
    has_head_ = true;
    head_ = head;
  }

  // Feeds `bytes` the way the server's connection does; false once the stream failed.
  bool feed(std::string_view bytes) {
    size_t used = 0;
    size_t rounds = 0;
    while (used < bytes.size() && !out.failed) {
      check(++rounds <= 2 * bytes.size() + 2);
      const HttpRequestParser::Result r = parser_.feed(bytes.data() + used, bytes.size() - used);
      check(r.used <= bytes.size() - used);
      used += r.used;
      if (r.status == Status::kComplete) {
        take();
        continue;
      }
      if (r.status == Status::kError) {
        check(r.detail != nullptr);
        check(r.error == HttpRequestParser::Error::kMalformed ||
              r.error == HttpRequestParser::Error::kBodyTooLarge ||
              r.error == HttpRequestParser::Error::kHeadersTooLarge);
        out.failed = true;
        parser_.discardRequest();
        return false;
      }
      if (r.used == 0) {
        out.failed = true;  // the server answers 400: no progress without an error
        return false;
      }
    }
    return !out.failed;
  }

  Outcome out;

 private:
  void take() {
    check(in_request_ && has_head_);
    in_request_ = false;
    HttpRequest r = parser_.takeRequest();
    check(!r.method.empty());
    const size_t q = r.target.find('?');
    check(r.path == r.target.substr(0, q));
    check(r.query == (q == std::string::npos ? "" : r.target.substr(q + 1)));
    size_t header_bytes = r.target.size();
    for (const auto& [name, value] : r.headers) {
      check(!name.empty());
      for (char c : name) {
        check(isTokenChar(c));
      }
      header_bytes += name.size() + value.size() + 4;
    }
    check(header_bytes <= limits_.max_header_bytes);
    check(r.body.size() <= limits_.max_body_bytes);
    check(r.body.empty() || head_.body_expected);
    check(r.peer_address.empty() && !r.peer_pid);
    out.requests.push_back(Seen{r.method, r.target, r.path, r.query, r.body, r.headers,
                                head_.keep_alive, head_.head, head_.http10});
  }

  HttpRequestParser::Limits limits_;
  HttpRequestParser parser_;
  bool in_request_ = false;
  bool has_head_ = false;
  HttpRequestParser::Head head_;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 3) {
    return 0;
  }
  static constexpr size_t kBody[] = {0, 16, 1024, 25 * 1024 * 1024};
  static constexpr size_t kHeader[] = {32, 256, 4096, 64 * 1024};
  HttpRequestParser::Limits limits;
  limits.max_body_bytes = kBody[data[2] & 3];
  limits.max_header_bytes = kHeader[(data[2] >> 2) & 3];
  const std::string_view stream(reinterpret_cast<const char*>(data) + 3, size - 3);
  const size_t split =
      (static_cast<size_t>(data[0]) | (static_cast<size_t>(data[1]) << 8)) % (stream.size() + 1);

  Run whole(limits);
  whole.feed(stream);
  Run parts(limits);
  if (parts.feed(stream.substr(0, split))) {
    parts.feed(stream.substr(split));
  }
  check(whole.out == parts.out);
  return 0;
}
