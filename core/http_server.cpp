#include "core/http_server.h"

#include <arpa/inet.h>
#include <http_parser.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <deque>
#include <iterator>
#include <mutex>
#include <unordered_map>

#include "core/http_request_parser.h"
#include "core/log.h"
#include "core/loop.h"
#include "core/strings.h"

namespace outpost {

bool PeerWatch::gone() const {
  if (closed == nullptr || fd < 0) {
    return false;
  }
  if (closed->load()) {
    return true;  // closed here: the descriptor may belong to someone else by now
  }
  // A Unix stream socket whose peer closed reports POLLHUP (a half-close only POLLRDHUP); TCP
  // cannot tell a closed peer from a half-closed one without writing, so its FIN counts.
  int domain = 0;
  socklen_t len = sizeof domain;
  const bool unix_socket =
      ::getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &len) == 0 && domain == AF_UNIX;
  pollfd p{fd, static_cast<short>(POLLRDHUP), 0};
  if (::poll(&p, 1, 0) <= 0) {
    return false;
  }
  if ((p.revents & (POLLHUP | POLLERR)) != 0) {
    return true;
  }
  return !unix_socket && (p.revents & POLLRDHUP) != 0;
}

std::string_view HttpRequest::header(std::string_view lower_name) const {
  for (const auto& [name, value] : headers) {
    if (name == lower_name) {
      return value;
    }
  }
  return {};
}

bool HttpRequest::hasHeader(std::string_view lower_name) const {
  return std::any_of(headers.begin(), headers.end(),
                     [&](const auto& h) { return h.first == lower_name; });
}

HttpResponse HttpResponse::json(int status, std::string body) {
  HttpResponse r;
  r.status = status;
  r.headers.emplace_back("Content-Type", "application/json");
  r.body = std::move(body);
  return r;
}

HttpResponse HttpResponse::text(int status, std::string body) {
  HttpResponse r;
  r.status = status;
  r.headers.emplace_back("Content-Type", "text/plain; charset=utf-8");
  r.body = std::move(body);
  return r;
}

namespace {

// Bytes handed to each read; the buffer is shared by all connections (libuv calls alloc and read
// back to back), and whatever the parser cannot take yet is copied into the connection.
constexpr size_t kReadBufferBytes = 64 * 1024;
// Requests received but not yet answered on one connection; more pause reading (pipelining).
constexpr size_t kMaxPipelined = 16;
// Response bytes queued in the kernel-bound write queue before reading pauses.
constexpr size_t kMaxWriteQueueBytes = 1024 * 1024;
// After a final response that closes the connection, unread input is drained (and dropped) for
// at most this long / this many bytes, so the peer reads the response instead of a reset.
constexpr uint64_t kLingerMs = 2000;
constexpr size_t kMaxLingerBytes = 4 * 1024 * 1024;

enum class ErrorReason : size_t {
  kMalformed,
  kBodyTooLarge,
  kHeadersTooLarge,
  kHeaderTimeout,
  kTooManyConnections,
};
constexpr size_t kReasonCount = 5;

constexpr std::array<std::string_view, kReasonCount> kReasonTags = {
    "malformed", "body_too_large", "headers_too_large", "header_timeout", "too_many_connections"};

int statusFor(ErrorReason reason) {
  switch (reason) {
    case ErrorReason::kMalformed:
      return 400;
    case ErrorReason::kBodyTooLarge:
      return 413;
    case ErrorReason::kHeadersTooLarge:
      return 431;
    case ErrorReason::kHeaderTimeout:
      return 408;
    case ErrorReason::kTooManyConnections:
      return 503;
  }
  return 400;
}

std::string_view reasonPhrase(int status) {
  const char* s = http_status_str(static_cast<http_status>(status));
  if (s == nullptr || s[0] == '<') {
    return "Unknown";
  }
  return s;
}

// 1xx, 204 and 304 responses carry no body (RFC 9110 6.4.1); 1xx and 204 no Content-Length.
bool statusHasBody(int status) {
  return status >= 200 && status != 204 && status != 304;
}

bool equalsIgnoreCase(std::string_view a, std::string_view b) {
  return a.size() == b.size() && toLower(a) == toLower(b);
}

// Header names and values from a handler go onto the wire; CR and LF would split the response.
void appendSanitized(std::string& out, std::string_view s) {
  for (char c : s) {
    out += (c == '\r' || c == '\n') ? ' ' : c;
  }
}

// libuv writes with writev(2): a peer that reset the connection would raise SIGPIPE and kill the
// process. The daemon ignores it already; tests and tools embedding a server get the same.
void ignoreSigpipeOnce() {
  static std::once_flag once;
  std::call_once(once, [] {
    struct sigaction current {};
    if (sigaction(SIGPIPE, nullptr, &current) == 0 && current.sa_handler == SIG_DFL) {
      signal(SIGPIPE, SIG_IGN);
    }
  });
}

std::string formatSockaddr(const sockaddr_storage& ss) {
  char ip[INET6_ADDRSTRLEN] = {};
  if (ss.ss_family == AF_INET) {
    const auto* a = reinterpret_cast<const sockaddr_in*>(&ss);
    uv_ip4_name(a, ip, sizeof(ip));
    return fmt::format("{}:{}", ip, ntohs(a->sin_port));
  }
  if (ss.ss_family == AF_INET6) {
    const auto* a = reinterpret_cast<const sockaddr_in6*>(&ss);
    uv_ip6_name(a, ip, sizeof(ip));
    return fmt::format("[{}]:{}", ip, ntohs(a->sin6_port));
  }
  return "unknown";
}

}  // namespace

