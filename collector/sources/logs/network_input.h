#pragma once

// `type: tcp` and `type: udp` log sources (wire-formats.md §3.6, §3.11): a syslog-style line input
// on the libuv loop. Syslog hosts send both ways, so one class serves both protocols.
//
// Pipeline: socket → per-connection line splitter (frame_size) → OnLine.
//
// - TCP: any number of connections at once (up to max_connections; more are accepted and closed
//   at once, counted in outpost.logs.input.refused_connections). Each connection keeps its own
//   partial line; a line ends at '\n', and at EOF (or a read error) a non-empty partial line is
//   emitted. A connection silent for idle_timeout_ms is closed (0: never).
// - UDP: each datagram holds one or more '\n'-separated lines; the last newline is optional.
// - A trailing '\r' is stripped; empty lines are skipped. Bytes are handed on as received (the
//   decoder fixes UTF-8 later), so binary input is just bytes.
// - A line longer than frame_size bytes is cut into frame_size pieces, each handed on as a line;
//   the line is counted once in outpost.logs.input.truncated.
// - Back-pressure: pause() stops reading every TCP connection (the kernel buffers, then the sender
//   blocks) and no OnLine call happens until resume(), even for bytes already read, which are
//   kept. UDP cannot push back: lines of datagrams read while paused are dropped and counted in
//   outpost.logs.input.dropped{reason:backpressure}.
//
// Telemetry, tagged input:<name>: outpost.logs.input.lines, .bytes (bytes read from the socket),
// .connections (TCP connections accepted), .refused_connections, .truncated,
// .dropped{reason:backpressure}, .receive_errors; gauge outpost.logs.input.open_connections.
//
// Loop thread only.

#include <uv.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

#include "core/loop.h"
#include "core/telemetry.h"

namespace outpost::logs {

class NetworkLogInput {
 public:
  enum class Protocol { kTcp, kUdp };
  struct Options {
    Protocol protocol = Protocol::kTcp;
    std::string bind_host = "127.0.0.1";  // loopback unless configured; "0.0.0.0"/"::" allowed
    int port = 0;                         // 0: ephemeral (tests)
    size_t frame_size = 9000;  // logs_config.frame_size: longest line kept whole; longer are cut
    size_t max_connections = 256;  // tcp; more are refused and counted
    int64_t idle_timeout_ms = 0;   // tcp: 0 = none
    std::string name;              // telemetry tag input:<name> and logs; empty: "<tcp|udp>:<port>"
  };
  // One line (no '\n', trailing '\r' stripped, never empty; bytes as received) and the peer
  // address "ip:port" ("[ip6]:port" for IPv6). Both views are valid only during the call. The
  // callback may call pause() or stop(), but must not destroy the input.
  using OnLine = std::function<void(std::string_view line, std::string_view peer)>;

  NetworkLogInput(uv_loop_t* loop, Telemetry& telemetry, Options options, OnLine on_line);
  ~NetworkLogInput();  // closes what is still open (the loop frees the handles later)
  NetworkLogInput(const NetworkLogInput&) = delete;
  NetworkLogInput& operator=(const NetworkLogInput&) = delete;

  // Binds and listens. On failure returns false with `error` naming the input and address, e.g.
  // "logs tcp input tcp:514: cannot bind 127.0.0.1:514: address already in use"; nothing stays
  // open.
  bool start(std::string* error);
  int boundPort() const { return bound_port_; }
  const std::string& name() const { return name_; }

  void pause();
  // Starts reading again; lines already read while paused are handed on from the loop shortly
  // after (not inside this call).
  void resume();
  bool paused() const { return paused_; }

  // Closes every handle; `done` runs once all are closed (at once if none was open).
  void stop(std::function<void()> done = {});

  size_t openConnections() const { return connections_.size(); }

  struct Connection;
  struct Handle;

 private:
  struct Counters {
    Counter* lines = nullptr;
    Counter* bytes = nullptr;
    Counter* connections = nullptr;
    Counter* refused = nullptr;
    Counter* truncated = nullptr;
    Counter* dropped_backpressure = nullptr;
    Counter* receive_errors = nullptr;
    Gauge* open_connections = nullptr;
  };

  bool startTcp(const sockaddr* addr, const std::string& address, std::string* error);
  bool startUdp(const sockaddr* addr, const std::string& address, std::string* error);
  void registerCounters();
  void onAccept(int status);
  void onTcpRead(Connection* conn, ssize_t nread);
  void onTcpEnd(Connection* conn);
  // Hands on every complete line in conn->pending, while not paused. `eof`: the rest too.
  void drain(Connection* conn, bool eof);
  void onDatagram(std::string_view data, const sockaddr* addr);
  // Emits `line` (already without '\n'), cut into frame_size pieces. Returns false if the input
  // got paused or stopped by the callback before all pieces went out; `*sent` is how many bytes
  // of `line` went out.
  bool emitLine(std::string_view line, std::string_view peer, size_t* sent, bool* cut);
  // Drains conn and closes it once it reached EOF and every byte went out.
  void service(Connection* conn);
  void startReading(Connection* conn);
  void closeHandle(Handle* handle);
  void onHandleClosed(Handle* handle);
  void sweepIdle();

  uv_loop_t* loop_;
  Telemetry& telemetry_;
  Options options_;
  OnLine on_line_;
  std::string name_;
  Counters counters_;

  Handle* server_ = nullptr;  // uv_tcp_t listener or uv_udp_t socket; freed by its close callback
  std::unordered_set<Connection*> connections_;
  std::vector<char> read_buf_;  // one shared read buffer: reads are handled synchronously
  std::unique_ptr<Timer> drain_timer_;
  std::unique_ptr<Timer> idle_timer_;
  int bound_port_ = 0;
  bool paused_ = false;
  bool stopping_ = false;
  size_t closing_handles_ = 0;
  std::function<void()> on_stopped_;
  std::unordered_set<Handle*> handles_;  // every handle not yet freed, closing ones included
};

}  // namespace outpost::logs
