#include "collector/sources/dogstatsd/listeners.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <vector>

#include "core/config.h"
#include "core/log.h"

namespace outpost::dogstatsd {

namespace {

constexpr std::string_view kComponent = "dogstatsd";
constexpr size_t kStreamReadChunk = 64 * 1024;
constexpr size_t kControlSize = CMSG_SPACE(sizeof(struct ucred));
constexpr int kStreamBacklog = 128;
constexpr mode_t kSocketMode = 0660;

struct Counters {
  Counter* packets;
  Counter* bytes;
  Counter* truncated;
  Counter* receive_errors;
  Counter* frame_errors;
};

Counters makeCounters(Telemetry& telemetry, Transport transport) {
  std::vector<std::string> tags{fmt::format("transport:{}", transportName(transport))};
  return Counters{
      &telemetry.counter("outpost.dogstatsd.packets", tags, "DogStatsD datagrams received"),
      &telemetry.counter("outpost.dogstatsd.bytes", tags, "DogStatsD bytes received"),
      &telemetry.counter("outpost.dogstatsd.truncated", tags,
                         "DogStatsD datagrams longer than dogstatsd_buffer_size, truncated"),
      &telemetry.counter("outpost.dogstatsd.receive_errors", tags, "DogStatsD socket read errors"),
      &telemetry.counter("outpost.dogstatsd.frame_errors", tags,
                         "DogStatsD stream frames rejected (too long or cut by EOF)"),
  };
}

// Closes a file descriptor on scope exit unless released.
class FdGuard {
 public:
  explicit FdGuard(int fd) : fd_(fd) {}
  ~FdGuard() {
    if (fd_ >= 0) {
      ::close(fd_);
    }
  }
  FdGuard(const FdGuard&) = delete;
  FdGuard& operator=(const FdGuard&) = delete;
  int get() const { return fd_; }
  int release() {
    int fd = fd_;
    fd_ = -1;
    return fd;
  }

 private:
  int fd_;
};

std::string errnoText(int err) {
  return std::strerror(err);
}

// Removes a leftover socket file at `path`; refuses to remove anything that is not a socket.
bool removeStaleSocket(const std::string& path, std::string_view what, std::string* error) {
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) {
      return true;
    }
    *error = fmt::format("dogstatsd {}: cannot stat {}: {}", what, path, errnoText(errno));
    return false;
  }
  if (!S_ISSOCK(st.st_mode)) {
    *error = fmt::format("dogstatsd {}: {} exists and is not a socket", what, path);
    return false;
  }
  if (::unlink(path.c_str()) != 0) {
    *error = fmt::format("dogstatsd {}: cannot remove stale socket {}: {}", what, path,
                         errnoText(errno));
    return false;
  }
  return true;
}

bool checkPathLength(const std::string& path, std::string_view what, std::string* error) {
  if (path.size() >= sizeof(sockaddr_un{}.sun_path)) {
    *error = fmt::format("dogstatsd {}: socket path too long ({} bytes, at most {}): {}", what,
                         path.size(), sizeof(sockaddr_un{}.sun_path) - 1, path);
    return false;
  }
  return true;
}

// Applies dogstatsd_so_rcvbuf (when > 0) and returns the effective size.
int applyReceiveBuffer(int fd, int64_t requested, std::string_view what) {
  if (requested > 0) {
    int value = requested > INT32_MAX ? INT32_MAX : static_cast<int>(requested);
    if (::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &value, sizeof(value)) != 0) {
      LOG_WARN(kComponent, "{}: setsockopt(SO_RCVBUF, {}) failed: {}", what, value,
               errnoText(errno));
    }
  }
  int effective = 0;
  socklen_t len = sizeof(effective);
  if (::getsockopt(fd, SOL_SOCKET, SO_RCVBUF, &effective, &len) != 0) {
    return 0;
  }
  if (requested > 0 && effective < requested) {
    LOG_WARN(kComponent,
             "{}: dogstatsd_so_rcvbuf {} requested, the kernel gives {} (see net.core.rmem_max)",
             what, requested, effective);
  }
  return effective;
}

uint32_t readLe32(const char* p) {
  auto* b = reinterpret_cast<const unsigned char*>(p);
  return static_cast<uint32_t>(b[0]) | (static_cast<uint32_t>(b[1]) << 8) |
         (static_cast<uint32_t>(b[2]) << 16) | (static_cast<uint32_t>(b[3]) << 24);
}

}  // namespace

