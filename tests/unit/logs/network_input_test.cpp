#include "collector/sources/logs/network_input.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "core/loop.h"
#include "core/telemetry.h"
#include "tests/support/test_support.h"

namespace outpost::logs {
namespace {

using Protocol = NetworkLogInput::Protocol;

struct Line {
  std::string text;
  std::string peer;
};

// A blocking loopback client socket (TCP or UDP) driven from the test thread.
class Client {
 public:
  Client(Protocol protocol, int port) {
    fd_ = ::socket(AF_INET, protocol == Protocol::kTcp ? SOCK_STREAM : SOCK_DGRAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    connected_ = ::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
    sockaddr_in local{};
    socklen_t len = sizeof(local);
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&local), &len);
    local_port_ = ntohs(local.sin_port);
  }
  ~Client() {
    if (fd_ >= 0) {
      ::close(fd_);
    }
  }
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  bool connected() const { return connected_; }
  std::string peer() const { return fmt::format("127.0.0.1:{}", local_port_); }
  bool send(std::string_view data) {
    size_t off = 0;
    while (off < data.size()) {
      ssize_t n = ::send(fd_, data.data() + off, data.size() - off, MSG_NOSIGNAL);
      if (n < 0) {
        return false;
      }
      off += static_cast<size_t>(n);
    }
    return true;
  }
  // Writes without blocking until the kernel refuses more; returns the bytes written.
  size_t fillUntilBlocked(const std::string& line) {
    ::fcntl(fd_, F_SETFL, ::fcntl(fd_, F_GETFL) | O_NONBLOCK);
    size_t total = 0;
    for (;;) {
      ssize_t n = ::send(fd_, line.data(), line.size(), MSG_NOSIGNAL);
      if (n < 0) {
        EXPECT_TRUE(errno == EAGAIN || errno == EWOULDBLOCK) << errno;
        break;
      }
      total += static_cast<size_t>(n);
      if (static_cast<size_t>(n) < line.size()) {
        break;  // a partial write: the buffers are full
      }
    }
    return total;
  }
  void shutdownWrite() { ::shutdown(fd_, SHUT_WR); }
  // True when the server closed the connection (recv returns 0 or ECONNRESET right away).
  bool closedByPeer() {
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, 0) <= 0) {
      return false;
    }
    char c;
    ssize_t n = ::recv(fd_, &c, 1, MSG_DONTWAIT);
    return n == 0 || (n < 0 && errno == ECONNRESET);
  }

 private:
  int fd_ = -1;
  bool connected_ = false;
  uint16_t local_port_ = 0;
};

class NetworkInputTest : public ::testing::Test {
 protected:
  ~NetworkInputTest() override {
    if (input_) {
      input_->stop();
      input_.reset();
    }
  }

  void startInput(NetworkLogInput::Options options) {
    options.port = 0;
    input_ = std::make_unique<NetworkLogInput>(
        loop_.get(), telemetry_, options, [this](std::string_view line, std::string_view peer) {
          lines_.push_back({std::string(line), std::string(peer)});
          if (on_line_) {
            on_line_();
          }
        });
    std::string error;
    ASSERT_TRUE(input_->start(&error)) << error;
    ASSERT_GT(input_->boundPort(), 0);
  }

  NetworkLogInput::Options tcp(size_t frame_size = 9000) {
    NetworkLogInput::Options o;
    o.protocol = Protocol::kTcp;
    o.frame_size = frame_size;
    o.name = "test";
    return o;
  }
  NetworkLogInput::Options udp(size_t frame_size = 9000) {
    NetworkLogInput::Options o = tcp(frame_size);
    o.protocol = Protocol::kUdp;
    return o;
  }

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

  // A few loop iterations without blocking: enough for any readable socket to be read.
  void spin() {
    for (int i = 0; i < 5; ++i) {
      uv_run(loop_.get(), UV_RUN_NOWAIT);
    }
  }

  int64_t counter(std::string_view name, std::vector<std::string> extra = {}) {
    std::vector<std::string> tags{"input:test"};
    tags.insert(tags.end(), extra.begin(), extra.end());
    return telemetry_.valueOf(name, tags);
  }

