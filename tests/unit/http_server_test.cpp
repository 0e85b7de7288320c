#include "core/http_server.h"

#include <curl/curl.h>
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "core/loop.h"
#include "core/strings.h"
#include "core/telemetry.h"
#include "tests/support/test_support.h"

namespace outpost {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

// Every wait in these tests is bounded: the loop by kLoopTimeout, client sockets by kSocketTimeout,
// so a server bug fails a test instead of hanging it.
constexpr auto kLoopTimeout = 10s;
constexpr int kSocketTimeoutSec = 5;

struct Response {
  int status = 0;
  std::map<std::string, std::string> headers;  // lower-case names
  std::string body;

  std::string header(const std::string& name) const {
    auto it = headers.find(name);
    return it == headers.end() ? "" : it->second;
  }
};

// A plain blocking socket with send and receive timeouts.
class Client {
 public:
  static Client tcp(int port) {
    Client c(::socket(AF_INET, SOCK_STREAM, 0));
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    const int one = 1;
    ::setsockopt(c.fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (::connect(c.fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
      c.connect_errno_ = errno;
      c.close();
    }
    return c;
  }

  static Client unixSocket(const std::string& path) {
    Client c(::socket(AF_UNIX, SOCK_STREAM, 0));
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strncpy(addr.sun_path, path.c_str(), sizeof(addr.sun_path) - 1);
    if (::connect(c.fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
      c.connect_errno_ = errno;
      c.close();
    }
    return c;
  }

  Client(Client&& other) noexcept
      : fd_(std::exchange(other.fd_, -1)),
        connect_errno_(other.connect_errno_),
        buf_(std::move(other.buf_)) {}
  Client& operator=(Client&& other) noexcept {
    close();
    fd_ = std::exchange(other.fd_, -1);
    connect_errno_ = other.connect_errno_;
    buf_ = std::move(other.buf_);
    return *this;
  }
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;
  ~Client() { close(); }

  bool connected() const { return fd_ >= 0; }
  int connectErrno() const { return connect_errno_; }

  bool send(std::string_view data) {
    while (!data.empty()) {
      const ssize_t n = ::send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
      if (n <= 0) {
        return false;
      }
      data.remove_prefix(static_cast<size_t>(n));
    }
    return true;
  }

  // One response (an interim 1xx one too); nullopt on EOF, error or timeout before it is whole.
  std::optional<Response> readResponse(bool head_request = false) {
    size_t end;
    while ((end = buf_.find("\r\n\r\n")) == std::string::npos) {
      if (!fill()) {
        return std::nullopt;
      }
    }
    Response r;
    const std::vector<std::string> lines = split(std::string_view(buf_).substr(0, end), '\n');
    const std::vector<std::string> status_line = splitFields(lines[0]);
    if (status_line.size() < 2 || status_line[0] != "HTTP/1.1") {
      ADD_FAILURE() << "bad status line: " << lines[0];
      return std::nullopt;
    }
    r.status = std::stoi(status_line[1]);
    for (size_t i = 1; i < lines.size(); ++i) {
      const std::string& line = lines[i];
      const size_t colon = line.find(':');
      if (colon == std::string::npos) {
        ADD_FAILURE() << "bad header line: " << line;
        return std::nullopt;
      }
      r.headers[toLower(line.substr(0, colon))] = std::string(trim(line.substr(colon + 1)));
    }
    buf_.erase(0, end + 4);
    size_t length = 0;
    if (!head_request && r.headers.count("content-length") != 0) {
      length = std::stoul(r.headers["content-length"]);
    }
    while (buf_.size() < length) {
      if (!fill()) {
        return std::nullopt;
      }
    }
    r.body = buf_.substr(0, length);
    buf_.erase(0, length);
    return r;
  }

  // Everything until the peer closes. *clean is false on a reset or a timeout.
  std::string readToEof(bool* clean = nullptr) {
    for (;;) {
      char tmp[16384];
      const ssize_t n = ::recv(fd_, tmp, sizeof(tmp), 0);
      if (n <= 0) {
        if (clean != nullptr) {
          *clean = n == 0;
        }
        return std::exchange(buf_, {});
      }
      buf_.append(tmp, static_cast<size_t>(n));
    }
  }

  void shutdownWrite() { ::shutdown(fd_, SHUT_WR); }

  // Closes with a TCP reset (SO_LINGER 0), as a crashed client would.
  void reset() {
    linger l{1, 0};
    ::setsockopt(fd_, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
    close();
  }

  void close() {
    if (fd_ >= 0) {
      ::close(fd_);
      fd_ = -1;
    }
  }

 private:
  explicit Client(int fd) : fd_(fd) {
    timeval tv{kSocketTimeoutSec, 0};
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    ::setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
  }

  bool fill() {
    char tmp[16384];
    const ssize_t n = ::recv(fd_, tmp, sizeof(tmp), 0);
    if (n <= 0) {
      return false;
    }
    buf_.append(tmp, static_cast<size_t>(n));
    return true;
  }

  int fd_ = -1;
  int connect_errno_ = 0;
  std::string buf_;
};

std::string get(const std::string& path, const std::string& extra_headers = "") {
  return "GET " + path + " HTTP/1.1\r\nHost: test\r\n" + extra_headers + "\r\n";
}

std::string post(const std::string& path, const std::string& body,
                 const std::string& extra_headers = "") {
  return "POST " + path +
         " HTTP/1.1\r\nHost: test\r\nContent-Length: " + std::to_string(body.size()) + "\r\n" +
         extra_headers + "\r\n" + body;
}

// Runs a client function on its own thread; wakes the loop when it returns.
class ClientThread {
 public:
  ClientThread(uv_loop_t* loop, std::function<void()> fn)
      : wake_(loop, [] {}), thread_([this, fn = std::move(fn)] {
          fn();
          done_ = true;
          wake_.send();
        }) {}
  ~ClientThread() { join(); }
  bool done() const { return done_.load(); }
  void join() {
    if (thread_.joinable()) {
      thread_.join();
    }
  }

 private:
  std::atomic<bool> done_{false};
  Async wake_;
  std::thread thread_;
};

class HttpServerTest : public ::testing::Test {
 protected:
  static HttpServer::Options testOptions() {
    HttpServer::Options o;
    o.name = "test";
    o.header_timeout_ms = 5'000;
    o.idle_timeout_ms = 5'000;
    return o;
  }

  // An echo handler unless told otherwise: "METHOD path ?query body".
  void startServer(HttpServer::Options options = testOptions(),
                   HttpServer::Handler handler = nullptr) {
    if (!handler) {
      handler = [this](HttpRequest& req, HttpServer::Respond respond) {
        ++handled_;
        last_request_ = req;
        respond(HttpResponse::text(
            200, req.method + " " + req.path + " ?" + req.query + " " + req.body));
      };
    }
    server_ = std::make_unique<HttpServer>(loop_.get(), std::move(options), std::move(handler),
                                           telemetry_);
    std::string error;
    ASSERT_TRUE(server_->listenTcp("127.0.0.1", 0, &error)) << error;
    port_ = server_->port();
    ASSERT_GT(port_, 0);
  }

  // Runs the loop until `pred` holds; false after kLoopTimeout.
  bool runUntil(const std::function<bool()>& pred,
                std::chrono::milliseconds timeout = kLoopTimeout) {
    const auto deadline = Clock::now() + timeout;
    Timer wake(loop_.get(), [] {});
    wake.start(static_cast<uint64_t>(timeout.count()));
    while (!pred()) {
      if (Clock::now() >= deadline) {
        return false;
      }
      uv_run(loop_.get(), UV_RUN_ONCE);
    }
    return true;
  }

  // Runs `client` on a thread while the loop runs here, until it returns and `until` holds.
  void runClient(std::function<void()> client, const std::function<bool()>& until = nullptr) {
    ClientThread thread(loop_.get(), std::move(client));
    EXPECT_TRUE(runUntil([&] { return thread.done() && (!until || until()); }))
        << "timed out waiting for the client";
    thread.join();
  }

  int64_t requests(const std::string& status) {
    return telemetry_.valueOf("outpost.http.requests", {"server:test", "status:" + status});
  }
  int64_t errors(const std::string& reason) {
    return telemetry_.valueOf("outpost.http.errors", {"server:test", "reason:" + reason});
  }
  int64_t connectionsGauge() {
    return telemetry_.valueOf("outpost.http.connections", {"server:test"});
  }

  Loop loop_;
  Telemetry telemetry_;
  testing::TempDir dir_;
  std::unique_ptr<HttpServer> server_;
  int port_ = 0;
  int handled_ = 0;
  HttpRequest last_request_;
};

TEST_F(HttpServerTest, GetAndPostWithContentLength) {
  startServer();
  runClient([this] {
    Client c = Client::tcp(port_);
    ASSERT_TRUE(c.connected());
    ASSERT_TRUE(c.send(get("/hello?x=1&y=2", "X-Custom-Header: Some Value\r\n")));
    auto r = c.readResponse();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(r->body, "GET /hello ?x=1&y=2 ");
    EXPECT_EQ(r->header("content-length"), std::to_string(r->body.size()));
    EXPECT_EQ(r->header("content-type"), "text/plain; charset=utf-8");
    EXPECT_EQ(r->header("connection"), "");

    ASSERT_TRUE(c.send(post("/submit", "payload bytes")));
    r = c.readResponse();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(r->body, "POST /submit ? payload bytes");
  });
  EXPECT_EQ(handled_, 2);
  EXPECT_EQ(last_request_.target, "/submit");
  EXPECT_EQ(last_request_.header("content-length"), "13");
  EXPECT_TRUE(last_request_.hasHeader("host"));
  EXPECT_FALSE(last_request_.hasHeader("x-custom-header"));  // that was the first request
  EXPECT_TRUE(startsWith(last_request_.peer_address, "127.0.0.1:")) << last_request_.peer_address;
  EXPECT_FALSE(last_request_.peer_pid.has_value());
  EXPECT_EQ(requests("200"), 2);
}

TEST_F(HttpServerTest, HeaderNamesAreLowerCasedAndValuesKept) {
  startServer();
  runClient([this] {
    Client c = Client::tcp(port_);
    ASSERT_TRUE(c.send(get("/", "X-Custom-Header: Some Value\r\nX-Empty:\r\nAccept: */*\r\n")));
    auto r = c.readResponse();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);
  });
  EXPECT_EQ(last_request_.header("x-custom-header"), "Some Value");
  EXPECT_TRUE(last_request_.hasHeader("x-empty"));
  EXPECT_EQ(last_request_.header("x-empty"), "");
  EXPECT_EQ(last_request_.header("accept"), "*/*");
  EXPECT_EQ(last_request_.header("missing"), "");
}

TEST_F(HttpServerTest, RequestSentOneByteAtATime) {
  startServer();
  runClient([this] {
    Client c = Client::tcp(port_);
    const std::string req = post("/slow?q=1", "0123456789", "X-Split: abc\r\nX-Empty:\r\n");
    for (char ch : req) {
      ASSERT_TRUE(c.send(std::string(1, ch)));
    }
    auto r = c.readResponse();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->body, "POST /slow ?q=1 0123456789");
  });
  EXPECT_EQ(last_request_.header("x-split"), "abc");
  EXPECT_TRUE(last_request_.hasHeader("x-empty"));
}

TEST_F(HttpServerTest, KeepAliveServesThreeRequestsOnOneConnection) {
  std::vector<std::string> peers;
  startServer(testOptions(), [&](HttpRequest& req, HttpServer::Respond respond) {
    peers.push_back(req.peer_address);
    respond(HttpResponse::json(200, "{\"n\":" + std::to_string(peers.size()) + "}"));
  });
  Client c = Client::tcp(port_);  // outlives the client thread: the connection stays open
  runClient([&] {
    for (int i = 1; i <= 3; ++i) {
      ASSERT_TRUE(c.send(get("/n")));
      auto r = c.readResponse();
      ASSERT_TRUE(r);
      EXPECT_EQ(r->body, "{\"n\":" + std::to_string(i) + "}");
      EXPECT_EQ(r->header("content-type"), "application/json");
      EXPECT_EQ(r->header("connection"), "");
    }
  });
  ASSERT_EQ(peers.size(), 3u);
  EXPECT_EQ(peers[0], peers[1]);
  EXPECT_EQ(peers[1], peers[2]);
  EXPECT_EQ(server_->openConnections(), 1u);
  EXPECT_EQ(connectionsGauge(), 1);
  c.close();
  EXPECT_TRUE(runUntil([&] { return server_->openConnections() == 0; }));
  EXPECT_EQ(connectionsGauge(), 0);
}

TEST_F(HttpServerTest, PipelinedRequestsAnsweredOutOfOrderLeaveInOrder) {
  std::vector<std::pair<std::string, HttpServer::Respond>> pending;
  startServer(testOptions(), [&](HttpRequest& req, HttpServer::Respond respond) {
    pending.emplace_back(req.path, std::move(respond));
    if (pending.size() == 3) {
      // Answer the last first, then the first, then the middle one.
      for (size_t i : {2, 0, 1}) {
        pending[i].second(HttpResponse::text(200, pending[i].first));
      }
    }
  });
  runClient([this] {
    Client c = Client::tcp(port_);
    ASSERT_TRUE(c.send(get("/a") + post("/b", "body of b") + get("/c")));
    for (const char* expected : {"/a", "/b", "/c"}) {
      auto r = c.readResponse();
      ASSERT_TRUE(r);
      EXPECT_EQ(r->body, expected);
    }
  });
  EXPECT_EQ(pending.size(), 3u);
}

TEST_F(HttpServerTest, ManyPipelinedRequestsAnsweredLaterStayInOrder) {
  // Answers are deferred to the next loop iteration, so unanswered requests pile up and the
  // server has to pause parsing (and resume) while keeping the order.
  std::vector<HttpServer::Respond> pending;
  std::vector<std::string> paths;
  int answered = 0;
  Timer answer(loop_.get(), [&] {
    std::vector<HttpServer::Respond> batch;
    batch.swap(pending);
    for (auto& respond : batch) {
      respond(HttpResponse::text(200, paths[static_cast<size_t>(answered++)]));
    }
  });
  startServer(testOptions(), [&](HttpRequest& req, HttpServer::Respond respond) {
    paths.push_back(req.path);
    pending.push_back(std::move(respond));
    answer.start(0);
  });
  constexpr int kRequests = 200;
  runClient([this] {
    Client c = Client::tcp(port_);
    std::string all;
    for (int i = 0; i < kRequests; ++i) {
      all += get("/r" + std::to_string(i));
    }
    ASSERT_TRUE(c.send(all));
    for (int i = 0; i < kRequests; ++i) {
      auto r = c.readResponse();
      ASSERT_TRUE(r) << i;
      ASSERT_EQ(r->body, "/r" + std::to_string(i));
    }
  });
  EXPECT_EQ(answered, kRequests);
  EXPECT_EQ(requests("200"), kRequests);
}

TEST_F(HttpServerTest, ChunkedRequestBodyIsDechunked) {
  startServer();
  runClient([this] {
    Client c = Client::tcp(port_);
    ASSERT_TRUE(
        c.send("POST /chunked HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
               "5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nX-Trailer: t\r\n\r\n"));
    auto r = c.readResponse();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->body, "POST /chunked ? hello world");
    // The connection is still usable after the trailer section.
    ASSERT_TRUE(c.send(get("/after")));
    r = c.readResponse();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->body, "GET /after ? ");
  });
  EXPECT_EQ(handled_, 2);
}

TEST_F(HttpServerTest, ExpectContinueGets100BeforeTheBody) {
  startServer();
  runClient([this] {
    Client c = Client::tcp(port_);
    ASSERT_TRUE(
        c.send("PUT /v0.4/traces HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nExpect: "
               "100-continue\r\n\r\n"));
    auto interim = c.readResponse();
    ASSERT_TRUE(interim);
    EXPECT_EQ(interim->status, 100);
    ASSERT_TRUE(c.send("12345"));
    auto r = c.readResponse();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(r->body, "PUT /v0.4/traces ? 12345");
  });
}

TEST_F(HttpServerTest, ExpectContinueWithTooLargeLengthGets413AndClose) {
  auto options = testOptions();
  options.max_body_bytes = 1000;
  startServer(options);
  runClient(
      [this] {
        Client c = Client::tcp(port_);
        ASSERT_TRUE(c.send(
            "POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 5000\r\nExpect: 100-continue\r\n\r\n"));
        auto r = c.readResponse();
        ASSERT_TRUE(r);
        EXPECT_EQ(r->status, 413);
        EXPECT_EQ(r->header("connection"), "close");
        bool clean = false;
        EXPECT_EQ(c.readToEof(&clean), "");
        EXPECT_TRUE(clean);
      },
      [this] { return server_->openConnections() == 0; });
  EXPECT_EQ(handled_, 0);
  EXPECT_EQ(errors("body_too_large"), 1);
  EXPECT_EQ(requests("413"), 1);
}

TEST_F(HttpServerTest, DeclaredBodyTooLargeGets413WithoutReadingIt) {
  auto options = testOptions();
  options.max_body_bytes = 1000;
  startServer(options);
  runClient([this] {
    Client c = Client::tcp(port_);
    // Headers only: the server must answer without waiting for the 5000 bytes.
    ASSERT_TRUE(c.send("POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 5000\r\n\r\n"));
    auto r = c.readResponse();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 413);
    EXPECT_EQ(r->header("connection"), "close");
    bool clean = false;
    c.readToEof(&clean);
    EXPECT_TRUE(clean);
  });
  EXPECT_EQ(handled_, 0);
  EXPECT_EQ(errors("body_too_large"), 1);
}