std::string_view transportName(Transport transport) {
  switch (transport) {
    case Transport::kUdp:
      return "udp";
    case Transport::kUds:
      return "uds";
    case Transport::kUdsStream:
      return "uds_stream";
  }
  return "unknown";
}

ListenerOptions ListenerOptions::fromConfig(const Config& config) {
  ListenerOptions o;
  o.port = config.dogstatsd_port;
  o.bind_host = config.bind_host;
  o.non_local_traffic = config.dogstatsd_non_local_traffic;
  o.socket_path = config.dogstatsd_socket;
  o.stream_socket_path = config.dogstatsd_stream_socket;
  o.buffer_size = config.dogstatsd_buffer_size > 0
                      ? static_cast<size_t>(config.dogstatsd_buffer_size)
                      : ListenerOptions{}.buffer_size;
  o.so_rcvbuf = config.dogstatsd_so_rcvbuf;
  return o;
}

// ---------------------------------------------------------------------------------------------
// Datagram sockets (UDP and unixgram): a non-blocking fd under a uv_poll, read with recvmmsg.

struct DogStatsdListeners::DatagramSocket {
  uv_poll_t handle;  // first: the close callback frees the whole struct
  int fd = -1;
  Transport transport = Transport::kUdp;
  DogStatsdListeners* owner = nullptr;
  Counters counters{};
  size_t buffer_size = 0;
  int max_batches = 16;
  bool closing = false;
  std::string unlink_path;  // unixgram: removed on close
  std::vector<char> buffers;
  std::vector<char> control;
  std::array<mmsghdr, kBatchSize> msgs{};
  std::array<iovec, kBatchSize> iovs{};

  void onReadable();
  void close();
};

void DogStatsdListeners::DatagramSocket::close() {
  if (closing) {
    return;
  }
  closing = true;
  if (!unlink_path.empty()) {
    ::unlink(unlink_path.c_str());
  }
  uv_poll_stop(&handle);
  uv_close(reinterpret_cast<uv_handle_t*>(&handle), [](uv_handle_t* h) {
    auto* self = static_cast<DatagramSocket*>(h->data);
    ::close(self->fd);
    delete self;
  });
}

void DogStatsdListeners::DatagramSocket::onReadable() {
  const bool want_creds = transport == Transport::kUds;
  for (int batch = 0; batch < max_batches; ++batch) {
    for (int i = 0; i < kBatchSize; ++i) {
      msghdr& h = msgs[i].msg_hdr;
      h.msg_name = nullptr;
      h.msg_namelen = 0;
      h.msg_iov = &iovs[i];
      h.msg_iovlen = 1;
      h.msg_control = want_creds ? control.data() + i * kControlSize : nullptr;
      h.msg_controllen = want_creds ? kControlSize : 0;
      h.msg_flags = 0;
      msgs[i].msg_len = 0;
    }
    int n = ::recvmmsg(fd, msgs.data(), kBatchSize, MSG_DONTWAIT, nullptr);
    if (n < 0) {
      if (errno == EINTR) {
        continue;
      }
      if (errno != EAGAIN && errno != EWOULDBLOCK) {
        counters.receive_errors->inc();
        LOG_DEBUG(kComponent, "{}: recvmmsg: {}", transportName(transport), errnoText(errno));
      }
      return;
    }
    for (int i = 0; i < n; ++i) {
      const msghdr& h = msgs[i].msg_hdr;
      Origin origin{transport, 0};
      if (want_creds && h.msg_controllen > 0) {
        for (cmsghdr* c = CMSG_FIRSTHDR(&h); c != nullptr;
             c = CMSG_NXTHDR(const_cast<msghdr*>(&h), c)) {
          if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_CREDENTIALS &&
              c->cmsg_len >= CMSG_LEN(sizeof(ucred))) {
            ucred cred{};
            std::memcpy(&cred, CMSG_DATA(c), sizeof(cred));
            origin.pid = cred.pid;
          }
        }
      }
      if ((h.msg_flags & MSG_TRUNC) != 0) {
        counters.truncated->inc();
      }
      size_t len = msgs[i].msg_len;
      counters.packets->inc();
      counters.bytes->inc(len);
      owner->handler_(std::string_view(buffers.data() + i * buffer_size, len), origin);
      if (closing) {
        return;  // the handler stopped the listeners
      }
    }
    if (n < kBatchSize) {
      return;  // the queue is empty
    }
  }
  // Still busy: the level-triggered poll calls again after the loop's other work.
}

