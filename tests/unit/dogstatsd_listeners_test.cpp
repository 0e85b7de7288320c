#include "collector/sources/dogstatsd/listeners.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <functional>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "core/config.h"
#include "core/loop.h"
#include "core/telemetry.h"
#include "tests/support/test_support.h"

namespace outpost::dogstatsd {
namespace {

struct Received {
  std::string data;
  Origin origin;
};

int64_t counterValue(const Telemetry& t, std::string_view name, Transport transport) {
  return t.valueOf(name, {fmt::format("transport:{}", transportName(transport))});
}

class ListenersTest : public ::testing::Test {
 protected:
  ListenersTest()
      : listeners_(std::make_unique<DogStatsdListeners>(
            loop_.get(), telemetry_, [this](std::string_view d, const Origin& o) {
              got_.push_back({std::string(d), o});
              if (on_datagram_) {
                on_datagram_();
              }
            })) {}

  ~ListenersTest() override { listeners_.reset(); }

  // Runs the loop until `done` holds (checked every millisecond) or 5 s pass.
  bool runUntil(const std::function<bool()>& done) {
    bool timed_out = false;
    Timer check(loop_.get(), [&] {
      if (done()) {
        loop_.stop();
      }
    });
    Timer deadline(loop_.get(), [&] {
      timed_out = true;
      loop_.stop();
    });
    check.start(0, 1);
    deadline.start(5000);
    loop_.run();
    return !timed_out && done();
  }

  ListenerOptions udpOnly(size_t buffer_size = 8192) {
    ListenerOptions o;
    o.port = 0;
    o.udp_ephemeral_port = true;
    o.buffer_size = buffer_size;
    return o;
  }

  Loop loop_;
  Telemetry telemetry_;
  std::vector<Received> got_;
  std::function<void()> on_datagram_;
  std::unique_ptr<DogStatsdListeners> listeners_;
};

class UdpSender {
 public:
  explicit UdpSender(uint16_t port) : fd_(::socket(AF_INET, SOCK_DGRAM, 0)) {
    addr_.sin_family = AF_INET;
    addr_.sin_port = htons(port);
    addr_.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  }
  ~UdpSender() { ::close(fd_); }
  bool send(std::string_view d) {
    return ::sendto(fd_, d.data(), d.size(), 0, reinterpret_cast<sockaddr*>(&addr_),
                    sizeof(addr_)) == static_cast<ssize_t>(d.size());
  }