TEST_F(HttpServerTest, BodyExactlyAtTheLimitIsAccepted) {
  auto options = testOptions();
  options.max_body_bytes = 1000;
  startServer(options);
  runClient([this] {
    Client c = Client::tcp(port_);
    ASSERT_TRUE(c.send(post("/", std::string(1000, 'x'))));
    auto r = c.readResponse();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);
  });
  EXPECT_EQ(last_request_.body.size(), 1000u);
}

TEST_F(HttpServerTest, SlowLorisGets408) {
  auto options = testOptions();
  options.header_timeout_ms = 200;
  startServer(options);
  runClient(
      [this] {
        Client c = Client::tcp(port_);
        const auto start = Clock::now();
        ASSERT_TRUE(c.send("GET / HTTP/1.1\r\nHost: t\r\nX-Slow: "));
        auto r = c.readResponse();
        const auto elapsed = Clock::now() - start;
        ASSERT_TRUE(r);
        EXPECT_EQ(r->status, 408);
        EXPECT_EQ(r->header("connection"), "close");
        EXPECT_GE(elapsed, 150ms);
        EXPECT_LT(elapsed, 3s);
        bool clean = false;
        c.readToEof(&clean);
        EXPECT_TRUE(clean);

        // Connecting and sending nothing at all is the same.
        Client silent = Client::tcp(port_);
        r = silent.readResponse();
        ASSERT_TRUE(r);
        EXPECT_EQ(r->status, 408);
      },
      [this] { return server_->openConnections() == 0; });
  EXPECT_EQ(handled_, 0);
  EXPECT_EQ(errors("header_timeout"), 2);
  EXPECT_EQ(requests("408"), 2);
}

