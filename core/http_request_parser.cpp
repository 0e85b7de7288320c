#include "core/http_request_parser.h"

#include <http_parser.h>

#include <algorithm>
#include <cctype>
#include <cstring>

#include "core/strings.h"

namespace outpost {

namespace {

// Bytes charged per header line for ": " and CRLF, on top of name and value.
constexpr size_t kHeaderLineOverhead = 4;
// A declared Content-Length is reserved up front only up to this size.
constexpr size_t kMaxBodyReserve = 1024 * 1024;

// RFC 9110 5.6.2 token characters. Debian builds http-parser in its lenient mode, which lets a
// space into a field name ("Transfer-Encoding : chunked"); such requests are refused here.
bool isTokenChar(char c) {
  const auto u = static_cast<unsigned char>(c);
  if (std::isalnum(u) != 0) {
    return true;
  }
  return c != '\0' && std::strchr("!#$%&'*+-.^_`|~", c) != nullptr;
}

}  // namespace

struct HttpRequestParser::Callbacks {
  static HttpRequestParser* of(http_parser* p) { return static_cast<HttpRequestParser*>(p->data); }

  static const http_parser_settings& settings() {
    static const http_parser_settings s = [] {
      http_parser_settings s;
      http_parser_settings_init(&s);
      s.on_message_begin = [](http_parser* p) { return of(p)->onMessageBegin(); };
      s.on_url = [](http_parser* p, const char* at, size_t len) { return of(p)->onUrl(at, len); };
      s.on_header_field = [](http_parser* p, const char* at, size_t len) {
        return of(p)->onHeaderField(at, len);
      };
      s.on_header_value = [](http_parser* p, const char* at, size_t len) {
        return of(p)->onHeaderValue(at, len);
      };
      s.on_headers_complete = [](http_parser* p) { return of(p)->onHeadersComplete(); };
      s.on_body = [](http_parser* p, const char* at, size_t len) { return of(p)->onBody(at, len); };
      s.on_message_complete = [](http_parser* p) { return of(p)->onMessageComplete(); };
      return s;
    }();
    return s;
  }
};

HttpRequestParser::HttpRequestParser(Limits limits, Listener* listener)
    : limits_(limits), listener_(listener), parser_(std::make_unique<http_parser>()) {
  http_parser_init(parser_.get(), HTTP_REQUEST);
  parser_->data = this;
}

HttpRequestParser::~HttpRequestParser() = default;

HttpRequestParser::Result HttpRequestParser::feed(const char* data, size_t len) {
  Result r;
  r.used = http_parser_execute(parser_.get(), &Callbacks::settings(), data, len);
  const auto err = HTTP_PARSER_ERRNO(parser_.get());
  if (err == HPE_PAUSED) {
    // onMessageComplete paused the parser so the request is handed out between feeds.
    http_parser_pause(parser_.get(), 0);
    parser_->upgrade = 0;  // an Upgrade is not supported: the connection stays HTTP/1.1
    r.status = Result::Status::kComplete;
    return r;
  }
  if (err != HPE_OK) {
    r.status = Result::Status::kError;
    if (error_) {
      r.error = *error_;
    } else if (err == HPE_HEADER_OVERFLOW) {
      r.error = Error::kHeadersTooLarge;
    }
    r.detail = http_errno_description(err);
  }
  return r;
}

HttpRequest HttpRequestParser::takeRequest() {
  if (in_value_ || !field_.empty()) {
    commitHeader();  // the last trailer field of a chunked body
  }
  HttpRequest request = std::move(request_);
  request_ = HttpRequest();
  return request;
}

void HttpRequestParser::discardRequest() {
  request_ = HttpRequest();
}

int HttpRequestParser::onMessageBegin() {
  request_ = HttpRequest();
  field_.clear();
  value_.clear();
  in_value_ = false;
  header_bytes_ = 0;
  error_.reset();
  listener_->onRequestBegin();
  return 0;
}

int HttpRequestParser::chargeHeaderBytes(size_t n) {
  header_bytes_ += n;
  if (header_bytes_ > limits_.max_header_bytes) {
    error_ = Error::kHeadersTooLarge;
    return -1;
  }
  return 0;
}

int HttpRequestParser::onUrl(const char* at, size_t len) {
  request_.target.append(at, len);
  return chargeHeaderBytes(len);
}

void HttpRequestParser::commitHeader() {
  request_.headers.emplace_back(toLower(field_), std::move(value_));
  field_.clear();
  value_.clear();
  in_value_ = false;
}

int HttpRequestParser::onHeaderField(const char* at, size_t len) {
  if (in_value_) {
    commitHeader();
  }
  if (field_.empty()) {
    if (chargeHeaderBytes(kHeaderLineOverhead) != 0) {
      return -1;
    }
  }
  if (!std::all_of(at, at + len, isTokenChar)) {
    error_ = Error::kMalformed;
    return -1;
  }
  field_.append(at, len);
  return chargeHeaderBytes(len);
}

int HttpRequestParser::onHeaderValue(const char* at, size_t len) {
  in_value_ = true;
  value_.append(at, len);
  return chargeHeaderBytes(len);
}

int HttpRequestParser::onHeadersComplete() {
  if (in_value_ || !field_.empty()) {
    commitHeader();
  }
  const http_parser& p = *parser_;
  if (p.http_major != 1) {
    error_ = Error::kMalformed;  // HTTP/0.9 or 2.0 on the request line
    return -1;
  }
  const auto method = static_cast<http_method>(p.method);
  request_.method = http_method_str(method);
  const auto q = request_.target.find('?');
  if (q == std::string::npos) {
    request_.path = request_.target;
  } else {
    request_.path = request_.target.substr(0, q);
    request_.query = request_.target.substr(q + 1);
  }
  const bool chunked = (p.flags & F_CHUNKED) != 0;
  const bool has_length = (p.flags & F_CONTENTLENGTH) != 0;
  if (has_length && p.content_length > limits_.max_body_bytes) {
    // Refused before reading a byte of it (with or without `Expect: 100-continue`).
    error_ = Error::kBodyTooLarge;
    return -1;
  }
  if (has_length && p.content_length > 0) {
    request_.body.reserve(std::min<size_t>(p.content_length, kMaxBodyReserve));
  }
  Head head;
  head.keep_alive = http_should_keep_alive(&p) != 0;
  head.head = method == HTTP_HEAD;
  head.http10 = p.http_major == 1 && p.http_minor == 0;
  head.body_expected = chunked || (has_length && p.content_length > 0);
  listener_->onRequestHead(request_, head);
  return 0;
}

int HttpRequestParser::onBody(const char* at, size_t len) {
  if (request_.body.size() + len > limits_.max_body_bytes) {
    error_ = Error::kBodyTooLarge;
    return -1;
  }
  request_.body.append(at, len);
  return 0;
}

int HttpRequestParser::onMessageComplete() {
  http_parser_pause(parser_.get(), 1);
  return 0;
}

}  // namespace outpost