struct HttpServer::Impl {
  struct Connection;
  struct Listener;

  Impl(uv_loop_t* loop, Options options, Handler handler, Telemetry& telemetry);
  ~Impl();

  bool listenTcp(const std::string& host, int port, std::string* error);
  bool listenUnix(const std::string& path, int mode, std::string* error);
  void setReadRateLimit(uint64_t bytes_per_second);
  void shutdown(std::function<void()> done);

  void onAccept(Listener* listener);
  // uv_listen on a bound listener; accepted connections go to onAccept. Returns libuv's code.
  static int startAccepting(Listener* listener);
  void answer(uint64_t conn_id, uint64_t seq, HttpResponse response);
  void countError(ErrorReason reason) { errors_[static_cast<size_t>(reason)]->inc(); }
  void countStatus(std::string_view status);
  void connectionClosing();
  void connectionFreed(Connection* conn);
  void closeListeners();
  void maybeShutdownDone();
  void schedulePump(uint64_t conn_id);
  void runScheduledPumps();
  size_t readChunk() const;

  uv_loop_t* loop_;
  Options options_;
  Handler handler_;
  Telemetry& telemetry_;
  std::string server_tag_;
  std::array<Counter*, kReasonCount> errors_{};
  std::unordered_map<std::string, Counter*> status_counters_;
  Gauge& connections_gauge_;
  std::vector<Listener*> listeners_;
  std::unordered_map<uint64_t, Connection*> conns_;  // open and closing; freed in close callbacks
  uint64_t next_conn_id_ = 1;
  size_t open_ = 0;  // accepted, counted, not closing
  int port_ = 0;
  uint64_t read_rate_ = 0;
  bool shutting_down_ = false;
  std::vector<std::function<void()>> shutdown_done_;
  Timer done_timer_;
  std::vector<uint64_t> to_pump_;
  Timer pump_timer_;
  std::unique_ptr<char[]> read_buffer_;
  // Responders hold a weak reference: once the server is gone they do nothing.
  std::shared_ptr<int> alive_ = std::make_shared<int>(0);
};

// A listening socket. Freed in its close callback.
struct HttpServer::Impl::Listener {
  union {
    uv_tcp_t tcp;
    uv_pipe_t pipe;
    uv_stream_t stream;
    uv_handle_t handle;
  } h;
  Impl* server = nullptr;
  bool is_unix = false;
  std::string path;  // Unix: the socket file, removed on close if it is still ours
  dev_t dev = 0;
  ino_t ino = 0;

  void close() {
    if (is_unix && !path.empty()) {
      struct stat st {};
      if (::stat(path.c_str(), &st) == 0 && st.st_dev == dev && st.st_ino == ino) {
        ::unlink(path.c_str());
      }
    }
    uv_close(&h.handle, [](uv_handle_t* handle) { delete static_cast<Listener*>(handle->data); });
  }
};

// One accepted connection: the stream, two timers and the HTTP state. It owns its libuv handles
// and frees itself once all three close callbacks have run; `server_` is cleared when the server
// is destroyed first, so late callbacks never touch it.
struct HttpServer::Impl::Connection final : HttpRequestParser::Listener {
  enum class Phase { kWaiting, kHeaders, kBody };  // waiting = between requests
  enum class TimerKind { kNone, kHeaderDeadline, kBodyIdle, kKeepAliveIdle, kLinger };

  // One request in arrival order; responses leave strictly in this order.
  struct Slot {
    uint64_t seq = 0;
    bool complete = false;  // fully received and handed to the handler
    bool answered = false;
    bool continue_pending = false;  // owes `100 Continue` once at the head
    bool keep_alive = true;
    bool head = false;
    bool http10 = false;
    bool force_close = false;
    size_t body_bytes = 0;
    HttpResponse response;
  };

  struct WriteReq {
    uv_write_t req;
    std::string data;
    Connection* conn;
  };

  Connection(Impl* server, uint64_t id, bool is_unix);

  bool accept(uv_stream_t* listener);
  void start();
  void closeNow();
  void onServerShutdown();

  // Input.
  void onRead(ssize_t nread, const uv_buf_t* buf);
  void onEof();
  size_t consume(const char* data, size_t len);
  void pump();
  bool canParse() const;
  void updateReading();
  void dispatch();
  void fail(ErrorReason reason);

  // Parser events.
  void onRequestBegin() override;
  void onRequestHead(const HttpRequest& request, const HttpRequestParser::Head& head) override;

  // Output.
  void answer(uint64_t seq, HttpResponse response);
  void flush();
  std::string serialize(const Slot& slot, bool close);
  void write(std::string data);
  void onWriteDone(int status);
  void finish(bool linger);
  void maybeFinish();

  // Timers.
  void armTimer(TimerKind kind, uint64_t ms);
  void stopTimer();
  void armWaitingTimer();
  void onTimer();
  void onThrottleTimer();

  Slot* findSlot(uint64_t seq);
  size_t inflightBodyBytes() const;

  union {
    uv_tcp_t tcp;
    uv_pipe_t pipe;
    uv_stream_t stream;
    uv_handle_t handle;
  } h_;
  uv_timer_t timer_;
  uv_timer_t throttle_timer_;
  uv_shutdown_t shutdown_req_;

  Impl* server_;
  const uint64_t id_;
  const bool is_unix_;
  bool counted_ = false;  // counted in open_ / the gauge
  int pending_closes_ = 0;

  HttpRequestParser parser_;
  Phase phase_ = Phase::kWaiting;
  TimerKind timer_kind_ = TimerKind::kNone;

