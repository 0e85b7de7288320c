#include "collector/sources/logs/network_input.h"

#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <utility>

#include "core/log.h"

namespace outpost::logs {

namespace {

constexpr std::string_view kComponent = "logs";
constexpr size_t kReadBufferSize = 64 * 1024;  // also the largest UDP datagram
constexpr int kBacklog = 128;

std::string_view protocolName(NetworkLogInput::Protocol p) {
  return p == NetworkLogInput::Protocol::kTcp ? "tcp" : "udp";
}

std::string formatPeer(const sockaddr* addr) {
  if (addr == nullptr) {
    return "unknown";
  }
  char ip[INET6_ADDRSTRLEN] = {};
  if (addr->sa_family == AF_INET) {
    const auto* a = reinterpret_cast<const sockaddr_in*>(addr);
    uv_ip4_name(a, ip, sizeof(ip));
    return fmt::format("{}:{}", ip, ntohs(a->sin_port));
  }
  if (addr->sa_family == AF_INET6) {
    const auto* a = reinterpret_cast<const sockaddr_in6*>(addr);
    uv_ip6_name(a, ip, sizeof(ip));
    return fmt::format("[{}]:{}", ip, ntohs(a->sin6_port));
  }
  return "unknown";
}

std::string_view stripCr(std::string_view line) {
  if (!line.empty() && line.back() == '\r') {
    line.remove_suffix(1);
  }
  return line;
}

// Lines in `data` that would be handed on (non-empty after stripping '\r'), counting each
// frame_size piece of a long line.
uint64_t countLines(std::string_view data, size_t frame_size) {
  uint64_t n = 0;
  size_t off = 0;
  while (off < data.size()) {
    size_t nl = data.find('\n', off);
    size_t end = nl == std::string_view::npos ? data.size() : nl;
    std::string_view line = stripCr(data.substr(off, end - off));
    n += (line.size() + frame_size - 1) / frame_size;
    off = end + 1;
  }
  return n;
}

}  // namespace

struct NetworkLogInput::Handle {
  union {
    uv_handle_t handle;
    uv_stream_t stream;
    uv_tcp_t tcp;
    uv_udp_t udp;
  } u{};
  NetworkLogInput* owner = nullptr;
  bool closing = false;

