#pragma once

// DogStatsD listeners (spec: wire-formats.md §1.1): a UDP socket, a Unix datagram socket and a Unix
// stream socket, each handing every datagram it receives to one callback on the loop thread.
//
// Pipeline: socket → batched read (recvmmsg, up to kBatchSize datagrams per syscall) → handler.
//
// - UDP binds `bind_host` ("localhost" is 127.0.0.1), or 0.0.0.0 with non_local_traffic. Port 0
//   turns it off (the spec's meaning, unlike the usual "any port"); tests that need an ephemeral
//   port set `udp_ephemeral_port`.
// - Datagram sockets are non-blocking and driven by a uv_poll: each readiness callback drains with
//   recvmmsg until EAGAIN, but stops after max_batches_per_wake batches so one busy sender cannot
//   starve the loop (the level-triggered poll fires again on the next iteration).
// - Each datagram gets `buffer_size` bytes; a longer one is cut by the kernel (MSG_TRUNC), handed
//   on truncated, and counted in outpost.dogstatsd.truncated.
// - The Unix stream socket carries frames of a 4-byte little-endian length and that many bytes. A
//   frame longer than `buffer_size` is counted in outpost.dogstatsd.frame_errors and its connection
//   closed (the stream cannot be resynchronised).
// - On Unix sockets the sender's pid comes from SCM_CREDENTIALS (datagram, SO_PASSCRED) or
//   SO_PEERCRED (stream); 0 when the kernel gives none.
//
// Telemetry, tagged transport:<udp|uds|uds_stream>: outpost.dogstatsd.packets, .bytes, .truncated,
// .receive_errors, .frame_errors; and the gauge outpost.dogstatsd.udp_drops (the kernel's drop
// count for our UDP socket, from /proc/net/udp{,6}), refreshed every `drops_interval_ms`.

#include <sys/types.h>
#include <uv.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_set>

#include "core/loop.h"
#include "core/telemetry.h"

namespace outpost {
struct Config;
}

namespace outpost::dogstatsd {

enum class Transport { kUdp, kUds, kUdsStream };
// "udp", "uds", "uds_stream": the telemetry tag value.
std::string_view transportName(Transport transport);

struct Origin {
  Transport transport = Transport::kUdp;
  pid_t pid = 0;  // sender pid on Unix sockets when the kernel reports it; 0 otherwise
};

// Called once per datagram (or stream frame). `datagram` is valid only during the call. The
// handler may call DogStatsdListeners::stop(), but must not destroy the listeners.
using DatagramHandler = std::function<void(std::string_view datagram, const Origin& origin)>;

struct ListenerOptions {
  int64_t port = 8125;                  // dogstatsd_port; 0 disables UDP
  bool udp_ephemeral_port = false;      // tests: bind UDP to a kernel-chosen port even if port is 0
  std::string bind_host = "localhost";  // bind_host
  bool non_local_traffic = false;       // dogstatsd_non_local_traffic: bind all interfaces
  std::string socket_path;              // dogstatsd_socket; empty disables
  std::string stream_socket_path;       // dogstatsd_stream_socket; empty disables
  size_t buffer_size = 8192;            // dogstatsd_buffer_size: bytes per datagram / max frame
  int64_t so_rcvbuf = 0;                // dogstatsd_so_rcvbuf; 0 keeps the OS default
  uint64_t drops_interval_ms = 15'000;  // udp_drops gauge refresh; 0 disables the timer
  int max_batches_per_wake = 16;        // recvmmsg calls per poll callback before yielding

  static ListenerOptions fromConfig(const Config& config);
};

inline constexpr int kBatchSize = 32;  // datagrams per recvmmsg

// Owns the three listeners. Loop thread only.
class DogStatsdListeners {
 public:
  DogStatsdListeners(uv_loop_t* loop, Telemetry& telemetry, DatagramHandler handler);
  ~DogStatsdListeners();  // stop()
  DogStatsdListeners(const DogStatsdListeners&) = delete;
  DogStatsdListeners& operator=(const DogStatsdListeners&) = delete;

  // Opens every enabled listener. On failure returns false with `error` naming the transport and
  // address (e.g. "dogstatsd udp: cannot bind 127.0.0.1:8125: address already in use"), and
  // nothing stays open.
  bool start(const ListenerOptions& options, std::string* error);
  // Closes every socket and connection; idempotent. The Unix socket files are removed.
  void stop();

  // The bound UDP port, 0 when UDP is off.
  uint16_t udpPort() const { return udp_port_; }
  // SO_RCVBUF as the kernel reports it after setsockopt (Linux doubles the request), 0 when off.
  int udpReceiveBuffer() const { return udp_rcvbuf_; }
  // Open stream connections (tests, status).
  size_t streamConnections() const { return connections_.size(); }
  // The kernel's drop count for our UDP socket, nullopt if UDP is off or unreadable. Also
  // updates the udp_drops gauge.
  std::optional<uint64_t> readUdpDrops();

  struct DatagramSocket;
  struct StreamServer;
  struct StreamConnection;

 private:
  friend struct StreamServer;
  friend struct StreamConnection;

  bool openUdp(std::string* error);
  bool openUnixgram(std::string* error);
  bool openStream(std::string* error);
  void closeConnection(StreamConnection* conn);

  uv_loop_t* loop_;
  Telemetry& telemetry_;
  DatagramHandler handler_;
  ListenerOptions options_;

  DatagramSocket* udp_ = nullptr;  // freed by its close callback
  DatagramSocket* uds_ = nullptr;
  StreamServer* stream_ = nullptr;
  std::unordered_set<StreamConnection*> connections_;
  std::unique_ptr<Timer> drops_timer_;
  uint16_t udp_port_ = 0;
  int udp_rcvbuf_ = 0;
  bool udp_ipv6_ = false;
  uint64_t udp_inode_ = 0;
  Gauge* udp_drops_ = nullptr;
};

// Finds the `drops` column of the /proc/net/udp{,6} row whose inode is `inode`.
std::optional<uint64_t> parseProcNetUdpDrops(std::string_view content, uint64_t inode);

}  // namespace outpost::dogstatsd