namespace {

DogStatsdListeners::DatagramSocket* startDatagram(uv_loop_t* loop, int fd, Transport transport,
                                                  DogStatsdListeners* owner, Counters counters,
                                                  size_t buffer_size, int max_batches,
                                                  std::string* error) {
  auto* s = new DogStatsdListeners::DatagramSocket();
  s->fd = fd;
  s->transport = transport;
  s->owner = owner;
  s->counters = counters;
  s->buffer_size = buffer_size;
  s->max_batches = max_batches > 0 ? max_batches : 1;
  s->buffers.resize(buffer_size * kBatchSize);
  if (transport == Transport::kUds) {
    s->control.resize(kControlSize * kBatchSize);
  }
  for (int i = 0; i < kBatchSize; ++i) {
    s->iovs[i].iov_base = s->buffers.data() + i * buffer_size;
    s->iovs[i].iov_len = buffer_size;
  }
  int rc = uv_poll_init(loop, &s->handle, fd);
  if (rc != 0) {
    *error =
        fmt::format("dogstatsd {}: uv_poll_init: {}", transportName(transport), uv_strerror(rc));
    ::close(fd);
    delete s;
    return nullptr;
  }
  s->handle.data = s;
  uv_poll_start(&s->handle, UV_READABLE, [](uv_poll_t* h, int status, int) {
    auto* self = static_cast<DogStatsdListeners::DatagramSocket*>(h->data);
    if (status < 0) {
      self->counters.receive_errors->inc();
      LOG_WARN(kComponent, "{}: poll error: {}", transportName(self->transport),
               uv_strerror(status));
      return;
    }
    self->onReadable();
  });
  return s;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Stream socket: a libuv pipe server; each connection reassembles length-prefixed frames.

struct DogStatsdListeners::StreamServer {
  uv_pipe_t handle;  // first
  DogStatsdListeners* owner = nullptr;
  Counters counters{};
  std::string path;
};

struct DogStatsdListeners::StreamConnection {
  uv_pipe_t handle;  // first
  DogStatsdListeners* owner = nullptr;
  Counters counters{};
  pid_t pid = 0;
  bool closing = false;
  std::string pending;  // bytes of an incomplete frame
  std::vector<char> read_buf = std::vector<char>(kStreamReadChunk);

  void onData(const char* data, size_t n);
};

void DogStatsdListeners::StreamConnection::onData(const char* data, size_t n) {
  const size_t max_frame = owner->options_.buffer_size;
  const bool buffered = !pending.empty();
  if (buffered) {
    pending.append(data, n);
  }
  std::string_view in = buffered ? std::string_view(pending) : std::string_view(data, n);
  size_t off = 0;
  while (in.size() - off >= 4) {
    uint32_t len = readLe32(in.data() + off);
    if (len > max_frame) {
      counters.frame_errors->inc();
      LOG_WARN(kComponent,
               "uds_stream: frame of {} bytes exceeds dogstatsd_buffer_size {}; closing the "
               "connection (pid {})",
               len, max_frame, pid);
      owner->closeConnection(this);
      return;
    }
    if (in.size() - off - 4 < len) {
      break;
    }
    if (len > 0) {
      counters.packets->inc();
      counters.bytes->inc(len);
      owner->handler_(in.substr(off + 4, len), Origin{Transport::kUdsStream, pid});
      if (closing) {
        return;
      }
    }
    off += 4 + len;
  }
  if (buffered) {
    pending.erase(0, off);
  } else {
    pending.assign(in.substr(off));
  }
}

void DogStatsdListeners::closeConnection(StreamConnection* conn) {
  if (conn->closing) {
    return;
  }
  conn->closing = true;
  connections_.erase(conn);
  uv_close(reinterpret_cast<uv_handle_t*>(&conn->handle),
           [](uv_handle_t* h) { delete static_cast<StreamConnection*>(h->data); });
}

// ---------------------------------------------------------------------------------------------

DogStatsdListeners::DogStatsdListeners(uv_loop_t* loop, Telemetry& telemetry,
                                       DatagramHandler handler)
    : loop_(loop), telemetry_(telemetry), handler_(std::move(handler)) {}

DogStatsdListeners::~DogStatsdListeners() {
  stop();
}

bool DogStatsdListeners::start(const ListenerOptions& options, std::string* error) {
  stop();
  options_ = options;
  if (options_.buffer_size == 0) {
    *error = "dogstatsd: dogstatsd_buffer_size must be positive";
    return false;
  }
  if (!openUdp(error) || !openUnixgram(error) || !openStream(error)) {
    stop();
    return false;
  }
  return true;
}

void DogStatsdListeners::stop() {
  drops_timer_.reset();
  if (udp_ != nullptr) {
    udp_->close();
    udp_ = nullptr;
  }
  if (uds_ != nullptr) {
    uds_->close();
    uds_ = nullptr;
  }
  if (stream_ != nullptr) {
    // libuv unlinks a bound pipe's path when it closes it.
    uv_close(reinterpret_cast<uv_handle_t*>(&stream_->handle),
             [](uv_handle_t* h) { delete static_cast<StreamServer*>(h->data); });
    stream_ = nullptr;
  }
  auto conns = connections_;
  for (StreamConnection* conn : conns) {
    closeConnection(conn);
  }
  udp_port_ = 0;
  udp_rcvbuf_ = 0;
  udp_inode_ = 0;
}

bool DogStatsdListeners::openUdp(std::string* error) {
  if (options_.port == 0 && !options_.udp_ephemeral_port) {
    LOG_INFO(kComponent, "udp: dogstatsd_port is 0, UDP listener off");
    return true;
  }
  if (options_.port < 0 || options_.port > 65535) {
    *error = fmt::format("dogstatsd udp: dogstatsd_port {} out of range", options_.port);
    return false;
  }
  std::string host = options_.bind_host;
  if (options_.non_local_traffic) {
    host = "0.0.0.0";
  } else if (host.empty() || host == "localhost") {
    host = "127.0.0.1";
  }
  int port = static_cast<int>(options_.port);
  sockaddr_storage addr{};
  socklen_t addr_len = 0;
  std::string address;
  if (uv_ip4_addr(host.c_str(), port, reinterpret_cast<sockaddr_in*>(&addr)) == 0) {
    addr_len = sizeof(sockaddr_in);
    udp_ipv6_ = false;
    address = fmt::format("{}:{}", host, port);
  } else if (uv_ip6_addr(host.c_str(), port, reinterpret_cast<sockaddr_in6*>(&addr)) == 0) {
    addr_len = sizeof(sockaddr_in6);
    udp_ipv6_ = true;
    address = fmt::format("[{}]:{}", host, port);
  } else {
    *error =
        fmt::format("dogstatsd udp: bind_host '{}' is not an IP address (or \"localhost\")", host);
    return false;
  }

  FdGuard fd(::socket(addr.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (fd.get() < 0) {
    *error = fmt::format("dogstatsd udp: socket: {}", errnoText(errno));
    return false;
  }
  int rcvbuf = applyReceiveBuffer(fd.get(), options_.so_rcvbuf, "udp");
  if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), addr_len) != 0) {
    *error = fmt::format("dogstatsd udp: cannot bind {}: {}", address, errnoText(errno));
    return false;
  }
  sockaddr_storage bound{};
  socklen_t bound_len = sizeof(bound);
  if (::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&bound), &bound_len) != 0) {
    *error = fmt::format("dogstatsd udp: getsockname: {}", errnoText(errno));
    return false;
  }
  uint16_t bound_port = bound.ss_family == AF_INET6
                            ? ntohs(reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port)
                            : ntohs(reinterpret_cast<sockaddr_in*>(&bound)->sin_port);
  struct stat st {};
  uint64_t inode = ::fstat(fd.get(), &st) == 0 ? static_cast<uint64_t>(st.st_ino) : 0;

  udp_ = startDatagram(loop_, fd.release(), Transport::kUdp, this,
                       makeCounters(telemetry_, Transport::kUdp), options_.buffer_size,
                       options_.max_batches_per_wake, error);
  if (udp_ == nullptr) {
    return false;
  }
  udp_port_ = bound_port;
  udp_rcvbuf_ = rcvbuf;
  udp_inode_ = inode;
  udp_drops_ = &telemetry_.gauge("outpost.dogstatsd.udp_drops", {"transport:udp"},
                                 "Datagrams the kernel dropped on the DogStatsD UDP socket");
  if (options_.drops_interval_ms > 0) {
    drops_timer_ = std::make_unique<Timer>(loop_, [this] { readUdpDrops(); });
    drops_timer_->start(options_.drops_interval_ms, options_.drops_interval_ms);
    drops_timer_->unref();
  }
  LOG_INFO(
      kComponent, "udp: listening on {} (SO_RCVBUF {} bytes, buffer {} bytes)",
      udp_ipv6_ ? fmt::format("[{}]:{}", host, bound_port) : fmt::format("{}:{}", host, bound_port),
      rcvbuf, options_.buffer_size);
  return true;
}