TEST_F(HttpServerTest, HeaderDeadlineRestartsForEachKeepAliveRequest) {
  auto options = testOptions();
  options.header_timeout_ms = 300;
  startServer(options);
  runClient([this] {
    Client c = Client::tcp(port_);
    ASSERT_TRUE(c.send(get("/1")));
    ASSERT_TRUE(c.readResponse());
    ASSERT_TRUE(c.send(get("/2")));
    ASSERT_TRUE(c.readResponse());
    // A second request that stalls in its headers still times out.
    ASSERT_TRUE(c.send("GET /3 HTTP/1.1\r\n"));
    auto r = c.readResponse();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 408);
  });
  EXPECT_EQ(handled_, 2);
}

TEST_F(HttpServerTest, IdleKeepAliveConnectionClosesQuietly) {
  auto options = testOptions();
  options.idle_timeout_ms = 100;
  startServer(options);
  runClient(
      [this] {
        Client c = Client::tcp(port_);
        ASSERT_TRUE(c.send(get("/")));
        ASSERT_TRUE(c.readResponse());
        bool clean = false;
        EXPECT_EQ(c.readToEof(&clean), "");  // no 408, just a close
        EXPECT_TRUE(clean);
      },
      [this] { return server_->openConnections() == 0; });
  EXPECT_EQ(errors("header_timeout"), 0);
  EXPECT_EQ(connectionsGauge(), 0);
}