  std::vector<std::string> texts() const {
    std::vector<std::string> out;
    for (const Line& l : lines_) {
      out.push_back(l.text);
    }
    return out;
  }
  std::vector<std::string> textsFrom(const std::string& peer) const {
    std::vector<std::string> out;
    for (const Line& l : lines_) {
      if (l.peer == peer) {
        out.push_back(l.text);
      }
    }
    return out;
  }

  Loop loop_;
  Telemetry telemetry_;
  std::unique_ptr<NetworkLogInput> input_;
  std::vector<Line> lines_;
  std::function<void()> on_line_;
};

TEST_F(NetworkInputTest, TcpInterleavedClientsKeepTheirOwnPartialLines) {
  startInput(tcp());
  Client a(Protocol::kTcp, input_->boundPort());
  Client b(Protocol::kTcp, input_->boundPort());
  ASSERT_TRUE(a.connected());
  ASSERT_TRUE(b.connected());
  ASSERT_TRUE(runUntil([&] { return input_->openConnections() == 2; }));

  ASSERT_TRUE(a.send("alpha-"));
  ASSERT_TRUE(runUntil([&] { return counter("outpost.logs.input.bytes") == 6; }));
  ASSERT_TRUE(b.send("beta-"));
  ASSERT_TRUE(runUntil([&] { return counter("outpost.logs.input.bytes") == 11; }));
  EXPECT_TRUE(lines_.empty());
  ASSERT_TRUE(a.send("one\nalpha-two\r\nalpha-"));
  ASSERT_TRUE(b.send("one\n"));
  ASSERT_TRUE(runUntil([&] { return lines_.size() == 3; }));
  ASSERT_TRUE(a.send("three\n"));
  ASSERT_TRUE(runUntil([&] { return lines_.size() == 4; }));

  EXPECT_EQ(textsFrom(a.peer()),
            (std::vector<std::string>{"alpha-one", "alpha-two", "alpha-three"}));
  EXPECT_EQ(textsFrom(b.peer()), (std::vector<std::string>{"beta-one"}));
  EXPECT_EQ(counter("outpost.logs.input.lines"), 4);
  EXPECT_EQ(counter("outpost.logs.input.connections"), 2);
  EXPECT_EQ(telemetry_.valueOf("outpost.logs.input.open_connections", {"input:test"}), 2);
}

TEST_F(NetworkInputTest, TcpLineSplitAcrossManyWrites) {
  startInput(tcp());
  Client c(Protocol::kTcp, input_->boundPort());
  const std::string line = "a line sent one byte at a time, with \xc3\xa9 inside";
  for (size_t i = 0; i < line.size(); ++i) {
    ASSERT_TRUE(c.send(line.substr(i, 1)));
    ASSERT_TRUE(runUntil([&] { return counter("outpost.logs.input.bytes") == int64_t(i + 1); }));
  }
  EXPECT_TRUE(lines_.empty());
  ASSERT_TRUE(c.send("\n"));
  ASSERT_TRUE(runUntil([&] { return lines_.size() == 1; }));
  EXPECT_EQ(lines_[0].text, line);
  EXPECT_EQ(lines_[0].peer, c.peer());
}

TEST_F(NetworkInputTest, TcpCrLfEmptyLinesAndEofWithoutNewline) {
  startInput(tcp());
  Client c(Protocol::kTcp, input_->boundPort());
  ASSERT_TRUE(c.send("first\r\n\r\n\nsecond\r\nwith\rinner cr\nlast without newline"));
  c.shutdownWrite();
  ASSERT_TRUE(runUntil([&] { return input_->openConnections() == 0 && lines_.size() == 4; }));
  EXPECT_EQ(texts(), (std::vector<std::string>{"first", "second", "with\rinner cr",
                                               "last without newline"}));
  EXPECT_TRUE(c.closedByPeer());
}