bool DogStatsdListeners::openUnixgram(std::string* error) {
  const std::string& path = options_.socket_path;
  if (path.empty()) {
    return true;
  }
  if (!checkPathLength(path, "uds", error) || !removeStaleSocket(path, "uds", error)) {
    return false;
  }
  FdGuard fd(::socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (fd.get() < 0) {
    *error = fmt::format("dogstatsd uds: socket: {}", errnoText(errno));
    return false;
  }
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, path.data(), path.size());
  if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    *error = fmt::format("dogstatsd uds: cannot bind {}: {}", path, errnoText(errno));
    return false;
  }
  if (::chmod(path.c_str(), kSocketMode) != 0) {
    *error = fmt::format("dogstatsd uds: chmod {}: {}", path, errnoText(errno));
    ::unlink(path.c_str());
    return false;
  }
  int on = 1;
  if (::setsockopt(fd.get(), SOL_SOCKET, SO_PASSCRED, &on, sizeof(on)) != 0) {
    LOG_WARN(kComponent, "uds: SO_PASSCRED: {}; sender pids unavailable", errnoText(errno));
  }
  int rcvbuf = applyReceiveBuffer(fd.get(), options_.so_rcvbuf, "uds");
  uds_ = startDatagram(loop_, fd.release(), Transport::kUds, this,
                       makeCounters(telemetry_, Transport::kUds), options_.buffer_size,
                       options_.max_batches_per_wake, error);
  if (uds_ == nullptr) {
    ::unlink(path.c_str());
    return false;
  }
  uds_->unlink_path = path;
  LOG_INFO(kComponent, "uds: listening on {} (SO_RCVBUF {} bytes)", path, rcvbuf);
  return true;
}