TEST_F(HttpServerTest, ConnectionCloseIsHonoured) {
  startServer();
  runClient([this] {
    Client c = Client::tcp(port_);
    ASSERT_TRUE(c.send(get("/", "Connection: close\r\n") + get("/ignored")));
    auto r = c.readResponse();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->header("connection"), "close");
    bool clean = false;
    EXPECT_EQ(c.readToEof(&clean), "");  // the pipelined request after it is not answered
    EXPECT_TRUE(clean);
  });
  EXPECT_EQ(handled_, 1);
}

TEST_F(HttpServerTest, HandlerCanAskToClose) {
  startServer(testOptions(), [](HttpRequest&, HttpServer::Respond respond) {
    HttpResponse r = HttpResponse::text(503, "go away");
    r.headers.emplace_back("Connection", "close");
    r.headers.emplace_back("Retry-After", "1");
    respond(std::move(r));
  });
  runClient([this] {
    Client c = Client::tcp(port_);
    ASSERT_TRUE(c.send(get("/")));
    auto r = c.readResponse();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 503);
    EXPECT_EQ(r->header("connection"), "close");
    EXPECT_EQ(r->header("retry-after"), "1");
    bool clean = false;
    c.readToEof(&clean);
    EXPECT_TRUE(clean);
  });
}

TEST_F(HttpServerTest, Http10ClosesUnlessKeepAliveIsAsked) {
  startServer();
  runClient([this] {
    Client c = Client::tcp(port_);
    ASSERT_TRUE(c.send("GET /old HTTP/1.0\r\n\r\n"));
    auto r = c.readResponse();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(r->header("connection"), "close");
    bool clean = false;
    c.readToEof(&clean);
    EXPECT_TRUE(clean);

    Client k = Client::tcp(port_);
    for (int i = 0; i < 2; ++i) {
      ASSERT_TRUE(k.send("GET /ka HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"));
      r = k.readResponse();
      ASSERT_TRUE(r);
      EXPECT_EQ(r->header("connection"), "keep-alive");
    }
  });
  EXPECT_EQ(handled_, 3);
}

TEST_F(HttpServerTest, HeadResponseHasLengthButNoBody) {
  startServer();
  runClient([this] {
    Client c = Client::tcp(port_);
    ASSERT_TRUE(c.send("HEAD /h HTTP/1.1\r\nHost: t\r\n\r\n" + get("/g")));
    auto r = c.readResponse(/*head_request=*/true);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(r->header("content-length"), std::to_string(std::string("HEAD /h ? ").size()));
    // Had a body been sent, it would show up in front of the next response.
    r = c.readResponse();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->body, "GET /g ? ");
  });
}

TEST_F(HttpServerTest, NoContentHasNoLengthAndNoBody) {
  startServer(testOptions(), [](HttpRequest&, HttpServer::Respond respond) {
    HttpResponse r;
    r.status = 204;
    r.body = "ignored";
    respond(std::move(r));
  });
  runClient([this] {
    Client c = Client::tcp(port_);
    ASSERT_TRUE(c.send(get("/a") + get("/b")));
    for (int i = 0; i < 2; ++i) {
      auto r = c.readResponse();
      ASSERT_TRUE(r);
      EXPECT_EQ(r->status, 204);
      EXPECT_EQ(r->header("content-length"), "");
      EXPECT_EQ(r->body, "");
    }
  });
}