TEST_F(NetworkInputTest, TcpLongLinesAreCutIntoFrameSizePieces) {
  startInput(tcp(10));
  Client c(Protocol::kTcp, input_->boundPort());
  // 25 bytes in one write, then exactly 10 bytes + CRLF (kept whole), then 23 bytes in pieces.
  ASSERT_TRUE(c.send("0123456789abcdefghijKLMNO\n"));
  ASSERT_TRUE(c.send("exactly-10\r\n"));
  ASSERT_TRUE(runUntil([&] { return lines_.size() == 4; }));
  ASSERT_TRUE(c.send("0123456"));
  ASSERT_TRUE(runUntil([&] { return counter("outpost.logs.input.bytes") == 45; }));
  EXPECT_EQ(lines_.size(), 4u);  // 7 bytes: still waiting
  ASSERT_TRUE(c.send("789xyz"));
  ASSERT_TRUE(runUntil([&] { return lines_.size() == 5; }));
  ASSERT_TRUE(c.send("qwertyuiop!\n"));
  ASSERT_TRUE(runUntil([&] { return lines_.size() == 7; }));
  EXPECT_EQ(texts(), (std::vector<std::string>{"0123456789", "abcdefghij", "KLMNO", "exactly-10",
                                               "0123456789", "xyzqwertyu", "iop!"}));
  EXPECT_EQ(counter("outpost.logs.input.truncated"), 2);
  EXPECT_EQ(counter("outpost.logs.input.lines"), 7);
}

TEST_F(NetworkInputTest, TcpMaxConnectionsRefusesTheRest) {
  auto o = tcp();
  o.max_connections = 2;
  startInput(o);
  Client a(Protocol::kTcp, input_->boundPort());
  Client b(Protocol::kTcp, input_->boundPort());
  ASSERT_TRUE(runUntil([&] { return input_->openConnections() == 2; }));
  Client c(Protocol::kTcp, input_->boundPort());
  ASSERT_TRUE(runUntil([&] { return counter("outpost.logs.input.refused_connections") == 1; }));
  EXPECT_EQ(input_->openConnections(), 2u);
  EXPECT_EQ(counter("outpost.logs.input.connections"), 2);
  EXPECT_TRUE(c.closedByPeer());
  // The accepted ones still work; once one goes, a new client is accepted again.
  ASSERT_TRUE(a.send("from a\n"));
  ASSERT_TRUE(runUntil([&] { return lines_.size() == 1; }));
  b.shutdownWrite();
  ASSERT_TRUE(runUntil([&] { return input_->openConnections() == 1; }));
  Client d(Protocol::kTcp, input_->boundPort());
  ASSERT_TRUE(d.send("from d\n"));
  ASSERT_TRUE(runUntil([&] { return lines_.size() == 2; }));
  EXPECT_EQ(lines_[1].peer, d.peer());
  EXPECT_EQ(counter("outpost.logs.input.refused_connections"), 1);
}

TEST_F(NetworkInputTest, TcpIdleConnectionIsClosedAndItsPartialLineKept) {
  auto o = tcp();
  o.idle_timeout_ms = 50;
  startInput(o);
  Client c(Protocol::kTcp, input_->boundPort());
  ASSERT_TRUE(c.send("no newline yet"));
  ASSERT_TRUE(runUntil([&] { return lines_.size() == 1 && input_->openConnections() == 0; }));
  EXPECT_EQ(lines_[0].text, "no newline yet");
  EXPECT_TRUE(c.closedByPeer());
}

TEST_F(NetworkInputTest, TcpPauseStopsReadingAndTheSenderBlocks) {
  startInput(tcp());
  Client c(Protocol::kTcp, input_->boundPort());
  ASSERT_TRUE(c.send("before pause\n"));
  ASSERT_TRUE(runUntil([&] { return lines_.size() == 1; }));
  const int64_t bytes_before = counter("outpost.logs.input.bytes");

  input_->pause();
  const std::string line(100, 'x');
  size_t written = c.fillUntilBlocked(line + "\n");
  ASSERT_GT(written, 0u);
  spin();
  // Nothing was read while paused: the kernel buffers filled up and the sender blocked.
  EXPECT_EQ(counter("outpost.logs.input.bytes"), bytes_before);
  EXPECT_EQ(lines_.size(), 1u);

  input_->resume();
  const size_t complete = written / (line.size() + 1);
  ASSERT_TRUE(runUntil([&] { return lines_.size() == 1 + complete; }));
  EXPECT_EQ(counter("outpost.logs.input.bytes"), bytes_before + static_cast<int64_t>(written));
  for (size_t i = 1; i < lines_.size(); ++i) {
    ASSERT_EQ(lines_[i].text, line) << i;
  }
}