bool DogStatsdListeners::openStream(std::string* error) {
  const std::string& path = options_.stream_socket_path;
  if (path.empty()) {
    return true;
  }
  if (!checkPathLength(path, "uds_stream", error) ||
      !removeStaleSocket(path, "uds_stream", error)) {
    return false;
  }
  auto* server = new StreamServer();
  server->owner = this;
  server->counters = makeCounters(telemetry_, Transport::kUdsStream);
  server->path = path;
  uv_pipe_init(loop_, &server->handle, 0);
  server->handle.data = server;
  stream_ = server;  // from here on stop() closes it
  int rc = uv_pipe_bind(&server->handle, path.c_str());
  if (rc != 0) {
    *error = fmt::format("dogstatsd uds_stream: cannot bind {}: {}", path, uv_strerror(rc));
    return false;
  }
  if (::chmod(path.c_str(), kSocketMode) != 0) {
    *error = fmt::format("dogstatsd uds_stream: chmod {}: {}", path, errnoText(errno));
    return false;
  }
  rc = uv_listen(reinterpret_cast<uv_stream_t*>(&server->handle), kStreamBacklog,
                 [](uv_stream_t* h, int status) {
                   auto* srv = static_cast<StreamServer*>(h->data);
                   DogStatsdListeners* self = srv->owner;
                   if (status < 0) {
                     srv->counters.receive_errors->inc();
                     LOG_WARN(kComponent, "uds_stream: accept: {}", uv_strerror(status));
                     return;
                   }
                   auto* conn = new StreamConnection();
                   conn->owner = self;
                   conn->counters = srv->counters;
                   uv_pipe_init(self->loop_, &conn->handle, 0);
                   conn->handle.data = conn;
                   self->connections_.insert(conn);
                   int arc = uv_accept(h, reinterpret_cast<uv_stream_t*>(&conn->handle));
                   if (arc != 0) {
                     srv->counters.receive_errors->inc();
                     LOG_WARN(kComponent, "uds_stream: accept: {}", uv_strerror(arc));
                     self->closeConnection(conn);
                     return;
                   }
                   uv_os_fd_t fd = -1;
                   if (uv_fileno(reinterpret_cast<uv_handle_t*>(&conn->handle), &fd) == 0) {
                     ucred cred{};
                     socklen_t len = sizeof(cred);
                     if (::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0) {
                       conn->pid = cred.pid;
                     }
                   }
                   uv_read_start(
                       reinterpret_cast<uv_stream_t*>(&conn->handle),
                       [](uv_handle_t* hh, size_t, uv_buf_t* buf) {
                         auto* c = static_cast<StreamConnection*>(hh->data);
                         *buf = uv_buf_init(c->read_buf.data(),
                                            static_cast<unsigned>(c->read_buf.size()));
                       },
                       [](uv_stream_t* hs, ssize_t nread, const uv_buf_t* buf) {
                         auto* c = static_cast<StreamConnection*>(hs->data);
                         if (nread > 0) {
                           c->onData(buf->base, static_cast<size_t>(nread));
                           return;
                         }
                         if (nread == 0) {
                           return;  // EAGAIN
                         }
                         if (nread == UV_EOF) {
                           if (!c->pending.empty()) {
                             c->counters.frame_errors->inc();  // cut mid-frame
                           }
                         } else {
                           c->counters.receive_errors->inc();
                           LOG_DEBUG(kComponent, "uds_stream: read: {}", uv_strerror(nread));
                         }
                         c->owner->closeConnection(c);
                       });
                 });
  if (rc != 0) {
    *error = fmt::format("dogstatsd uds_stream: listen on {}: {}", path, uv_strerror(rc));
    return false;
  }
  LOG_INFO(kComponent, "uds_stream: listening on {}", path);
  return true;
}