TEST_F(HttpServerTest, UnknownAndInvalidStatusCodes) {
  startServer(testOptions(), [](HttpRequest& req, HttpServer::Respond respond) {
    respond(HttpResponse::text(req.path == "/unknown" ? 299 : 42, "x"));
  });
  runClient([this] {
    Client c = Client::tcp(port_);
    ASSERT_TRUE(c.send(get("/unknown") + get("/invalid")));
    auto r = c.readResponse();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 299);
    r = c.readResponse();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 500);
  });
}

TEST_F(HttpServerTest, ResponseHeadersCannotSplitTheResponse) {
  startServer(testOptions(), [](HttpRequest&, HttpServer::Respond respond) {
    HttpResponse r = HttpResponse::text(200, "ok");
    r.headers.emplace_back("X-Evil", "a\r\nSet-Cookie: b");
    r.headers.emplace_back("Content-Length", "999");  // ignored: the server computes it
    respond(std::move(r));
  });
  runClient([this] {
    Client c = Client::tcp(port_);
    ASSERT_TRUE(c.send(get("/")));
    auto r = c.readResponse();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->header("set-cookie"), "");
    EXPECT_EQ(r->header("content-length"), "2");
    EXPECT_EQ(r->body, "ok");
  });
}

// --- bad input --------------------------------------------------------------------------------

struct BadInput {
  std::string name;
  std::string bytes;
  int status;
  std::string reason;
};

void PrintTo(const BadInput& b, std::ostream* os) {
  *os << b.name;
}

class HttpServerBadInputTest : public HttpServerTest,
                               public ::testing::WithParamInterface<BadInput> {};

TEST_P(HttpServerBadInputTest, IsAnsweredThenClosed) {
  const BadInput& input = GetParam();
  auto options = testOptions();
  options.max_header_bytes = 1024;
  options.max_body_bytes = 1000;
  startServer(options);
  runClient(
      [&] {
        Client c = Client::tcp(port_);
        ASSERT_TRUE(c.send(input.bytes));
        auto r = c.readResponse();
        ASSERT_TRUE(r);
        EXPECT_EQ(r->status, input.status);
        EXPECT_EQ(r->header("connection"), "close");
        c.shutdownWrite();
        bool clean = false;
        EXPECT_EQ(c.readToEof(&clean), "");
        EXPECT_TRUE(clean);
      },
      [this] { return server_->openConnections() == 0; });
  EXPECT_EQ(handled_, 0);
  EXPECT_EQ(errors(input.reason), 1);
  EXPECT_EQ(requests(std::to_string(input.status)), 1);
  EXPECT_EQ(connectionsGauge(), 0);
}

std::string chunk(size_t n) {
  return fmt::format("{:x}\r\n{}\r\n", n, std::string(n, 'c'));
}

INSTANTIATE_TEST_SUITE_P(
    Table, HttpServerBadInputTest,
    ::testing::Values(
        BadInput{"garbage", std::string("\x01\x02\x03 hello\r\n\r\n"), 400, "malformed"},
        BadInput{"tls_client_hello",
                 std::string("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", 11), 400, "malformed"},
        BadInput{"http2_preface", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 400, "malformed"},
        BadInput{"lowercase_method", "get / HTTP/1.1\r\nHost: t\r\n\r\n", 400, "malformed"},
        BadInput{"bad_version", "GET / HTTP/x.1\r\nHost: t\r\n\r\n", 400, "malformed"},
        BadInput{"http09_request_line", "GET /\r\n\r\n", 400, "malformed"},
        BadInput{"http2_version", "GET / HTTP/2.0\r\nHost: t\r\n\r\n", 400, "malformed"},
        BadInput{"control_char_in_target", "GET /a\x7f HTTP/1.1\r\nHost: t\r\n\r\n", 400,
                 "malformed"},
        BadInput{"space_in_header_name", "GET / HTTP/1.1\r\nBad Header: x\r\n\r\n", 400,
                 "malformed"},
        BadInput{"header_without_colon", "GET / HTTP/1.1\r\nNoColon\r\n\r\n", 400, "malformed"},
        BadInput{"nul_in_header_value", std::string("GET / HTTP/1.1\r\nX: a\0b\r\n\r\n", 27), 400,
                 "malformed"},
        BadInput{"bare_cr", "GET / HTTP/1.1\rHost: t\r\n\r\n", 400, "malformed"},
        BadInput{"content_length_not_a_number", "POST / HTTP/1.1\r\nContent-Length: abc\r\n\r\n",
                 400, "malformed"},
        BadInput{"content_length_negative", "POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n", 400,
                 "malformed"},
        BadInput{"content_length_overflow",
                 "POST / HTTP/1.1\r\nContent-Length: 99999999999999999999999\r\n\r\n", 400,
                 "malformed"},
        BadInput{"content_length_twice",
                 "POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab", 400,
                 "malformed"},
        BadInput{"chunked_and_content_length",
                 "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n"
                 "3\r\nabc\r\n0\r\n\r\n",
                 400, "malformed"},
        BadInput{"unsupported_transfer_encoding",
                 "POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\nabc", 400, "malformed"},
        BadInput{"bad_chunk_size", "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
                 400, "malformed"},
        BadInput{"chunk_without_crlf",
                 "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcX\r\n0\r\n\r\n", 400,
                 "malformed"},
        BadInput{"huge_header", "GET / HTTP/1.1\r\nX-Big: " + std::string(2000, 'a') + "\r\n\r\n",
                 431, "headers_too_large"},
        BadInput{"huge_target", "GET /" + std::string(2000, 'a') + " HTTP/1.1\r\n\r\n", 431,
                 "headers_too_large"},
        BadInput{"many_small_headers",
                 [] {
                   std::string s = "GET / HTTP/1.1\r\n";
                   for (int i = 0; i < 200; ++i) {
                     s += "A: b\r\n";
                   }
                   return s + "\r\n";
                 }(),
                 431, "headers_too_large"},
        BadInput{"declared_body_too_large", "POST / HTTP/1.1\r\nContent-Length: 1001\r\n\r\n", 413,
                 "body_too_large"},
        BadInput{"chunked_body_too_large",
                 "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n" + chunk(600) + chunk(600) +
                     chunk(600) + "0\r\n\r\n",
                 413, "body_too_large"}),
    [](const ::testing::TestParamInfo<BadInput>& info) { return info.param.name; });