TEST_F(NetworkInputTest, TcpPauseFromTheCallbackHoldsTheRestOfTheChunk) {
  startInput(tcp());
  on_line_ = [this] { input_->pause(); };
  Client c(Protocol::kTcp, input_->boundPort());
  ASSERT_TRUE(c.send("one\ntwo\nthree\n"));
  ASSERT_TRUE(runUntil([&] { return lines_.size() == 1; }));
  spin();
  EXPECT_EQ(texts(), (std::vector<std::string>{"one"}));
  EXPECT_TRUE(input_->paused());

  on_line_ = nullptr;
  input_->resume();
  ASSERT_TRUE(runUntil([&] { return lines_.size() == 3; }));
  EXPECT_EQ(texts(), (std::vector<std::string>{"one", "two", "three"}));
}

TEST_F(NetworkInputTest, TcpPausedConnectionFinishesAfterResumeEvenAfterEof) {
  startInput(tcp());
  Client c(Protocol::kTcp, input_->boundPort());
  ASSERT_TRUE(runUntil([&] { return input_->openConnections() == 1; }));
  input_->pause();
  ASSERT_TRUE(c.send("queued one\nqueued two"));
  c.shutdownWrite();
  spin();
  EXPECT_TRUE(lines_.empty());
  input_->resume();
  ASSERT_TRUE(runUntil([&] { return lines_.size() == 2 && input_->openConnections() == 0; }));
  EXPECT_EQ(texts(), (std::vector<std::string>{"queued one", "queued two"}));
}

TEST_F(NetworkInputTest, TcpBinaryDataNeverCrashes) {
  startInput(tcp(64));
  Client c(Protocol::kTcp, input_->boundPort());
  std::string all;
  for (int i = 0; i < 256; ++i) {
    all.push_back(static_cast<char>(i));
  }
  std::string payload = all + all;  // 512 bytes with two '\n' (0x0a) and NULs
  ASSERT_TRUE(c.send(payload));
  c.shutdownWrite();
  ASSERT_TRUE(runUntil([&] {
    return counter("outpost.logs.input.connections") == 1 && input_->openConnections() == 0;
  }));
  // Re-joining the pieces gives back the payload without its newlines (no '\r' precedes one).
  std::string joined;
  for (const Line& l : lines_) {
    EXPECT_LE(l.text.size(), 64u);
    joined += l.text;
  }
  std::string expected;
  for (char ch : payload) {
    if (ch != '\n') {
      expected.push_back(ch);
    }
  }
  EXPECT_EQ(joined, expected);
  EXPECT_EQ(counter("outpost.logs.input.bytes"), 512);
}

TEST_F(NetworkInputTest, UdpDatagramsWithSeveralLines) {
  startInput(udp());
  Client c(Protocol::kUdp, input_->boundPort());
  ASSERT_TRUE(c.send("one\ntwo\r\nthree"));
  ASSERT_TRUE(runUntil([&] { return lines_.size() == 3; }));
  ASSERT_TRUE(c.send("four\n"));
  ASSERT_TRUE(c.send("\n\n"));
  ASSERT_TRUE(c.send("five\n"));
  ASSERT_TRUE(runUntil([&] { return lines_.size() == 5; }));
  EXPECT_EQ(texts(), (std::vector<std::string>{"one", "two", "three", "four", "five"}));
  EXPECT_EQ(lines_[0].peer, c.peer());
  EXPECT_EQ(counter("outpost.logs.input.lines"), 5);
  EXPECT_EQ(counter("outpost.logs.input.bytes"), 14 + 5 + 2 + 5);
}

TEST_F(NetworkInputTest, UdpLongLinesAreCut) {
  startInput(udp(8));
  Client c(Protocol::kUdp, input_->boundPort());
  ASSERT_TRUE(c.send("short\n0123456789abcdefghij\nend"));
  ASSERT_TRUE(runUntil([&] { return lines_.size() == 5; }));
  EXPECT_EQ(texts(), (std::vector<std::string>{"short", "01234567", "89abcdef", "ghij", "end"}));
  EXPECT_EQ(counter("outpost.logs.input.truncated"), 1);
}