  std::optional<uint64_t> current_seq_;  // slot of the request being received (after headers)

  std::deque<Slot> slots_;
  uint64_t next_seq_ = 1;
  std::string pending_input_;  // read but not yet parsed (pipelined requests under back-pressure)

  std::string peer_address_;
  std::optional<pid_t> peer_pid_;
  std::optional<uid_t> peer_uid_;
  std::optional<gid_t> peer_gid_;

  std::shared_ptr<std::atomic<bool>> gone_ = std::make_shared<std::atomic<bool>>(false);
  bool closing_ = false;     // uv_close issued
  bool stop_input_ = false;  // no further request will be parsed
  bool finishing_ = false;   // uv_shutdown issued
  bool linger_ = false;      // drain input after the FIN (see finish())
  bool lingering_ = false;   // draining input after the final response
  bool reading_ = false;
  bool throttled_ = false;
  bool peer_eof_ = false;
  bool pumping_ = false;
  size_t writes_in_flight_ = 0;
  size_t linger_bytes_ = 0;
};

namespace {

using Conn = HttpServer::Impl::Connection;

ErrorReason reasonOf(HttpRequestParser::Error error) {
  switch (error) {
    case HttpRequestParser::Error::kMalformed:
      return ErrorReason::kMalformed;
    case HttpRequestParser::Error::kBodyTooLarge:
      return ErrorReason::kBodyTooLarge;
    case HttpRequestParser::Error::kHeadersTooLarge:
      return ErrorReason::kHeadersTooLarge;
  }
  return ErrorReason::kMalformed;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Connection

Conn::Connection(Impl* server, uint64_t id, bool is_unix)
    : server_(server),
      id_(id),
      is_unix_(is_unix),
      parser_(HttpRequestParser::Limits{server->options_.max_body_bytes,
                                        server->options_.max_header_bytes},
              this) {
  std::memset(&h_, 0, sizeof(h_));
  std::memset(&timer_, 0, sizeof(timer_));
  std::memset(&throttle_timer_, 0, sizeof(throttle_timer_));
  std::memset(&shutdown_req_, 0, sizeof(shutdown_req_));
  if (is_unix_) {
    uv_pipe_init(server_->loop_, &h_.pipe, 0);
  } else {
    uv_tcp_init(server_->loop_, &h_.tcp);
  }
  uv_timer_init(server_->loop_, &timer_);
  uv_timer_init(server_->loop_, &throttle_timer_);
  h_.handle.data = this;
  timer_.data = this;
  throttle_timer_.data = this;
}

bool Conn::accept(uv_stream_t* listener) {
  if (uv_accept(listener, &h_.stream) != 0) {
    return false;
  }
  if (is_unix_) {
    peer_address_ = "unix";
    uv_os_fd_t fd = -1;
    struct ucred cred {};
    socklen_t len = sizeof(cred);
    if (uv_fileno(&h_.handle, &fd) == 0 &&
        getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0) {
      peer_pid_ = cred.pid;
      peer_uid_ = cred.uid;
      peer_gid_ = cred.gid;
    }
  } else {
    uv_tcp_nodelay(&h_.tcp, 1);
    sockaddr_storage ss{};
    int len = sizeof(ss);
    if (uv_tcp_getpeername(&h_.tcp, reinterpret_cast<sockaddr*>(&ss), &len) == 0) {
      peer_address_ = formatSockaddr(ss);
    } else {
      peer_address_ = "unknown";
    }
  }
  return true;
}

void Conn::start() {
  // The header deadline runs from connection start (slow loris: connect and send nothing).
  armTimer(TimerKind::kHeaderDeadline, server_->options_.header_timeout_ms);
  updateReading();
}

void Conn::closeNow() {
  if (closing_) {
    return;
  }
  closing_ = true;
  reading_ = false;
  gone_->store(true);
  if (server_ != nullptr && counted_) {
    counted_ = false;
    server_->connectionClosing();
  }
  slots_.clear();
  pending_input_.clear();
  pending_input_.shrink_to_fit();
  parser_.discardRequest();
  pending_closes_ = 3;
  auto on_closed = [](uv_handle_t* handle) {
    auto* conn = static_cast<Conn*>(handle->data);
    if (--conn->pending_closes_ > 0) {
      return;
    }
    if (conn->server_ != nullptr) {
      conn->server_->connectionFreed(conn);
    }
    delete conn;
  };
  uv_close(&h_.handle, on_closed);
  uv_close(reinterpret_cast<uv_handle_t*>(&timer_), on_closed);
  uv_close(reinterpret_cast<uv_handle_t*>(&throttle_timer_), on_closed);
}

void Conn::onServerShutdown() {
  if (lingering_) {
    closeNow();  // the response is out; do not make shutdown wait for the drain
    return;
  }
  if (closing_ || finishing_) {
    return;
  }
  if (phase_ == Phase::kWaiting) {
    // No request being received: nothing more will be read. A request in progress is let
    // finish (bounded by the header deadline); dispatch() stops input after it.
    stop_input_ = true;
    pending_input_.clear();
    if (slots_.empty()) {
      closeNow();
      return;
    }
    stopTimer();
    updateReading();
  }
}

// --- input -----------------------------------------------------------------------------------

bool Conn::canParse() const {
  return !closing_ && !stop_input_ && server_ != nullptr && slots_.size() < kMaxPipelined &&
         inflightBodyBytes() <= server_->options_.max_body_bytes &&
         uv_stream_get_write_queue_size(&h_.stream) <= kMaxWriteQueueBytes;
}

void Conn::updateReading() {
  if (closing_) {
    return;
  }
  const bool want = lingering_ || (!finishing_ && !peer_eof_ && !throttled_ &&
                                   pending_input_.empty() && canParse());
  if (want == reading_) {
    return;
  }
  auto* stream = &h_.stream;
  if (want) {
    auto alloc = [](uv_handle_t* handle, size_t, uv_buf_t* buf) {
      auto* conn = static_cast<Conn*>(handle->data);
      if (conn->server_ == nullptr) {
        *buf = uv_buf_init(nullptr, 0);  // read_cb gets UV_ENOBUFS
        return;
      }
      *buf = uv_buf_init(conn->server_->read_buffer_.get(),
                         static_cast<unsigned>(conn->server_->readChunk()));
    };
    auto read = [](uv_stream_t* s, ssize_t nread, const uv_buf_t* buf) {
      static_cast<Conn*>(s->data)->onRead(nread, buf);
    };
    reading_ = uv_read_start(stream, alloc, read) == 0;
  } else {
    uv_read_stop(stream);
    reading_ = false;
  }
}

void Conn::onRead(ssize_t nread, const uv_buf_t* buf) {
  if (closing_) {
    return;
  }
  if (lingering_) {
    // Draining after the final response: drop the bytes; the peer's FIN (or an error) ends it.
    linger_bytes_ += nread > 0 ? static_cast<size_t>(nread) : 0;
    if (nread < 0 || linger_bytes_ > kMaxLingerBytes) {
      closeNow();
    }
    return;
  }
  if (nread == UV_EOF) {
    onEof();
    return;
  }
  if (nread < 0) {
    LOG_DEBUG(server_->options_.name, "{}: read error: {}", peer_address_,
              uv_strerror(static_cast<int>(nread)));
    closeNow();
    return;
  }
  if (nread == 0) {
    return;
  }
  const auto n = static_cast<size_t>(nread);
  if (server_->read_rate_ > 0) {
    // Fault injection: pay for these bytes with a pause before the next read.
    throttled_ = true;
    const uint64_t delay_ms = std::max<uint64_t>(1, n * 1000 / server_->read_rate_);
    uv_timer_start(
        &throttle_timer_, [](uv_timer_t* t) { static_cast<Conn*>(t->data)->onThrottleTimer(); },
        delay_ms, 0);
  }
  // pending_input_ is empty here: reading only runs once it has drained.
  pumping_ = true;
  const size_t used = consume(buf->base, n);
  if (!closing_ && !stop_input_ && used < n) {
    pending_input_.append(buf->base + used, n - used);
  }
  pumping_ = false;
  if (!closing_ && phase_ == Phase::kBody) {
    armTimer(TimerKind::kBodyIdle, server_->options_.idle_timeout_ms);
  }
  pump();
}

void Conn::onThrottleTimer() {
  throttled_ = false;
  pump();
}

void Conn::onEof() {
  peer_eof_ = true;
  updateReading();
  maybeFinish();
}

// Feeds bytes to the parser until they run out or no further request may start; returns how
// many were used. Errors answer and stop input (everything counts as used then).
size_t Conn::consume(const char* data, size_t len) {
  size_t used = 0;
  while (used < len && canParse()) {
    const HttpRequestParser::Result r = parser_.feed(data + used, len - used);
    used += r.used;
    if (r.status == HttpRequestParser::Result::Status::kComplete) {
      // The parser stops after each request so that it is dispatched outside its callbacks.
      dispatch();
      continue;
    }
    if (r.status == HttpRequestParser::Result::Status::kError) {
      const ErrorReason reason = reasonOf(r.error);
      if (server_ != nullptr) {
        LOG_DEBUG(server_->options_.name, "{}: bad request: {}", peer_address_,
                  reason == ErrorReason::kMalformed ? std::string_view(r.detail)
                                                    : kReasonTags[static_cast<size_t>(reason)]);
      }
      fail(reason);
      return len;
    }
    if (r.used == 0) {
      fail(ErrorReason::kMalformed);  // no progress without an error: never spin
      return len;
    }
  }
  flush();  // a `100 Continue` may be owed
  return used;
}

// Parses buffered input while allowed, then decides whether to read more. Re-entrant calls
// (a handler answering synchronously) return at once; the outer loop re-checks.
void Conn::pump() {
  if (pumping_ || closing_) {
    return;
  }
  pumping_ = true;
  while (!closing_ && !pending_input_.empty() && canParse()) {
    const size_t used = consume(pending_input_.data(), pending_input_.size());
    if (closing_ || stop_input_) {
      pending_input_.clear();
      break;
    }
    if (used == 0) {
      break;
    }
    pending_input_.erase(0, used);
  }
  pumping_ = false;
  if (closing_) {
    return;
  }
  updateReading();
  maybeFinish();
}

void Conn::dispatch() {
  phase_ = Phase::kWaiting;
  Slot* slot = current_seq_ ? findSlot(*current_seq_) : nullptr;
  current_seq_.reset();
  if (slot == nullptr || server_ == nullptr) {
    return;
  }
  slot->complete = true;
  slot->continue_pending = false;
  HttpRequest request = parser_.takeRequest();
  slot->body_bytes = request.body.size();
  if (!slot->keep_alive || server_->shutting_down_) {
    stop_input_ = true;
  }
  stopTimer();
  request.peer_address = peer_address_;
  request.peer_pid = peer_pid_;
  request.peer_uid = peer_uid_;
  request.peer_gid = peer_gid_;
  request.peer.closed = gone_;
  uv_os_fd_t fd = -1;
  if (uv_fileno(&h_.handle, &fd) == 0) {
    request.peer.fd = fd;
  }
  std::weak_ptr<int> alive = server_->alive_;
  Impl* server = server_;
  const uint64_t conn_id = id_;
  const uint64_t seq = slot->seq;
  Respond respond = [alive, server, conn_id, seq](HttpResponse response) {
    if (alive.expired()) {
      return;
    }
    server->answer(conn_id, seq, std::move(response));
  };
  server_->handler_(request, std::move(respond));
  // The handler may have answered, closed this connection or destroyed the server.
  if (!closing_ && server_ != nullptr) {
    armWaitingTimer();
  }
}

void Conn::fail(ErrorReason reason) {
  if (server_ == nullptr || closing_) {
    return;
  }
  server_->countError(reason);
  stop_input_ = true;
  pending_input_.clear();
  phase_ = Phase::kWaiting;
  stopTimer();
  const int status = statusFor(reason);
  Slot* slot = current_seq_ ? findSlot(*current_seq_) : nullptr;
  current_seq_.reset();
  if (slot == nullptr) {
    slots_.push_back(Slot{});
    slot = &slots_.back();
    slot->seq = next_seq_++;
  }
  slot->complete = true;
  slot->answered = true;
  slot->continue_pending = false;
  slot->force_close = true;
  slot->head = false;
  slot->response = HttpResponse::text(status, fmt::format("{}\n", reasonPhrase(status)));
  parser_.discardRequest();
  updateReading();
  flush();
}

// --- parser events -----------------------------------------------------------------------------

void Conn::onRequestBegin() {
  phase_ = Phase::kHeaders;
  if (timer_kind_ != TimerKind::kHeaderDeadline) {
    armTimer(TimerKind::kHeaderDeadline, server_->options_.header_timeout_ms);
  }
}

void Conn::onRequestHead(const HttpRequest& request, const HttpRequestParser::Head& head) {
  Slot slot;
  slot.seq = next_seq_++;
  slot.keep_alive = head.keep_alive;
  slot.head = head.head;
  slot.http10 = head.http10;
  slot.continue_pending = head.body_expected && !slot.http10 &&
                          equalsIgnoreCase(trim(request.header("expect")), "100-continue");
  current_seq_ = slot.seq;
  slots_.push_back(std::move(slot));

  phase_ = Phase::kBody;
  armTimer(TimerKind::kBodyIdle, server_->options_.idle_timeout_ms);
}

// --- output ----------------------------------------------------------------------------------

Conn::Slot* Conn::findSlot(uint64_t seq) {
  for (Slot& s : slots_) {
    if (s.seq == seq) {
      return &s;
    }
  }
  return nullptr;
}

size_t Conn::inflightBodyBytes() const {
  size_t total = 0;
  for (const Slot& s : slots_) {
    total += s.body_bytes;
  }
  return total;
}

void Conn::answer(uint64_t seq, HttpResponse response) {
  if (closing_) {
    return;
  }
  Slot* slot = findSlot(seq);
  if (slot == nullptr || !slot->complete || slot->answered) {
    if (server_ != nullptr) {
      LOG_DEBUG(server_->options_.name, "{}: response for request {} ignored (answered twice?)",
                peer_address_, seq);
    }
    return;
  }
  slot->answered = true;
  slot->response = std::move(response);
  flush();
}

std::string Conn::serialize(const Slot& slot, bool close) {
  const HttpResponse& r = slot.response;
  const bool has_body = statusHasBody(r.status);
  std::string out;
  out.reserve(128 + r.body.size());
  fmt::format_to(std::back_inserter(out), "HTTP/1.1 {} {}\r\n", r.status, reasonPhrase(r.status));
  for (const auto& [name, value] : r.headers) {
    if (equalsIgnoreCase(name, "content-length") || equalsIgnoreCase(name, "connection") ||
        equalsIgnoreCase(name, "transfer-encoding")) {
      continue;
    }
    appendSanitized(out, name);
    out += ": ";
    appendSanitized(out, value);
    out += "\r\n";
  }
  if (has_body || r.status == 304) {
    fmt::format_to(std::back_inserter(out), "Content-Length: {}\r\n", r.body.size());
  }
  if (close) {
    out += "Connection: close\r\n";
  } else if (slot.http10) {
    out += "Connection: keep-alive\r\n";
  }
  out += "\r\n";
  if (has_body && !slot.head) {
    out += r.body;
  }
  return out;
}

// Writes every answered response at the head of the queue, in order.
void Conn::flush() {
  if (closing_ || finishing_ || server_ == nullptr) {
    return;
  }
  while (!slots_.empty()) {
    Slot& slot = slots_.front();
    if (!slot.answered) {
      if (slot.continue_pending && !slot.complete) {
        slot.continue_pending = false;
        write("HTTP/1.1 100 Continue\r\n\r\n");
      }
      break;
    }
    if (slot.response.drop_connection) {
      server_->countStatus("dropped");
      slots_.clear();
      stop_input_ = true;
      finish(/*linger=*/false);  // earlier responses still go out; this one never does
      return;
    }
    int& status = slot.response.status;
    if (status < 200 || status > 599) {
      LOG_WARN(server_->options_.name, "handler answered with invalid status {}; sending 500",
               status);
      status = 500;
    }
    const bool no_more_input = stop_input_ || (peer_eof_ && pending_input_.empty());
    bool close = !slot.keep_alive || slot.force_close ||
                 (slots_.size() == 1 && no_more_input && phase_ == Phase::kWaiting);
    for (const auto& [name, value] : slot.response.headers) {
      if (equalsIgnoreCase(name, "connection") && equalsIgnoreCase(trim(value), "close")) {
        close = true;
      }
    }
    server_->countStatus(std::to_string(status));
    write(serialize(slot, close));
    slots_.pop_front();
    if (close) {
      slots_.clear();
      stop_input_ = true;
      pending_input_.clear();
      finish(/*linger=*/!peer_eof_);
      return;
    }
  }
  armWaitingTimer();
  if (pending_input_.empty()) {
    updateReading();
    maybeFinish();
  } else if (!pumping_) {
    // Parse the requests waiting behind this answer on the next loop turn: responding never
    // calls back into the handler.
    server_->schedulePump(id_);
  }
}

void Conn::write(std::string data) {
  auto* w = new WriteReq{{}, std::move(data), this};
  w->req.data = w;
  uv_buf_t buf = uv_buf_init(w->data.data(), static_cast<unsigned>(w->data.size()));
  const int rc = uv_write(&w->req, &h_.stream, &buf, 1, [](uv_write_t* req, int status) {
    auto* w = static_cast<WriteReq*>(req->data);
    Conn* conn = w->conn;
    delete w;
    conn->onWriteDone(status);
  });
  if (rc != 0) {
    delete w;
    closeNow();
    return;
  }
  ++writes_in_flight_;
}

void Conn::onWriteDone(int status) {
  --writes_in_flight_;
  if (closing_) {
    return;
  }
  if (status < 0) {
    LOG_DEBUG(server_->options_.name, "{}: write error: {}", peer_address_, uv_strerror(status));
    closeNow();
    return;
  }
  pump();  // write back-pressure may have paused input
}

// The final response is queued: send FIN after it, then close (after draining what the peer
// still sends, for at most kLingerMs, so it reads the response rather than a reset).
void Conn::finish(bool linger) {
  if (closing_ || finishing_) {
    return;
  }
  finishing_ = true;
  linger_ = linger;
  stop_input_ = true;
  stopTimer();
  updateReading();
  if (writes_in_flight_ == 0 && !linger) {
    closeNow();
    return;
  }
  shutdown_req_.data = this;
  const int rc = uv_shutdown(&shutdown_req_, &h_.stream, [](uv_shutdown_t* req, int status) {
    auto* conn = static_cast<Conn*>(req->data);
    if (conn->closing_) {
      return;
    }
    const bool shutting_down = conn->server_ == nullptr || conn->server_->shutting_down_;
    if (status < 0 || !conn->linger_ || conn->peer_eof_ || shutting_down) {
      conn->closeNow();
      return;
    }
    conn->lingering_ = true;
    conn->armTimer(TimerKind::kLinger, kLingerMs);
    conn->updateReading();
  });
  if (rc != 0) {
    closeNow();
  }
}

// Closes once nothing more can arrive and every response is out.
void Conn::maybeFinish() {
  if (closing_ || finishing_) {
    return;
  }
  if (peer_eof_ && pending_input_.empty() && phase_ != Phase::kWaiting) {
    // The peer ended mid-request: that request can never complete.
    if (current_seq_) {
      const uint64_t seq = *current_seq_;
      slots_.erase(std::remove_if(slots_.begin(), slots_.end(),
                                  [seq](const Slot& s) { return s.seq == seq; }),
                   slots_.end());
      current_seq_.reset();
    }
    phase_ = Phase::kWaiting;
  }
  const bool no_more_input = stop_input_ || (peer_eof_ && pending_input_.empty());
  if (no_more_input && slots_.empty()) {
    finish(/*linger=*/false);
  }
}

// --- timers ----------------------------------------------------------------------------------

void Conn::armTimer(TimerKind kind, uint64_t ms) {
  timer_kind_ = kind;
  uv_timer_start(
      &timer_, [](uv_timer_t* t) { static_cast<Conn*>(t->data)->onTimer(); }, ms, 0);
}

void Conn::stopTimer() {
  timer_kind_ = TimerKind::kNone;
  uv_timer_stop(&timer_);
}

// Between requests: the keep-alive idle timer runs only when nothing is owed to the peer.
void Conn::armWaitingTimer() {
  if (closing_ || finishing_ || phase_ != Phase::kWaiting) {
    return;
  }
  if (slots_.empty() && !stop_input_ && pending_input_.empty()) {
    if (timer_kind_ != TimerKind::kKeepAliveIdle && timer_kind_ != TimerKind::kHeaderDeadline) {
      armTimer(TimerKind::kKeepAliveIdle, server_->options_.idle_timeout_ms);
    }
  } else if (timer_kind_ != TimerKind::kHeaderDeadline) {
    stopTimer();
  }
}

void Conn::onTimer() {
  if (closing_ || server_ == nullptr) {
    return;
  }
  const TimerKind kind = timer_kind_;
  timer_kind_ = TimerKind::kNone;
  switch (kind) {
    case TimerKind::kNone:
      return;
    case TimerKind::kHeaderDeadline:
      if (throttled_ || (!stop_input_ && !canParse())) {
        // We are the ones not reading (rate limit, back-pressure): not the peer's fault.
        armTimer(TimerKind::kHeaderDeadline, server_->options_.header_timeout_ms);
        return;
      }
      LOG_DEBUG(server_->options_.name, "{}: headers not complete within {} ms", peer_address_,
                server_->options_.header_timeout_ms);
      fail(ErrorReason::kHeaderTimeout);
      return;
    case TimerKind::kBodyIdle:
      if (throttled_) {
        armTimer(TimerKind::kBodyIdle, server_->options_.idle_timeout_ms);
        return;
      }
      LOG_DEBUG(server_->options_.name, "{}: request body stalled; closing", peer_address_);
      closeNow();
      return;
    case TimerKind::kKeepAliveIdle:
    case TimerKind::kLinger:
      closeNow();
      return;
  }
}

// ---------------------------------------------------------------------------------------------
// Impl

HttpServer::Impl::Impl(uv_loop_t* loop, Options options, Handler handler, Telemetry& telemetry)
    : loop_(loop),
      options_(std::move(options)),
      handler_(std::move(handler)),
      telemetry_(telemetry),
      server_tag_("server:" + options_.name),
      connections_gauge_(
          telemetry.gauge("outpost.http.connections", {server_tag_}, "open HTTP connections")),
      done_timer_(loop, [this] { maybeShutdownDone(); }),
      pump_timer_(loop, [this] { runScheduledPumps(); }),
      read_buffer_(std::make_unique<char[]>(kReadBufferBytes)) {
  ignoreSigpipeOnce();
  for (size_t i = 0; i < kReasonCount; ++i) {
    errors_[i] = &telemetry_.counter("outpost.http.errors",
                                     {server_tag_, "reason:" + std::string(kReasonTags[i])},
                                     "HTTP requests or connections refused, by reason");
  }
}

HttpServer::Impl::~Impl() {
  alive_.reset();
  closeListeners();
  for (auto& [id, conn] : conns_) {
    conn->closeNow();
    conn->server_ = nullptr;
  }
  conns_.clear();
}

void HttpServer::Impl::closeListeners() {
  for (Listener* l : listeners_) {
    l->close();
  }
  listeners_.clear();
}

size_t HttpServer::Impl::readChunk() const {
  if (read_rate_ == 0) {
    return kReadBufferBytes;
  }
  return std::clamp<size_t>(read_rate_ / 10, 1, kReadBufferBytes);
}

void HttpServer::Impl::countStatus(std::string_view status) {
  auto it = status_counters_.find(std::string(status));
  if (it == status_counters_.end()) {
    Counter* c =
        &telemetry_.counter("outpost.http.requests", {server_tag_, "status:" + std::string(status)},
                            "HTTP responses sent, by status");
    it = status_counters_.emplace(std::string(status), c).first;
  }
  it->second->inc();
}

void HttpServer::Impl::connectionClosing() {
  --open_;
  connections_gauge_.add(-1);  // add, not set: servers may share a name
}

void HttpServer::Impl::connectionFreed(Connection* conn) {
  conns_.erase(conn->id_);
  maybeShutdownDone();
}

void HttpServer::Impl::schedulePump(uint64_t conn_id) {
  if (std::find(to_pump_.begin(), to_pump_.end(), conn_id) == to_pump_.end()) {
    to_pump_.push_back(conn_id);
  }
  pump_timer_.start(0);
}

void HttpServer::Impl::runScheduledPumps() {
  std::vector<uint64_t> ids;
  ids.swap(to_pump_);
  for (uint64_t id : ids) {
    auto it = conns_.find(id);
    if (it != conns_.end()) {
      it->second->pump();
    }
  }
}

void HttpServer::Impl::maybeShutdownDone() {
  if (!shutting_down_ || !conns_.empty() || shutdown_done_.empty()) {
    return;
  }
  auto done = std::move(shutdown_done_);
  shutdown_done_.clear();
  for (auto& fn : done) {
    if (fn) {
      fn();
    }
  }
}

bool HttpServer::Impl::listenTcp(const std::string& host, int port, std::string* error) {
  const std::string ip = host == "localhost" ? "127.0.0.1" : host;
  const bool v6 = ip.find(':') != std::string::npos;
  const std::string where = v6 ? fmt::format("[{}]:{}", ip, port) : fmt::format("{}:{}", ip, port);
  auto set_error = [&](std::string_view what) {
    if (error != nullptr) {
      *error = fmt::format("cannot listen on {}: {}", where, what);
    }
    return false;
  };
  if (shutting_down_) {
    return set_error("the server is shut down");
  }
  if (port < 0 || port > 65535) {
    return set_error("port out of range");
  }
  sockaddr_storage addr{};
  int rc = v6 ? uv_ip6_addr(ip.c_str(), port, reinterpret_cast<sockaddr_in6*>(&addr))
              : uv_ip4_addr(ip.c_str(), port, reinterpret_cast<sockaddr_in*>(&addr));
  if (rc != 0) {
    return set_error("not an IPv4 or IPv6 address (or \"localhost\")");
  }
  auto* l = new Listener{};
  l->server = this;
  uv_tcp_init(loop_, &l->h.tcp);
  l->h.handle.data = l;
  rc = uv_tcp_bind(&l->h.tcp, reinterpret_cast<const sockaddr*>(&addr), 0);
  if (rc == 0) {
    rc = startAccepting(l);
  }
  if (rc != 0) {
    l->close();
    return set_error(uv_strerror(rc));
  }
  sockaddr_storage bound{};
  int len = sizeof(bound);
  if (uv_tcp_getsockname(&l->h.tcp, reinterpret_cast<sockaddr*>(&bound), &len) == 0 && port_ == 0) {
    port_ = ntohs(bound.ss_family == AF_INET6 ? reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port
                                              : reinterpret_cast<sockaddr_in*>(&bound)->sin_port);
  }
  listeners_.push_back(l);
  LOG_DEBUG(options_.name, "listening on {}", formatSockaddr(bound));
  return true;
}

bool HttpServer::Impl::listenUnix(const std::string& path, int mode, std::string* error) {
  auto set_error = [&](std::string_view what) {
    if (error != nullptr) {
      *error = fmt::format("cannot listen on unix socket {}: {}", path, what);
    }
    return false;
  };
  if (shutting_down_) {
    return set_error("the server is shut down");
  }
  if (path.empty() || path.size() >= sizeof(sockaddr_un::sun_path)) {
    return set_error(fmt::format("path must be 1 to {} bytes", sizeof(sockaddr_un::sun_path) - 1));
  }
  struct stat st {};
  if (::lstat(path.c_str(), &st) == 0) {
    if (!S_ISSOCK(st.st_mode)) {
      return set_error("a file that is not a socket is in the way");
    }
    // Stale only if nobody answers on it: another live process keeps its socket.
    sockaddr_un probe_addr{};
    probe_addr.sun_family = AF_UNIX;
    std::memcpy(probe_addr.sun_path, path.c_str(), path.size() + 1);
    const int probe = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (probe >= 0) {
      const int rc = ::connect(probe, reinterpret_cast<sockaddr*>(&probe_addr), sizeof probe_addr);
      const bool live = rc == 0 || errno == EAGAIN || errno == EINPROGRESS;
      ::close(probe);
      if (live) {
        return set_error("another process is listening on it");
      }
    }
    if (::unlink(path.c_str()) != 0 && errno != ENOENT) {
      return set_error(fmt::format("cannot remove the stale socket: {}", std::strerror(errno)));
    }
  }
  auto* l = new Listener{};
  l->server = this;
  l->is_unix = true;
  uv_pipe_init(loop_, &l->h.pipe, 0);
  l->h.handle.data = l;
  int rc = uv_pipe_bind(&l->h.pipe, path.c_str());
  if (rc != 0) {
    l->close();
    return set_error(uv_strerror(rc));
  }
  l->path = path;
  if (::stat(path.c_str(), &st) == 0) {
    l->dev = st.st_dev;
    l->ino = st.st_ino;
  }
  // Before listen(): nobody can connect with the umask's permissions in between.
  if (::chmod(path.c_str(), static_cast<mode_t>(mode)) != 0) {
    const int e = errno;
    l->close();
    return set_error(fmt::format("chmod {:o}: {}", mode, std::strerror(e)));
  }
  rc = startAccepting(l);
  if (rc != 0) {
    l->close();
    return set_error(uv_strerror(rc));
  }
  listeners_.push_back(l);
  LOG_DEBUG(options_.name, "listening on unix socket {}", path);
  return true;
}

int HttpServer::Impl::startAccepting(Listener* l) {
  return uv_listen(&l->h.stream, SOMAXCONN, [](uv_stream_t* s, int status) {
    auto* listener = static_cast<Listener*>(s->data);
    if (status < 0) {
      LOG_WARN(listener->server->options_.name, "accept failed: {}", uv_strerror(status));
      return;
    }
    listener->server->onAccept(listener);
  });
}

void HttpServer::Impl::onAccept(Listener* listener) {
  auto* conn = new Connection(this, next_conn_id_++, listener->is_unix);
  conns_.emplace(conn->id_, conn);
  if (!conn->accept(&listener->h.stream)) {
    conn->closeNow();
    return;
  }
  if (open_ >= options_.max_connections) {
    countError(ErrorReason::kTooManyConnections);
    LOG_DEBUG(options_.name, "{}: over max_connections ({}); closing", conn->peer_address_,
              options_.max_connections);
    conn->closeNow();
    return;
  }
  conn->counted_ = true;
  ++open_;
  connections_gauge_.add(1);
  conn->start();
}

void HttpServer::Impl::answer(uint64_t conn_id, uint64_t seq, HttpResponse response) {
  auto it = conns_.find(conn_id);
  if (it == conns_.end()) {
    return;  // the connection went away; the response has nowhere to go
  }
  it->second->answer(seq, std::move(response));
}

void HttpServer::Impl::setReadRateLimit(uint64_t bytes_per_second) {
  read_rate_ = bytes_per_second;
  if (bytes_per_second != 0) {
    return;
  }
  for (auto& [id, conn] : conns_) {
    if (conn->throttled_ && !conn->closing_) {
      uv_timer_stop(&conn->throttle_timer_);
      conn->onThrottleTimer();
    }
  }
}

void HttpServer::Impl::shutdown(std::function<void()> done) {
  shutdown_done_.push_back(std::move(done));
  if (!shutting_down_) {
    shutting_down_ = true;
    closeListeners();
    std::vector<Connection*> conns;
    conns.reserve(conns_.size());
    for (auto& [id, conn] : conns_) {
      conns.push_back(conn);
    }
    for (Connection* conn : conns) {
      conn->onServerShutdown();
    }
  }
  done_timer_.start(0);  // `done` never runs inside shutdown() itself
}

// ---------------------------------------------------------------------------------------------
// HttpServer

HttpServer::HttpServer(uv_loop_t* loop, Options options, Handler handler, Telemetry& telemetry)
    : impl_(std::make_unique<Impl>(loop, std::move(options), std::move(handler), telemetry)) {}

HttpServer::~HttpServer() = default;

bool HttpServer::listenTcp(const std::string& host, int port, std::string* error) {
  return impl_->listenTcp(host, port, error);
}

bool HttpServer::listenUnix(const std::string& path, int mode, std::string* error) {
  return impl_->listenUnix(path, mode, error);
}

int HttpServer::port() const {
  return impl_->port_;
}

void HttpServer::setReadRateLimit(uint64_t bytes_per_second) {
  impl_->setReadRateLimit(bytes_per_second);
}

void HttpServer::shutdown(std::function<void()> done) {
  impl_->shutdown(std::move(done));
}

size_t HttpServer::openConnections() const {
  return impl_->open_;
}

}  // namespace outpost