 private:
  int fd_;
  sockaddr_in addr_{};
};

sockaddr_un unixAddr(const std::string& path) {
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  std::snprintf(a.sun_path, sizeof(a.sun_path), "%s", path.c_str());
  return a;
}

std::string frame(std::string_view payload) {
  uint32_t n = static_cast<uint32_t>(payload.size());
  std::string out;
  out.push_back(static_cast<char>(n & 0xff));
  out.push_back(static_cast<char>((n >> 8) & 0xff));
  out.push_back(static_cast<char>((n >> 16) & 0xff));
  out.push_back(static_cast<char>((n >> 24) & 0xff));
  out.append(payload);
  return out;
}

void writeAll(int fd, std::string_view d) {
  ASSERT_EQ(::write(fd, d.data(), d.size()), static_cast<ssize_t>(d.size()));
}

TEST_F(ListenersTest, UdpBurstArrivesInOrder) {
  std::string error;
  ASSERT_TRUE(listeners_->start(udpOnly(), &error)) << error;
  ASSERT_NE(listeners_->udpPort(), 0);
  EXPECT_GT(listeners_->udpReceiveBuffer(), 0);

  // 1000 datagrams, sent by this thread while the loop is not running, in chunks of 200: a small
  // datagram costs the receive buffer about 800 bytes of kernel overhead, so the default 208 KiB
  // holds about 256 of them. Each chunk is drained in several recvmmsg batches.
  constexpr int kCount = 1000;
  constexpr int kChunk = 200;
  UdpSender sender(listeners_->udpPort());
  int64_t bytes = 0;
  for (int start = 0; start < kCount; start += kChunk) {
    for (int i = start; i < start + kChunk; ++i) {
      std::string d = fmt::format("metric.{}:1|c", i);
      bytes += static_cast<int64_t>(d.size());
      ASSERT_TRUE(sender.send(d));
    }
    size_t want = static_cast<size_t>(start + kChunk);
    ASSERT_TRUE(runUntil([&] { return got_.size() >= want; })) << got_.size();
  }
  ASSERT_EQ(got_.size(), static_cast<size_t>(kCount));
  for (int i = 0; i < kCount; ++i) {
    EXPECT_EQ(got_[i].data, fmt::format("metric.{}:1|c", i));
    EXPECT_EQ(got_[i].origin.transport, Transport::kUdp);
    EXPECT_EQ(got_[i].origin.pid, 0);
  }
  EXPECT_EQ(counterValue(telemetry_, "outpost.dogstatsd.packets", Transport::kUdp), kCount);
  EXPECT_EQ(counterValue(telemetry_, "outpost.dogstatsd.bytes", Transport::kUdp), bytes);
  EXPECT_EQ(counterValue(telemetry_, "outpost.dogstatsd.truncated", Transport::kUdp), 0);
  auto drops = listeners_->readUdpDrops();
  ASSERT_TRUE(drops.has_value());
  EXPECT_EQ(*drops, 0u);
  EXPECT_EQ(telemetry_.valueOf("outpost.dogstatsd.udp_drops", {"transport:udp"}), 0);
}

TEST_F(ListenersTest, UdpYieldsToTheLoopBetweenBatches) {
  ListenerOptions o = udpOnly();
  o.max_batches_per_wake = 1;
  std::string error;
  ASSERT_TRUE(listeners_->start(o, &error)) << error;
  UdpSender sender(listeners_->udpPort());
  constexpr int kCount = 100;
  for (int i = 0; i < kCount; ++i) {
    ASSERT_TRUE(sender.send("a:1|c"));
  }
  // An idle handle runs once per loop iteration: it sees the datagrams arrive one batch at a time.
  std::vector<size_t> seen;
  uv_idle_t idle;
  uv_idle_init(loop_.get(), &idle);
  struct Ctx {
    const std::vector<Received>* got;
    std::vector<size_t>* seen;
  } ctx{&got_, &seen};
  idle.data = &ctx;
  uv_idle_start(&idle, [](uv_idle_t* h) {
    auto* c = static_cast<Ctx*>(h->data);
    c->seen->push_back(c->got->size());
  });
  bool ok = runUntil([&] { return got_.size() >= static_cast<size_t>(kCount); });
  uv_close(reinterpret_cast<uv_handle_t*>(&idle), nullptr);
  uv_run(loop_.get(), UV_RUN_NOWAIT);
  ASSERT_TRUE(ok);
  for (size_t n : seen) {
    EXPECT_EQ(n % kBatchSize == 0 || n == static_cast<size_t>(kCount), true) << n;
  }
  EXPECT_NE(std::find(seen.begin(), seen.end(), static_cast<size_t>(kBatchSize)), seen.end());
}

TEST_F(ListenersTest, UdpTruncationIsCounted) {
  std::string error;
  ASSERT_TRUE(listeners_->start(udpOnly(64), &error)) << error;
  UdpSender sender(listeners_->udpPort());
  std::string big(100, 'x');
  ASSERT_TRUE(sender.send(big));
  ASSERT_TRUE(sender.send("a:1|c"));
  ASSERT_TRUE(runUntil([&] { return got_.size() >= 2; }));
  EXPECT_EQ(got_[0].data, std::string(64, 'x'));
  EXPECT_EQ(got_[1].data, "a:1|c");
  EXPECT_EQ(counterValue(telemetry_, "outpost.dogstatsd.truncated", Transport::kUdp), 1);
  EXPECT_EQ(counterValue(telemetry_, "outpost.dogstatsd.packets", Transport::kUdp), 2);
}

TEST_F(ListenersTest, UdpKernelDropsAreReported) {
  ListenerOptions o = udpOnly(2048);
  o.so_rcvbuf = 1;  // the kernel rounds up to its minimum (a few KiB)
  std::string error;
  ASSERT_TRUE(listeners_->start(o, &error)) << error;
  EXPECT_LT(listeners_->udpReceiveBuffer(), 16 * 1024);
  UdpSender sender(listeners_->udpPort());
  constexpr int kCount = 200;
  std::string d(1000, 'y');
  for (int i = 0; i < kCount; ++i) {
    ASSERT_TRUE(sender.send(d));
  }
  auto drops = listeners_->readUdpDrops();
  ASSERT_TRUE(drops.has_value());
  EXPECT_GT(*drops, 0u);
  EXPECT_EQ(telemetry_.valueOf("outpost.dogstatsd.udp_drops", {"transport:udp"}),
            static_cast<int64_t>(*drops));
  // Every datagram was either received or dropped by the kernel.
  ASSERT_TRUE(runUntil([&] { return got_.size() + *drops == static_cast<size_t>(kCount); }))
      << got_.size() << " + " << *drops;
}

TEST_F(ListenersTest, HandlerMayStopMidBatch) {
  std::string error;
  ASSERT_TRUE(listeners_->start(udpOnly(), &error)) << error;
  UdpSender sender(listeners_->udpPort());
  for (int i = 0; i < 10; ++i) {
    ASSERT_TRUE(sender.send("a:1|c"));
  }
  on_datagram_ = [this] { listeners_->stop(); };
  ASSERT_TRUE(runUntil([&] { return !got_.empty(); }));
  loop_.run();  // nothing left: returns once the closed socket's callback ran
  EXPECT_EQ(got_.size(), 1u);
  EXPECT_EQ(listeners_->udpPort(), 0);
}

TEST_F(ListenersTest, PortZeroDisablesUdp) {
  ListenerOptions o;
  o.port = 0;
  std::string error;
  ASSERT_TRUE(listeners_->start(o, &error)) << error;
  EXPECT_EQ(listeners_->udpPort(), 0);
  EXPECT_FALSE(listeners_->readUdpDrops().has_value());
  // Nothing is open, so the loop has nothing to wait for.
  EXPECT_EQ(loop_.run(), 0);
}

TEST_F(ListenersTest, AddressInUseNamesTheAddress) {
  int fd = ::socket(AF_INET, SOCK_DGRAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0);
  socklen_t len = sizeof(a);
  ASSERT_EQ(::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len), 0);
  uint16_t port = ntohs(a.sin_port);