TEST_F(HttpServerTest, ErrorAfterAPendingPipelinedRequestWaitsForItsAnswer) {
  HttpServer::Respond pending;
  startServer(testOptions(),
              [&](HttpRequest&, HttpServer::Respond respond) { pending = std::move(respond); });
  ClientThread client(loop_.get(), [this] {
    Client c = Client::tcp(port_);
    ASSERT_TRUE(c.send(get("/first") + "BROKEN\r\n\r\n"));
    auto r = c.readResponse();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(r->body, "first");
    r = c.readResponse();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 400);
  });
  ASSERT_TRUE(runUntil([&] { return errors("malformed") == 1 && pending != nullptr; }));
  EXPECT_EQ(requests("400"), -1);  // not written yet: it waits for /first
  pending(HttpResponse::text(200, "first"));
  EXPECT_TRUE(runUntil([&] { return client.done(); }));
}

// --- Unix socket ------------------------------------------------------------------------------

TEST_F(HttpServerTest, UnixSocketPassesPeerCredentialsAndHasTheMode) {
  startServer();
  const std::string path = dir_.file("query.sock");
  std::string error;
  ASSERT_TRUE(server_->listenUnix(path, 0660, &error)) << error;
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_TRUE(S_ISSOCK(st.st_mode));
  EXPECT_EQ(st.st_mode & 07777, 0660u);
  runClient([&] {
    Client c = Client::unixSocket(path);
    ASSERT_TRUE(c.connected()) << std::strerror(c.connectErrno());
    ASSERT_TRUE(c.send(get("/status")));
    auto r = c.readResponse();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->body, "GET /status ? ");
  });
  ASSERT_TRUE(last_request_.peer_pid.has_value());
  EXPECT_EQ(*last_request_.peer_pid, ::getpid());
  EXPECT_EQ(last_request_.peer_uid, ::getuid());
  EXPECT_EQ(last_request_.peer_gid, ::getgid());
  EXPECT_EQ(last_request_.peer_address, "unix");

  bool done = false;
  server_->shutdown([&] { done = true; });
  EXPECT_TRUE(runUntil([&] { return done; }));
  EXPECT_NE(::access(path.c_str(), F_OK), 0) << "the socket file is removed on shutdown";
}

TEST_F(HttpServerTest, UnixSocketReplacesAStaleSocketButNotAFile) {
  startServer();
  const std::string stale = dir_.file("stale.sock");
  {
    // A socket file left behind by a process that died.
    const int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strncpy(addr.sun_path, stale.c_str(), sizeof(addr.sun_path) - 1);
    ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
    ::close(fd);
  }
  std::string error;
  EXPECT_TRUE(server_->listenUnix(stale, 0600, &error)) << error;
  runClient([&] {
    Client c = Client::unixSocket(stale);
    ASSERT_TRUE(c.connected());
    ASSERT_TRUE(c.send(get("/")));
    EXPECT_TRUE(c.readResponse());
  });

  const std::string file = dir_.write("not-a-socket", "data");
  EXPECT_FALSE(server_->listenUnix(file, 0600, &error));
  EXPECT_NE(error.find(file), std::string::npos) << error;
  EXPECT_EQ(testing::readFile(file), "data");

  EXPECT_FALSE(server_->listenUnix("/" + std::string(200, 'x'), 0600, &error));

  // A socket someone still listens on is not taken over.
  const std::string live = dir_.file("live.sock");
  const int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, live.c_str(), sizeof(addr.sun_path) - 1);
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  ASSERT_EQ(::listen(fd, 4), 0);
  EXPECT_FALSE(server_->listenUnix(live, 0600, &error));
  EXPECT_NE(error.find("another process is listening"), std::string::npos) << error;
  EXPECT_EQ(::access(live.c_str(), F_OK), 0);
  ::close(fd);
}

// --- listening --------------------------------------------------------------------------------

TEST_F(HttpServerTest, ListenErrorsNameTheAddress) {
  startServer();
  HttpServer other(
      loop_.get(), testOptions(), [](HttpRequest&, HttpServer::Respond) {}, telemetry_);
  std::string error;
  EXPECT_FALSE(other.listenTcp("127.0.0.1", port_, &error));
  EXPECT_NE(error.find("127.0.0.1:" + std::to_string(port_)), std::string::npos) << error;
  EXPECT_FALSE(other.listenTcp("not-an-address", 80, &error));
  EXPECT_NE(error.find("not-an-address"), std::string::npos) << error;
  EXPECT_FALSE(other.listenTcp("127.0.0.1", 70000, &error));
  EXPECT_EQ(other.port(), 0);
}