  Handle() = default;
  Handle(const Handle&) = delete;
  Handle& operator=(const Handle&) = delete;
  virtual ~Handle() = default;
};

struct NetworkLogInput::Connection : NetworkLogInput::Handle {
  std::string peer;
  std::string pending;  // bytes read and not yet handed on
  uint64_t last_activity_ms = 0;
  bool cut = false;      // the line at the front of `pending` was already cut (and counted)
  bool reading = false;  // uv_read_start is active
  bool eof = false;      // the peer closed (or the read failed): no more bytes will come
};

NetworkLogInput::NetworkLogInput(uv_loop_t* loop, Telemetry& telemetry, Options options,
                                 OnLine on_line)
    : loop_(loop),
      telemetry_(telemetry),
      options_(std::move(options)),
      on_line_(std::move(on_line)) {}

NetworkLogInput::~NetworkLogInput() {
  drain_timer_.reset();
  idle_timer_.reset();
  // The handles outlive us until their close callbacks run: detach them first.
  for (Handle* h : handles_) {
    h->owner = nullptr;
    if (!h->closing) {
      h->closing = true;
      if (h->u.handle.type == UV_UDP) {
        uv_udp_recv_stop(&h->u.udp);
      }
      uv_close(&h->u.handle, [](uv_handle_t* hh) { delete static_cast<Handle*>(hh->data); });
    }
  }
  handles_.clear();
  connections_.clear();
}

void NetworkLogInput::registerCounters() {
  std::vector<std::string> tags{fmt::format("input:{}", name_)};
  counters_.lines =
      &telemetry_.counter("outpost.logs.input.lines", tags, "Log lines received by tcp/udp inputs");
  counters_.bytes =
      &telemetry_.counter("outpost.logs.input.bytes", tags, "Bytes read by tcp/udp log inputs");
  counters_.connections = &telemetry_.counter("outpost.logs.input.connections", tags,
                                              "TCP connections accepted by log inputs");
  counters_.refused = &telemetry_.counter("outpost.logs.input.refused_connections", tags,
                                          "TCP connections closed at once: max_connections");
  counters_.truncated = &telemetry_.counter("outpost.logs.input.truncated", tags,
                                            "Log lines longer than frame_size, cut in pieces");
  counters_.receive_errors = &telemetry_.counter("outpost.logs.input.receive_errors", tags,
                                                 "Socket errors on tcp/udp log inputs");
  std::vector<std::string> bp_tags = tags;
  bp_tags.emplace_back("reason:backpressure");
  counters_.dropped_backpressure = &telemetry_.counter(
      "outpost.logs.input.dropped", bp_tags, "Log lines dropped by tcp/udp inputs, by reason");
  counters_.open_connections = &telemetry_.gauge("outpost.logs.input.open_connections", tags,
                                                 "Open TCP connections of log inputs");
}

bool NetworkLogInput::start(std::string* error) {
  const std::string_view proto = protocolName(options_.protocol);
  const std::string label = options_.name.empty() ? std::string(proto) : options_.name;
  if (server_ != nullptr) {
    *error = fmt::format("logs {} input {}: already started", proto, label);
    return false;
  }
  if (options_.port < 0 || options_.port > 65535) {
    *error = fmt::format("logs {} input {}: port {} out of range", proto, label, options_.port);
    return false;
  }
  if (options_.frame_size == 0) {
    *error = fmt::format("logs {} input {}: frame_size must be positive", proto, label);
    return false;
  }
  std::string host = options_.bind_host;
  if (host.empty() || host == "localhost") {
    host = "127.0.0.1";
  }
  sockaddr_storage addr{};
  std::string address;
  if (uv_ip4_addr(host.c_str(), options_.port, reinterpret_cast<sockaddr_in*>(&addr)) == 0) {
    address = fmt::format("{}:{}", host, options_.port);
  } else if (uv_ip6_addr(host.c_str(), options_.port, reinterpret_cast<sockaddr_in6*>(&addr)) ==
             0) {
    address = fmt::format("[{}]:{}", host, options_.port);
  } else {
    *error = fmt::format("logs {} input {}: bind_host '{}' is not an IP address (or \"localhost\")",
                         proto, label, host);
    return false;
  }
  stopping_ = false;
  read_buf_.resize(kReadBufferSize);
  bool ok = options_.protocol == Protocol::kTcp
                ? startTcp(reinterpret_cast<const sockaddr*>(&addr), address, error)
                : startUdp(reinterpret_cast<const sockaddr*>(&addr), address, error);
  if (!ok) {
    if (server_ != nullptr) {
      closeHandle(server_);
      server_ = nullptr;
    }
    return false;
  }
  name_ = options_.name.empty() ? fmt::format("{}:{}", proto, bound_port_) : options_.name;
  registerCounters();
  drain_timer_ = std::make_unique<Timer>(loop_, [this] {
    auto conns = std::vector<Connection*>(connections_.begin(), connections_.end());
    for (Connection* c : conns) {
      if (paused_ || stopping_) {
        return;
      }
      if (!c->closing) {
        service(c);
      }
    }
  });
  if (options_.protocol == Protocol::kTcp && options_.idle_timeout_ms > 0) {
    uint64_t period = std::max<uint64_t>(1, static_cast<uint64_t>(options_.idle_timeout_ms) / 4);
    idle_timer_ = std::make_unique<Timer>(loop_, [this] { sweepIdle(); });
    idle_timer_->start(period, period);
  }
  LOG_INFO(kComponent, "{} input {}: listening on {}", proto, name_,
           address.substr(0, address.rfind(':')) + fmt::format(":{}", bound_port_));
  return true;
}

bool NetworkLogInput::startTcp(const sockaddr* addr, const std::string& address,
                               std::string* error) {
  const std::string label = options_.name.empty() ? "tcp" : options_.name;
  auto* server = new Handle();
  uv_tcp_init(loop_, &server->u.tcp);
  server->u.handle.data = server;
  server->owner = this;
  handles_.insert(server);
  server_ = server;
  int rc = uv_tcp_bind(&server->u.tcp, addr, 0);
  if (rc == 0) {
    rc = uv_listen(&server->u.stream, kBacklog, [](uv_stream_t* s, int status) {
      auto* h = static_cast<Handle*>(s->data);
      if (h->owner != nullptr) {
        h->owner->onAccept(status);
      }
    });
  }
  if (rc != 0) {
    *error = fmt::format("logs tcp input {}: cannot bind {}: {}", label, address, uv_strerror(rc));
    return false;
  }
  sockaddr_storage bound{};
  int len = sizeof(bound);
  if (uv_tcp_getsockname(&server->u.tcp, reinterpret_cast<sockaddr*>(&bound), &len) == 0) {
    bound_port_ = bound.ss_family == AF_INET6
                      ? ntohs(reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port)
                      : ntohs(reinterpret_cast<sockaddr_in*>(&bound)->sin_port);
  }
  return true;
}

bool NetworkLogInput::startUdp(const sockaddr* addr, const std::string& address,
                               std::string* error) {
  const std::string label = options_.name.empty() ? "udp" : options_.name;
  auto* sock = new Handle();
  uv_udp_init(loop_, &sock->u.udp);
  sock->u.handle.data = sock;
  sock->owner = this;
  handles_.insert(sock);
  server_ = sock;
  int rc = uv_udp_bind(&sock->u.udp, addr, 0);
  if (rc != 0) {
    *error = fmt::format("logs udp input {}: cannot bind {}: {}", label, address, uv_strerror(rc));
    return false;
  }
  rc = uv_udp_recv_start(
      &sock->u.udp,
      [](uv_handle_t* h, size_t, uv_buf_t* buf) {
        auto* self = static_cast<Handle*>(h->data);
        if (self->owner == nullptr) {
          *buf = uv_buf_init(nullptr, 0);
          return;
        }
        *buf = uv_buf_init(self->owner->read_buf_.data(),
                           static_cast<unsigned>(self->owner->read_buf_.size()));
      },
      [](uv_udp_t* h, ssize_t nread, const uv_buf_t* buf, const sockaddr* from, unsigned flags) {
        auto* self = static_cast<Handle*>(h->data);
        NetworkLogInput* owner = self->owner;
        if (owner == nullptr || self->closing) {
          return;
        }
        if (nread < 0) {
          owner->counters_.receive_errors->inc();
          LOG_DEBUG(kComponent, "udp input {}: recv: {}", owner->name_, uv_strerror(nread));
          return;
        }
        if (nread == 0 && from == nullptr) {
          return;  // nothing more to read
        }
        if ((flags & UV_UDP_PARTIAL) != 0) {
          owner->counters_.truncated->inc();
        }
        owner->onDatagram(std::string_view(buf->base, static_cast<size_t>(nread)), from);
      });
  if (rc != 0) {
    *error = fmt::format("logs udp input {}: cannot read {}: {}", label, address, uv_strerror(rc));
    return false;
  }
  sockaddr_storage bound{};
  int len = sizeof(bound);
  if (uv_udp_getsockname(&sock->u.udp, reinterpret_cast<sockaddr*>(&bound), &len) == 0) {
    bound_port_ = bound.ss_family == AF_INET6
                      ? ntohs(reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port)
                      : ntohs(reinterpret_cast<sockaddr_in*>(&bound)->sin_port);
  }
  return true;
}

void NetworkLogInput::onAccept(int status) {
  if (status < 0) {
    counters_.receive_errors->inc();
    LOG_WARN(kComponent, "tcp input {}: accept: {}", name_, uv_strerror(status));
    return;
  }
  auto* conn = new Connection();
  uv_tcp_init(loop_, &conn->u.tcp);
  conn->u.handle.data = static_cast<Handle*>(conn);
  conn->owner = this;
  handles_.insert(conn);
  int rc = uv_accept(&server_->u.stream, &conn->u.stream);
  if (rc != 0) {
    counters_.receive_errors->inc();
    LOG_WARN(kComponent, "tcp input {}: accept: {}", name_, uv_strerror(rc));
    closeHandle(conn);
    return;
  }
  sockaddr_storage peer{};
  int len = sizeof(peer);
  if (uv_tcp_getpeername(&conn->u.tcp, reinterpret_cast<sockaddr*>(&peer), &len) == 0) {
    conn->peer = formatPeer(reinterpret_cast<sockaddr*>(&peer));
  } else {
    conn->peer = "unknown";
  }
  if (connections_.size() >= options_.max_connections) {
    counters_.refused->inc();
    LOG_WARN(kComponent, "tcp input {}: {} connections open (max_connections); refusing {}", name_,
             connections_.size(), conn->peer);
    closeHandle(conn);
    return;
  }
  connections_.insert(conn);
  counters_.connections->inc();
  counters_.open_connections->set(static_cast<int64_t>(connections_.size()));
  conn->last_activity_ms = uv_now(loop_);
  if (!paused_) {
    startReading(conn);
  }
}

void NetworkLogInput::startReading(Connection* conn) {
  if (conn->reading || conn->eof || conn->closing) {
    return;
  }
  int rc = uv_read_start(
      &conn->u.stream,
      [](uv_handle_t* h, size_t, uv_buf_t* buf) {
        auto* c = static_cast<Connection*>(static_cast<Handle*>(h->data));
        if (c->owner == nullptr) {
          *buf = uv_buf_init(nullptr, 0);
          return;
        }
        *buf = uv_buf_init(c->owner->read_buf_.data(),
                           static_cast<unsigned>(c->owner->read_buf_.size()));
      },
      [](uv_stream_t* s, ssize_t nread, const uv_buf_t* buf) {
        auto* c = static_cast<Connection*>(static_cast<Handle*>(s->data));
        if (c->owner == nullptr || c->closing) {
          return;
        }
        if (nread > 0) {
          c->pending.append(buf->base, static_cast<size_t>(nread));
        }
        c->owner->onTcpRead(c, nread);
      });
  if (rc != 0) {
    counters_.receive_errors->inc();
    conn->eof = true;
    service(conn);
    return;
  }
  conn->reading = true;
}

void NetworkLogInput::onTcpRead(Connection* conn, ssize_t nread) {
  if (nread == 0) {
    return;  // EAGAIN
  }
  if (nread > 0) {
    counters_.bytes->inc(static_cast<uint64_t>(nread));
    conn->last_activity_ms = uv_now(loop_);
    service(conn);
    return;
  }
  if (nread != UV_EOF) {
    counters_.receive_errors->inc();
    LOG_DEBUG(kComponent, "tcp input {}: read from {}: {}", name_, conn->peer, uv_strerror(nread));
  }
  onTcpEnd(conn);
}

void NetworkLogInput::onTcpEnd(Connection* conn) {
  conn->eof = true;
  if (conn->reading) {
    uv_read_stop(&conn->u.stream);
    conn->reading = false;
  }
  service(conn);
}

void NetworkLogInput::service(Connection* conn) {
  drain(conn, conn->eof);
  if (conn->eof && conn->pending.empty() && !conn->closing) {
    closeHandle(conn);
  }
}

void NetworkLogInput::drain(Connection* conn, bool eof) {
  const size_t frame = options_.frame_size;
  std::string_view data(conn->pending);
  size_t off = 0;
  while (!paused_ && !stopping_ && !conn->closing && off < data.size()) {
    size_t nl = data.find('\n', off);
    if (nl != std::string_view::npos) {
      std::string_view line = stripCr(data.substr(off, nl - off));
      size_t sent = 0;
      if (!emitLine(line, conn->peer, &sent, &conn->cut)) {
        off += sent;
        break;
      }
      off = nl + 1;
      conn->cut = false;
      continue;
    }
    size_t avail = data.size() - off;
    if (eof) {
      std::string_view line = stripCr(data.substr(off));
      size_t sent = 0;
      if (!emitLine(line, conn->peer, &sent, &conn->cut)) {
        off += sent;
        break;
      }
      off = data.size();
      conn->cut = false;
      break;
    }
    // An incomplete line: cut a piece once it cannot fit a frame any more. A line of exactly
    // frame_size bytes followed by "\r\n" may still be whole, so a lone trailing '\r' waits.
    if (avail > frame + 1 || (avail == frame + 1 && data.back() != '\r')) {
      if (!conn->cut) {
        counters_.truncated->inc();
        conn->cut = true;
      }
      counters_.lines->inc();
      on_line_(data.substr(off, frame), conn->peer);
      off += frame;
      continue;
    }
    break;
  }
  conn->pending.erase(0, off);
}

bool NetworkLogInput::emitLine(std::string_view line, std::string_view peer, size_t* sent,
                               bool* cut) {
  *sent = 0;
  const size_t frame = options_.frame_size;
  if (line.size() > frame && !*cut) {
    counters_.truncated->inc();
    *cut = true;
  }
  while (*sent < line.size()) {
    if (paused_ || stopping_) {
      return false;
    }
    std::string_view piece = line.substr(*sent, frame);
    counters_.lines->inc();
    on_line_(piece, peer);
    *sent += piece.size();
  }
  return true;
}

void NetworkLogInput::onDatagram(std::string_view data, const sockaddr* addr) {
  counters_.bytes->inc(data.size());
  if (paused_) {
    counters_.dropped_backpressure->inc(countLines(data, options_.frame_size));
    return;
  }
  const std::string peer = formatPeer(addr);
  size_t off = 0;
  while (off < data.size()) {
    size_t nl = data.find('\n', off);
    size_t end = nl == std::string_view::npos ? data.size() : nl;
    std::string_view line = stripCr(data.substr(off, end - off));
    size_t sent = 0;
    bool cut = false;
    if (!emitLine(line, peer, &sent, &cut)) {
      if (stopping_) {
        return;
      }
      // Paused by the callback: the rest of the datagram cannot wait anywhere.
      std::string_view rest = line.substr(sent);
      uint64_t dropped = (rest.size() + options_.frame_size - 1) / options_.frame_size;
      if (end < data.size()) {
        dropped += countLines(data.substr(end + 1), options_.frame_size);
      }
      counters_.dropped_backpressure->inc(dropped);
      return;
    }
    off = end + 1;
  }
}

void NetworkLogInput::pause() {
  if (paused_) {
    return;
  }
  paused_ = true;
  if (drain_timer_) {
    drain_timer_->stop();
  }
  for (Connection* c : connections_) {
    if (c->reading) {
      uv_read_stop(&c->u.stream);
      c->reading = false;
    }
  }
}

void NetworkLogInput::resume() {
  if (!paused_ || stopping_) {
    paused_ = false;
    return;
  }
  paused_ = false;
  const uint64_t now = uv_now(loop_);
  for (Connection* c : connections_) {
    c->last_activity_ms = now;  // time paused is not idleness
    startReading(c);
  }
  if (drain_timer_) {
    drain_timer_->start(0);
  }
}

void NetworkLogInput::sweepIdle() {
  if (paused_ || stopping_) {
    return;
  }
  const uint64_t now = uv_now(loop_);
  const auto limit = static_cast<uint64_t>(options_.idle_timeout_ms);
  auto conns = std::vector<Connection*>(connections_.begin(), connections_.end());
  for (Connection* c : conns) {
    if (!c->closing && !c->eof && now - c->last_activity_ms >= limit) {
      LOG_DEBUG(kComponent, "tcp input {}: closing {} idle for {} ms", name_, c->peer,
                now - c->last_activity_ms);
      onTcpEnd(c);
      if (paused_ || stopping_) {
        return;
      }
    }
  }
}

void NetworkLogInput::closeHandle(Handle* h) {
  if (h->closing) {
    return;
  }
  h->closing = true;
  ++closing_handles_;
  auto* conn = dynamic_cast<Connection*>(h);
  if (conn != nullptr && connections_.erase(conn) > 0 && counters_.open_connections != nullptr) {
    counters_.open_connections->set(static_cast<int64_t>(connections_.size()));
  }
  if (h->u.handle.type == UV_UDP) {
    uv_udp_recv_stop(&h->u.udp);
  }
  uv_close(&h->u.handle, [](uv_handle_t* hh) {
    auto* self = static_cast<Handle*>(hh->data);
    NetworkLogInput* owner = self->owner;
    if (owner != nullptr) {
      owner->onHandleClosed(self);
    }
    delete self;
  });
}

void NetworkLogInput::onHandleClosed(Handle* h) {
  handles_.erase(h);
  --closing_handles_;
  if (closing_handles_ == 0 && stopping_ && on_stopped_) {
    auto done = std::move(on_stopped_);
    on_stopped_ = nullptr;
    done();
  }
}

void NetworkLogInput::stop(std::function<void()> done) {
  stopping_ = true;
  drain_timer_.reset();
  idle_timer_.reset();
  if (server_ != nullptr) {
    closeHandle(server_);
    server_ = nullptr;
  }
  auto conns = std::vector<Connection*>(connections_.begin(), connections_.end());
  for (Connection* c : conns) {
    closeHandle(c);
  }
  if (closing_handles_ == 0) {
    if (done) {
      done();
    }
    return;
  }
  on_stopped_ = std::move(done);
}

}  // namespace outpost::logs