  testing::TempDir dir;
  ListenerOptions o;
  o.port = port;
  o.socket_path = dir.file("dsd.socket");  // opened after UDP: must not stay open
  std::string error;
  EXPECT_FALSE(listeners_->start(o, &error));
  EXPECT_NE(error.find(fmt::format("127.0.0.1:{}", port)), std::string::npos) << error;
  EXPECT_NE(error.find("in use"), std::string::npos) << error;
  EXPECT_EQ(listeners_->udpPort(), 0);
  ::close(fd);
}

TEST_F(ListenersTest, BadBindHostIsReported) {
  ListenerOptions o = udpOnly();
  o.bind_host = "not an address";
  std::string error;
  EXPECT_FALSE(listeners_->start(o, &error));
  EXPECT_NE(error.find("not an address"), std::string::npos) << error;
}

TEST_F(ListenersTest, UnixgramCarriesSenderPidAndMode0660) {
  testing::TempDir dir;
  std::string path = dir.file("dsd.socket");
  // A stale socket file from a previous run is replaced.
  {
    int stale = ::socket(AF_UNIX, SOCK_DGRAM, 0);
    sockaddr_un sa = unixAddr(path);
    ASSERT_EQ(::bind(stale, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)), 0);
    ::close(stale);
  }
  ListenerOptions o;
  o.port = 0;
  o.socket_path = path;
  std::string error;
  ASSERT_TRUE(listeners_->start(o, &error)) << error;
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_TRUE(S_ISSOCK(st.st_mode));
  EXPECT_EQ(st.st_mode & 0777, 0660u);

  int fd = ::socket(AF_UNIX, SOCK_DGRAM, 0);
  sockaddr_un sa = unixAddr(path);
  // A unixgram receiver queues at most net.unix.max_dgram_qlen (default 10) datagrams and then
  // blocks the sender, so send in groups of 5 and let the loop drain each.
  for (int i = 0; i < 50; ++i) {
    std::string d = fmt::format("u.{}:1|g", i);
    ASSERT_EQ(::sendto(fd, d.data(), d.size(), 0, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)),
              static_cast<ssize_t>(d.size()));
    if (i % 5 == 4) {
      size_t want = static_cast<size_t>(i + 1);
      ASSERT_TRUE(runUntil([&] { return got_.size() >= want; })) << got_.size();
    }
  }
  ::close(fd);
  for (int i = 0; i < 50; ++i) {
    EXPECT_EQ(got_[i].data, fmt::format("u.{}:1|g", i));
    EXPECT_EQ(got_[i].origin.transport, Transport::kUds);
    EXPECT_EQ(got_[i].origin.pid, ::getpid());
  }
  EXPECT_EQ(counterValue(telemetry_, "outpost.dogstatsd.packets", Transport::kUds), 50);
  listeners_->stop();
  EXPECT_NE(::access(path.c_str(), F_OK), 0) << "socket file removed on stop";
}