TEST_F(HttpServerTest, ListensOnLocalhostAndIpv6) {
  startServer();
  HttpServer v6(
      loop_.get(), testOptions(),
      [](HttpRequest& req, HttpServer::Respond respond) {
        respond(HttpResponse::text(200, req.peer_address));
      },
      telemetry_);
  std::string error;
  if (!v6.listenTcp("::1", 0, &error)) {
    GTEST_SKIP() << "no IPv6 loopback: " << error;
  }
  const int port6 = v6.port();
  HttpServer local(
      loop_.get(), testOptions(), [](HttpRequest&, HttpServer::Respond) {}, telemetry_);
  ASSERT_TRUE(local.listenTcp("localhost", 0, &error)) << error;
  EXPECT_GT(local.port(), 0);
  runClient([port6] {
    const int fd = ::socket(AF_INET6, SOCK_STREAM, 0);
    sockaddr_in6 addr{};
    addr.sin6_family = AF_INET6;
    addr.sin6_port = htons(static_cast<uint16_t>(port6));
    addr.sin6_addr = in6addr_loopback;
    timeval tv{kSocketTimeoutSec, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    ASSERT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
    const std::string req = get("/");
    ASSERT_EQ(::send(fd, req.data(), req.size(), MSG_NOSIGNAL), static_cast<ssize_t>(req.size()));
    std::string got;
    char buf[4096];
    while (got.find("]:") == std::string::npos) {
      const ssize_t n = ::recv(fd, buf, sizeof(buf), 0);
      if (n <= 0) {
        break;
      }
      got.append(buf, static_cast<size_t>(n));
    }
    ::close(fd);
    EXPECT_NE(got.find("\r\n\r\n[::1]:"), std::string::npos) << got;
  });
}

// --- connection management --------------------------------------------------------------------

TEST_F(HttpServerTest, DropConnectionClosesWithoutAResponse) {
  startServer(testOptions(), [](HttpRequest& req, HttpServer::Respond respond) {
    HttpResponse r = HttpResponse::text(200, "kept");
    r.drop_connection = req.path == "/drop";
    respond(std::move(r));
  });
  runClient(
      [this] {
        Client c = Client::tcp(port_);
        ASSERT_TRUE(c.send(get("/keep") + get("/drop") + get("/never")));
        auto r = c.readResponse();
        ASSERT_TRUE(r);
        EXPECT_EQ(r->body, "kept");
        EXPECT_EQ(c.readToEof(), "");  // nothing for /drop or after it
      },
      [this] { return server_->openConnections() == 0; });
  EXPECT_EQ(requests("200"), 1);
  EXPECT_EQ(requests("dropped"), 1);
}

TEST_F(HttpServerTest, RespondAfterTheClientWentAwayIsANoOp) {
  std::vector<HttpServer::Respond> pending;
  startServer(testOptions(), [&](HttpRequest&, HttpServer::Respond respond) {
    pending.push_back(std::move(respond));
  });
  {
    Client c = Client::tcp(port_);
    ASSERT_TRUE(c.send(get("/a")));
    ASSERT_TRUE(runUntil([&] { return pending.size() == 1; }));
    c.reset();
  }
  ASSERT_TRUE(runUntil([&] { return server_->openConnections() == 0; }));
  pending[0](HttpResponse::text(200, "too late"));
  // Let the connection's handles be freed, then answer again.
  Timer tick(loop_.get(), [] {});
  tick.start(1);
  uv_run(loop_.get(), UV_RUN_ONCE);
  pending[0](HttpResponse::text(200, "still too late"));

  // And after the server itself is gone.
  {
    Client c = Client::tcp(port_);
    ASSERT_TRUE(c.send(get("/b")));
    ASSERT_TRUE(runUntil([&] { return pending.size() == 2; }));
    server_.reset();
    pending[1](HttpResponse::text(200, "no server"));
  }
  uv_run(loop_.get(), UV_RUN_NOWAIT);
  pending[1](HttpResponse::text(200, "no server, handles freed"));
  EXPECT_EQ(requests("200"), -1);
}

TEST_F(HttpServerTest, HalfClosedClientStillGetsItsResponses) {
  HttpServer::Respond pending;
  startServer(testOptions(), [&](HttpRequest& req, HttpServer::Respond respond) {
    if (req.path == "/later") {
      pending = std::move(respond);
    } else {
      respond(HttpResponse::text(200, req.path));
    }
  });
  ClientThread client(loop_.get(), [this] {
    Client c = Client::tcp(port_);
    ASSERT_TRUE(c.send(get("/now") + get("/later")));
    c.shutdownWrite();  // like `printf ... | nc`
    auto r = c.readResponse();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->body, "/now");
    r = c.readResponse();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->body, "later");
    // `Connection: close` is there only if the server read the FIN before the answer came.
    bool clean = false;
    c.readToEof(&clean);
    EXPECT_TRUE(clean);
  });
  ASSERT_TRUE(runUntil([&] { return pending != nullptr; }));
  pending(HttpResponse::text(200, "later"));
  EXPECT_TRUE(runUntil([&] { return client.done() && server_->openConnections() == 0; }));
}

TEST_F(HttpServerTest, ConnectionsOverTheLimitAreClosedAtOnce) {
  auto options = testOptions();
  options.max_connections = 2;
  startServer(options);
  Client a = Client::tcp(port_);
  Client b = Client::tcp(port_);
  runClient([&] {
    for (Client* c : {&a, &b}) {
      ASSERT_TRUE(c->send(get("/")));
      ASSERT_TRUE(c->readResponse());
    }
    Client over = Client::tcp(port_);
    ASSERT_TRUE(over.connected());  // the kernel completes the handshake
    over.send(get("/"));
    EXPECT_EQ(over.readToEof(), "");  // then the server closes it without a response
  });
  EXPECT_EQ(errors("too_many_connections"), 1);
  EXPECT_EQ(server_->openConnections(), 2u);
  EXPECT_EQ(connectionsGauge(), 2);

  a.close();
  ASSERT_TRUE(runUntil([&] { return server_->openConnections() == 1; }));
  runClient([&] {
    Client c = Client::tcp(port_);
    ASSERT_TRUE(c.send(get("/again")));
    auto r = c.readResponse();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);
  });
  EXPECT_EQ(errors("too_many_connections"), 1);
}