std::optional<uint64_t> DogStatsdListeners::readUdpDrops() {
  if (udp_ == nullptr || udp_inode_ == 0) {
    return std::nullopt;
  }
  std::ifstream in(udp_ipv6_ ? "/proc/net/udp6" : "/proc/net/udp");
  if (!in) {
    return std::nullopt;
  }
  std::stringstream ss;
  ss << in.rdbuf();
  std::optional<uint64_t> drops = parseProcNetUdpDrops(ss.str(), udp_inode_);
  if (drops && udp_drops_ != nullptr) {
    udp_drops_->set(static_cast<int64_t>(*drops));
  }
  return drops;
}

std::optional<uint64_t> parseProcNetUdpDrops(std::string_view content, uint64_t inode) {
  // Columns: sl local_address rem_address st tx_queue:rx_queue tr:tm->when retrnsmt uid timeout
  //          inode ref pointer drops
  constexpr size_t kInodeColumn = 9;
  constexpr size_t kDropsColumn = 12;
  const std::string wanted = std::to_string(inode);
  size_t pos = content.find('\n');  // skip the header
  while (pos != std::string_view::npos && pos < content.size()) {
    size_t end = content.find('\n', pos + 1);
    std::string_view line = content.substr(
        pos + 1, end == std::string_view::npos ? std::string_view::npos : end - pos - 1);
    pos = end;
    std::vector<std::string_view> cols;
    size_t i = 0;
    while (i < line.size()) {
      while (i < line.size() && (line[i] == ' ' || line[i] == '\t')) {
        ++i;
      }
      size_t start = i;
      while (i < line.size() && line[i] != ' ' && line[i] != '\t') {
        ++i;
      }
      if (i > start) {
        cols.push_back(line.substr(start, i - start));
      }
    }
    if (cols.size() <= kDropsColumn || cols[kInodeColumn] != wanted) {
      continue;
    }
    uint64_t drops = 0;
    for (char c : cols[kDropsColumn]) {
      if (c < '0' || c > '9') {
        return std::nullopt;
      }
      drops = drops * 10 + static_cast<uint64_t>(c - '0');
    }
    return drops;
  }
  return std::nullopt;
}

}  // namespace outpost::dogstatsd