TEST_F(ListenersTest, UnixgramRefusesToReplaceARegularFile) {
  testing::TempDir dir;
  std::string path = dir.write("dsd.socket", "not a socket");
  ListenerOptions o;
  o.port = 0;
  o.socket_path = path;
  std::string error;
  EXPECT_FALSE(listeners_->start(o, &error));
  EXPECT_NE(error.find("not a socket"), std::string::npos) << error;
  EXPECT_EQ(testing::readFile(path), "not a socket");
}

class StreamTest : public ListenersTest {
 protected:
  void SetUp() override {
    path_ = dir_.file("dsd.stream");
    ListenerOptions o;
    o.port = 0;
    o.stream_socket_path = path_;
    o.buffer_size = 64;
    std::string error;
    ASSERT_TRUE(listeners_->start(o, &error)) << error;
    struct stat st {};
    ASSERT_EQ(::stat(path_.c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0660u);
    fd_ = ::socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un sa = unixAddr(path_);
    ASSERT_EQ(::connect(fd_, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)), 0);
    ASSERT_TRUE(runUntil([&] { return listeners_->streamConnections() == 1; }));
  }
  void TearDown() override {
    if (fd_ >= 0) {
      ::close(fd_);
    }
  }
  // One loop iteration: data already written is in the socket, so it is read now.
  void pump() {
    for (int i = 0; i < 3; ++i) {
      uv_run(loop_.get(), UV_RUN_NOWAIT);
    }
  }

  testing::TempDir dir_;
  std::string path_;
  int fd_ = -1;
};

TEST_F(StreamTest, FramesSplitAcrossWrites) {
  std::string f1 = frame("first:1|c");
  std::string f2 = frame("second:2|c");
  std::string f3 = frame("third:3|c");
  writeAll(fd_, f1.substr(0, 2));  // half a length prefix
  pump();
  writeAll(fd_, f1.substr(2, 5));  // rest of the prefix and a bit of the payload
  pump();
  EXPECT_TRUE(got_.empty());
  // The end of frame 1, all of frame 2 and half of frame 3 in one write.
  writeAll(fd_, f1.substr(7) + f2 + f3.substr(0, 6));
  pump();
  ASSERT_TRUE(runUntil([&] { return got_.size() >= 2; }));
  EXPECT_EQ(got_.size(), 2u);
  writeAll(fd_, f3.substr(6));
  ASSERT_TRUE(runUntil([&] { return got_.size() >= 3; }));
  ASSERT_EQ(got_.size(), 3u);
  EXPECT_EQ(got_[0].data, "first:1|c");
  EXPECT_EQ(got_[1].data, "second:2|c");
  EXPECT_EQ(got_[2].data, "third:3|c");
  for (const auto& r : got_) {
    EXPECT_EQ(r.origin.transport, Transport::kUdsStream);
    EXPECT_EQ(r.origin.pid, ::getpid());
  }
  EXPECT_EQ(counterValue(telemetry_, "outpost.dogstatsd.packets", Transport::kUdsStream), 3);
  EXPECT_EQ(counterValue(telemetry_, "outpost.dogstatsd.frame_errors", Transport::kUdsStream), 0);
  // A frame of exactly buffer_size bytes is accepted.
  writeAll(fd_, frame(std::string(64, 'z')));
  ASSERT_TRUE(runUntil([&] { return got_.size() >= 4; }));
  EXPECT_EQ(got_[3].data.size(), 64u);
}

TEST_F(StreamTest, TooLargeFrameClosesTheConnection) {
  writeAll(fd_, frame("ok:1|c") + frame(std::string(65, 'x')) + frame("never:1|c"));
  ASSERT_TRUE(runUntil([&] { return listeners_->streamConnections() == 0; }));
  ASSERT_EQ(got_.size(), 1u);
  EXPECT_EQ(got_[0].data, "ok:1|c");
  EXPECT_EQ(counterValue(telemetry_, "outpost.dogstatsd.frame_errors", Transport::kUdsStream), 1);
  char c;
  EXPECT_LE(::read(fd_, &c, 1), 0);  // EOF or reset: the server closed its end
}