TEST_F(NetworkInputTest, UdpWhilePausedDropsAndCounts) {
  startInput(udp());
  Client c(Protocol::kUdp, input_->boundPort());
  input_->pause();
  ASSERT_TRUE(c.send("lost one\nlost two\n"));
  ASSERT_TRUE(runUntil(
      [&] { return counter("outpost.logs.input.dropped", {"reason:backpressure"}) == 2; }));
  EXPECT_TRUE(lines_.empty());
  input_->resume();
  ASSERT_TRUE(c.send("kept\n"));
  ASSERT_TRUE(runUntil([&] { return lines_.size() == 1; }));
  EXPECT_EQ(lines_[0].text, "kept");

  // Paused by the callback in the middle of a datagram: the rest of it is dropped too.
  on_line_ = [this] { input_->pause(); };
  ASSERT_TRUE(c.send("a\nb\nc\n"));
  ASSERT_TRUE(runUntil(
      [&] { return counter("outpost.logs.input.dropped", {"reason:backpressure"}) == 4; }));
  EXPECT_EQ(texts(), (std::vector<std::string>{"kept", "a"}));
}

TEST_F(NetworkInputTest, UdpBinaryDatagrams) {
  startInput(udp());
  Client c(Protocol::kUdp, input_->boundPort());
  std::string bin("\0\x01\xff\xfe\x80 \x7f", 7);
  ASSERT_TRUE(c.send(bin));
  ASSERT_TRUE(c.send(std::string(1, '\0')));
  ASSERT_TRUE(runUntil([&] { return lines_.size() == 2; }));
  EXPECT_EQ(lines_[0].text, bin);
  EXPECT_EQ(lines_[1].text, std::string(1, '\0'));
}

TEST_F(NetworkInputTest, StopClosesEverythingThenCallsDone) {
  startInput(tcp());
  Client a(Protocol::kTcp, input_->boundPort());
  Client b(Protocol::kTcp, input_->boundPort());
  ASSERT_TRUE(runUntil([&] { return input_->openConnections() == 2; }));
  bool done = false;
  input_->stop([&] { done = true; });
  ASSERT_TRUE(runUntil([&] { return done; }));
  EXPECT_EQ(input_->openConnections(), 0u);
  EXPECT_TRUE(a.closedByPeer());
  EXPECT_TRUE(b.closedByPeer());
}

TEST_F(NetworkInputTest, BindErrorsNameTheAddress) {
  // A port already taken by another TCP listener.
  NetworkLogInput first(loop_.get(), telemetry_, tcp(), [](std::string_view, std::string_view) {});
  std::string error;
  ASSERT_TRUE(first.start(&error)) << error;
  auto o = tcp();
  o.port = first.boundPort();
  o.name = "syslog";
  NetworkLogInput second(loop_.get(), telemetry_, o, [](std::string_view, std::string_view) {});
  EXPECT_FALSE(second.start(&error));
  EXPECT_NE(error.find(fmt::format("127.0.0.1:{}", first.boundPort())), std::string::npos) << error;
  EXPECT_NE(error.find("address already in use"), std::string::npos) << error;

  o.port = 0;
  o.bind_host = "not-an-ip";
  NetworkLogInput third(loop_.get(), telemetry_, o, [](std::string_view, std::string_view) {});
  EXPECT_FALSE(third.start(&error));
  EXPECT_NE(error.find("not-an-ip"), std::string::npos) << error;
  first.stop();
}

TEST_F(NetworkInputTest, Ipv6Loopback) {
  auto o = udp();
  o.bind_host = "::1";
  input_ = std::make_unique<NetworkLogInput>(
      loop_.get(), telemetry_, o, [this](std::string_view line, std::string_view peer) {
        lines_.push_back({std::string(line), std::string(peer)});
      });
  std::string error;
  if (!input_->start(&error)) {
    GTEST_SKIP() << "no IPv6 loopback here: " << error;
  }
  int fd = ::socket(AF_INET6, SOCK_DGRAM, 0);
  sockaddr_in6 addr{};
  addr.sin6_family = AF_INET6;
  addr.sin6_port = htons(static_cast<uint16_t>(input_->boundPort()));
  addr.sin6_addr = in6addr_loopback;
  ASSERT_EQ(::sendto(fd, "v6 line\n", 8, 0, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 8);
  ::close(fd);
  ASSERT_TRUE(runUntil([&] { return lines_.size() == 1; }));
  EXPECT_EQ(lines_[0].text, "v6 line");
  EXPECT_EQ(lines_[0].peer.rfind("[::1]:", 0), 0u) << lines_[0].peer;
}

}  // namespace
}  // namespace outpost::logs