TEST_F(HttpServerTest, ShutdownFinishesTheInFlightRequestThenCallsDone) {
  HttpServer::Respond pending;
  bool done = false;
  startServer(testOptions(), [&](HttpRequest& req, HttpServer::Respond respond) {
    if (req.path == "/slow") {
      pending = std::move(respond);
      server_->shutdown([&] { done = true; });
    } else {
      respond(HttpResponse::text(200, "idle"));
    }
  });
  Client idle = Client::tcp(port_);
  Client slow = Client::tcp(port_);
  runClient([&] {
    ASSERT_TRUE(idle.send(get("/idle")));
    ASSERT_TRUE(idle.readResponse());
  });
  ASSERT_TRUE(slow.send(get("/slow")));
  // The idle keep-alive connection is closed at once; the one with a request in flight is not.
  ASSERT_TRUE(runUntil([&] { return pending != nullptr && server_->openConnections() == 1; }));
  EXPECT_FALSE(done);
  runClient([&] {
    bool clean = false;
    EXPECT_EQ(idle.readToEof(&clean), "");
    EXPECT_TRUE(clean);
    EXPECT_NE(Client::tcp(port_).connectErrno(), 0) << "no longer accepting";
  });
  EXPECT_FALSE(done);

  pending(HttpResponse::text(200, "finished"));
  runClient(
      [&] {
        auto r = slow.readResponse();
        ASSERT_TRUE(r);
        EXPECT_EQ(r->body, "finished");
        EXPECT_EQ(r->header("connection"), "close");
        bool clean = false;
        slow.readToEof(&clean);
        EXPECT_TRUE(clean);
      },
      [&] { return done; });
  EXPECT_EQ(server_->openConnections(), 0u);
  EXPECT_EQ(connectionsGauge(), 0);
}

TEST_F(HttpServerTest, ShutdownWithNoConnectionsCallsDoneFromTheLoop) {
  startServer();
  bool done = false;
  server_->shutdown([&] { done = true; });
  EXPECT_FALSE(done) << "done runs on the loop, not inside shutdown()";
  EXPECT_TRUE(runUntil([&] { return done; }));
  std::string error;
  EXPECT_FALSE(server_->listenTcp("127.0.0.1", 0, &error));
}

TEST_F(HttpServerTest, DestroyingTheServerWithOpenConnectionsIsSafe) {
  std::vector<HttpServer::Respond> pending;
  startServer(testOptions(), [&](HttpRequest& req, HttpServer::Respond respond) {
    if (req.path == "/hold") {
      pending.push_back(std::move(respond));
    } else {
      respond(HttpResponse::text(200, std::string(1 << 20, 'x')));  // still being written
    }
  });
  Client a = Client::tcp(port_);
  Client b = Client::tcp(port_);
  Client c = Client::tcp(port_);
  ASSERT_TRUE(a.send(get("/hold")));
  ASSERT_TRUE(b.send(get("/big")));
  ASSERT_TRUE(c.send("GET /partial HTTP/1.1\r\n"));
  ASSERT_TRUE(runUntil([&] { return pending.size() == 1 && requests("200") == 1; }));
  server_.reset();
  pending[0](HttpResponse::text(200, "x"));
  runClient([&] {
    for (Client* client : {&a, &c}) {
      EXPECT_EQ(client->readToEof(), "");
    }
  });
}

TEST_F(HttpServerTest, ReadRateLimitThrottlesTheBody) {
  startServer();
  server_->setReadRateLimit(20'000);
  const std::string body(10'000, 'r');
  Clock::duration elapsed{};
  runClient([&] {
    Client c = Client::tcp(port_);
    const auto start = Clock::now();
    ASSERT_TRUE(c.send(post("/slow", body)));
    auto r = c.readResponse();
    elapsed = Clock::now() - start;
    ASSERT_TRUE(r);
    EXPECT_EQ(r->body, "POST /slow ? " + body);
  });
  // ~10 KB at 20 KB/s: about half a second, whatever the scheduling.
  EXPECT_GE(elapsed, 350ms);
  EXPECT_LT(elapsed, 5s);

  server_->setReadRateLimit(0);
  runClient([&] {
    Client c = Client::tcp(port_);
    const auto start = Clock::now();
    ASSERT_TRUE(c.send(post("/fast", body)));
    ASSERT_TRUE(c.readResponse());
    EXPECT_LT(Clock::now() - start, 300ms);
  });
}

// --- a real client ----------------------------------------------------------------------------

size_t collect(char* data, size_t size, size_t n, void* out) {
  static_cast<std::string*>(out)->append(data, size * n);
  return size * n;
}

TEST_F(HttpServerTest, CurlPostsTwoMegabytesWithExpectContinue) {
  std::string expect_header;
  size_t body_size = 0;
  startServer(testOptions(), [&](HttpRequest& req, HttpServer::Respond respond) {
    expect_header = std::string(req.header("expect"));
    body_size = req.body.size();
    respond(HttpResponse::json(202, "{\"received\":" + std::to_string(req.body.size()) + "}"));
  });
  ASSERT_EQ(curl_global_init(CURL_GLOBAL_DEFAULT), CURLE_OK);
  const std::string url = fmt::format("http://127.0.0.1:{}/api/v2/series", port_);
  const std::string payload(2 * 1024 * 1024, 'p');
  runClient([&] {
    CURL* curl = curl_easy_init();
    ASSERT_NE(curl, nullptr);
    std::string response;
    curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, payload.data());
    curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(payload.size()));
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &response);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, 8000L);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    // Were `100 Continue` missing, curl would wait this long before sending the body anyway.
    curl_easy_setopt(curl, CURLOPT_EXPECT_100_TIMEOUT_MS, 6000L);
    const auto start = Clock::now();
    ASSERT_EQ(curl_easy_perform(curl), CURLE_OK);
    EXPECT_LT(Clock::now() - start, 4s);
    long code = 0;
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &code);
    EXPECT_EQ(code, 202);
    EXPECT_EQ(response, "{\"received\":2097152}");

    // The connection is kept alive and reused.
    response.clear();
    ASSERT_EQ(curl_easy_perform(curl), CURLE_OK);
    long new_connections = -1;
    curl_easy_getinfo(curl, CURLINFO_NUM_CONNECTS, &new_connections);
    EXPECT_EQ(new_connections, 0);
    EXPECT_EQ(response, "{\"received\":2097152}");
    curl_easy_cleanup(curl);
  });
  EXPECT_EQ(expect_header, "100-continue");
  EXPECT_EQ(body_size, payload.size());
  EXPECT_EQ(requests("202"), 2);
  curl_global_cleanup();
}

}  // namespace
}  // namespace outpost