TEST_F(StreamTest, EofMidFrameIsAFrameError) {
  writeAll(fd_, frame("whole:1|c") + frame("cut:1|c").substr(0, 6));
  ::close(fd_);
  fd_ = -1;
  ASSERT_TRUE(runUntil([&] { return listeners_->streamConnections() == 0; }));
  ASSERT_EQ(got_.size(), 1u);
  EXPECT_EQ(counterValue(telemetry_, "outpost.dogstatsd.frame_errors", Transport::kUdsStream), 1);
}

TEST_F(ListenersTest, StopClosesEverything) {
  testing::TempDir dir;
  ListenerOptions o = udpOnly();
  o.socket_path = dir.file("dsd.socket");
  o.stream_socket_path = dir.file("dsd.stream");
  o.drops_interval_ms = 10;
  std::string error;
  ASSERT_TRUE(listeners_->start(o, &error)) << error;
  int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
  sockaddr_un sa = unixAddr(o.stream_socket_path);
  ASSERT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)), 0);
  ASSERT_TRUE(runUntil([&] { return listeners_->streamConnections() == 1; }));
  // Let the drops timer fire at least once.
  ASSERT_TRUE(runUntil(
      [&] { return telemetry_.valueOf("outpost.dogstatsd.udp_drops", {"transport:udp"}) == 0; }));

  listeners_->stop();
  EXPECT_EQ(listeners_->streamConnections(), 0u);
  EXPECT_EQ(listeners_->udpPort(), 0);
  // With every handle closed, the loop has no work left and returns.
  EXPECT_EQ(loop_.run(), 0);
  EXPECT_NE(::access(o.socket_path.c_str(), F_OK), 0);
  EXPECT_NE(::access(o.stream_socket_path.c_str(), F_OK), 0);
  char c;
  EXPECT_LE(::read(fd, &c, 1), 0);
  ::close(fd);

  // The listeners can start again.
  ASSERT_TRUE(listeners_->start(o, &error)) << error;
  listeners_->stop();
  listeners_->stop();  // idempotent
}

TEST(ListenerOptions, FromConfig) {
  Config c{};
  c.dogstatsd_port = 9125;
  c.bind_host = "10.0.0.1";
  c.dogstatsd_non_local_traffic = true;
  c.dogstatsd_socket = "/run/dsd.socket";
  c.dogstatsd_stream_socket = "/run/dsd.stream";
  c.dogstatsd_buffer_size = 16384;
  c.dogstatsd_so_rcvbuf = 1 << 20;
  ListenerOptions o = ListenerOptions::fromConfig(c);
  EXPECT_EQ(o.port, 9125);
  EXPECT_EQ(o.bind_host, "10.0.0.1");
  EXPECT_TRUE(o.non_local_traffic);
  EXPECT_FALSE(o.udp_ephemeral_port);
  EXPECT_EQ(o.socket_path, "/run/dsd.socket");
  EXPECT_EQ(o.stream_socket_path, "/run/dsd.stream");
  EXPECT_EQ(o.buffer_size, 16384u);
  EXPECT_EQ(o.so_rcvbuf, 1 << 20);
  c.dogstatsd_buffer_size = 0;
  EXPECT_EQ(ListenerOptions::fromConfig(c).buffer_size, 8192u);
}

TEST(ProcNetUdp, ParsesDropsForInode) {
  const std::string table =
      "   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  "
      "timeout inode ref pointer drops\n"
      "  123: 0100007F:1FBD 00000000:0000 07 00000000:00000000 00:00000000 00000000  1000        "
      "0 4242 2 0000000000000000 17\n"
      "  456: 00000000:0044 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        "
      "0 99 2 0000000000000000 0\n";
  EXPECT_EQ(parseProcNetUdpDrops(table, 4242), 17u);
  EXPECT_EQ(parseProcNetUdpDrops(table, 99), 0u);
  EXPECT_FALSE(parseProcNetUdpDrops(table, 7).has_value());
  EXPECT_FALSE(parseProcNetUdpDrops("", 4242).has_value());
  EXPECT_FALSE(parseProcNetUdpDrops("header only\n", 4242).has_value());
  EXPECT_FALSE(parseProcNetUdpDrops("h\n 1: a b c d e f g h 4242 j k\n", 4242).has_value());
}

}  // namespace
}  // namespace outpost::dogstatsd
