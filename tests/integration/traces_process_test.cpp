// The trace receiver in a real `outpost run`: tracer-shaped requests over real sockets (TCP and
// the Unix socket), the answers tracers rely on, and what reaches the fake intake (AgentPayload
// protobuf and APM stats msgpack, decoded and checked by the fake intake).
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "tests/fakeintake/fake_intake.h"
#include "tests/support/test_support.h"
#include "tests/support/trace_bodies.h"

namespace outpost {
namespace {

using namespace std::chrono_literals;
using fakeintake::FakeIntakeThread;
using testing::NotifySocket;
using testing::Process;
using testing::TempDir;
using testing::v04Body;
using testing::v05Body;

constexpr const char* kApiKey = "0123456789abcdef0123456789abcdef";

struct Response {
  int status = 0;
  std::map<std::string, std::string> headers;  // lower-case names
  std::string body;
};

// One HTTP/1.1 request on a fresh connection (Connection: close), read to EOF.
Response request(int fd, const std::string& method, const std::string& path,
                 const std::vector<std::pair<std::string, std::string>>& headers,
                 const std::string& body) {
  std::string req = method + " " + path + " HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n";
  for (const auto& [k, v] : headers) {
    req += k + ": " + v + "\r\n";
  }
  req += "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n";
  req += body;
  size_t sent = 0;
  while (sent < req.size()) {
    const ssize_t n = ::send(fd, req.data() + sent, req.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) {
      break;  // the server may answer (413) and close before reading everything
    }
    sent += static_cast<size_t>(n);
  }
  std::string raw;
  char buf[65536];
  for (;;) {
    const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) {
      break;
    }
    raw.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  Response r;
  const size_t head_end = raw.find("\r\n\r\n");
  if (raw.size() < 12 || head_end == std::string::npos) {
    return r;
  }
  r.status = std::stoi(raw.substr(9, 3));
  size_t line = raw.find("\r\n") + 2;
  while (line < head_end) {
    const size_t eol = raw.find("\r\n", line);
    const std::string h = raw.substr(line, eol - line);
    const size_t colon = h.find(':');
    std::string name = h.substr(0, colon);
    for (auto& c : name) {
      c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    }
    r.headers[name] = h.substr(h.find_first_not_of(' ', colon + 1));
    line = eol + 2;
  }
  r.body = raw.substr(head_end + 4);
  return r;
}

Response tcpRequest(int port, const std::string& method, const std::string& path,
                    const std::vector<std::pair<std::string, std::string>>& headers = {},
                    const std::string& body = "") {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    return {};
  }
  return request(fd, method, path, headers, body);
}

Response unixRequest(const std::string& socket_path, const std::string& method,
                     const std::string& path,
                     const std::vector<std::pair<std::string, std::string>>& headers = {},
                     const std::string& body = "") {
  const int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", socket_path.c_str());
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    return {};
  }
  return request(fd, method, path, headers, body);
}

int64_t nowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// Two traces of a web request with a SQL child (one with an error), priority keep.
std::vector<testing::Trace> twoTraces() {
  const int64_t t0 = nowNs() - 50'000'000;
  std::vector<testing::Trace> traces;
  for (uint64_t i = 0; i < 2; ++i) {
    const uint64_t trace = 0x1000 + i;
    testing::TraceSpan root{"Web Shop!",
                            "http.request",
                            "GET /cart",
                            "web",
                            trace,
                            100 + i,
                            0,
                            t0,
                            20'000'000,
                            0,
                            {{"env", "prod"}, {"http.status_code", "200"}},
                            {{"_sampling_priority_v1", 1}}};
    testing::TraceSpan db{"shop-db",
                          "postgres.query",
                          "SELECT * FROM t WHERE id = 42 AND n = 'x'",
                          "sql",
                          trace,
                          200 + i,
                          100 + i,
                          t0 + 1'000'000,
                          5'000'000,
                          static_cast<int32_t>(i),
                          {{"sql.query", "SELECT * FROM t WHERE id = 42 AND n = 'x'"}},
                          {}};
    traces.push_back({root, db});
  }
  return traces;
}

class Daemon {
 public:
  Daemon(const TempDir& dir, const std::string& config) : dir_(dir) {
    dir.write("outpost.yaml", config);
  }
  bool start() {
    notify_.reset();  // its destructor removes the socket file the new one binds
    notify_ = std::make_unique<NotifySocket>(dir_.file("notify.sock"));
    process_ = std::make_unique<Process>(
        std::vector<std::string>{OUTPOST_BIN, "run", "-c", dir_.path()},
        std::map<std::string, std::optional<std::string>>{{"NOTIFY_SOCKET", notify_->path()}},
        dir_);
    return notify_->waitFor("READY=1", 10s).has_value();
  }
  int stop() {
    process_->signal(SIGTERM);
    return process_->wait(20s).value_or(-1);
  }
  std::string err() const { return process_ ? process_->err() : ""; }

 private:
  const TempDir& dir_;
  std::unique_ptr<NotifySocket> notify_;
  std::unique_ptr<Process> process_;
};

std::string config(const TempDir& dir, const FakeIntakeThread* intake, int port,
                   const std::string& extra_apm = "") {
  std::string c;
  if (intake != nullptr) {
    c += std::string("api_key: ") + kApiKey + "\ndd_url: " + intake->url() +
         "\nlogs_config:\n  logs_dd_url: " + intake->url() + "\n";
  }
  c += "hostname: traces-test-host\n"
       "run_path: " +
       dir.file("run") +
       "\n"
       "dogstatsd_port: " +
       std::to_string(testing::freeUdpPort()) +
       "\ndogstatsd_flush_interval: 1\n"
       "apm_config:\n  receiver_port: " +
       std::to_string(port) + "\n  max_payload_size: 200000\n" + extra_apm;
  if (intake != nullptr) {
    c += "  apm_dd_url: " + intake->url() + "\n";
  }
  return c;
}

TEST(TracesProcessTest, TracerRequestsAreAnsweredAndReachTheIntake) {
  FakeIntakeThread intake;
  ASSERT_TRUE(intake.start());
  TempDir dir;
  const int port = testing::freeTcpPort();
  Daemon d(dir, config(dir, &intake, port,
                       "  receiver_socket: " + dir.file("apm.sock") + "\n  env: agent-env\n"));
  ASSERT_TRUE(d.start()) << d.err();

  // /info: what tracers read to pick endpoints and features.
  Response info = tcpRequest(port, "GET", "/info");
  ASSERT_EQ(info.status, 200) << d.err();
  const auto doc = nlohmann::json::parse(info.body);
  const auto endpoints = doc["endpoints"].get<std::vector<std::string>>();
  for (const char* e : {"/v0.4/traces", "/v0.5/traces", "/v0.7/traces", "/v0.6/stats"}) {
    EXPECT_NE(std::find(endpoints.begin(), endpoints.end(), e), endpoints.end()) << e;
  }
  EXPECT_TRUE(doc["client_drop_p0s"].get<bool>());
  EXPECT_EQ(doc["config"]["default_env"], "agent-env");
  EXPECT_FALSE(info.headers["datadog-agent-version"].empty());
  EXPECT_FALSE(info.headers["datadog-agent-state"].empty());
  EXPECT_NE(info.body.find("\n\t\"endpoints\""), std::string::npos);  // tab-indented

  // v0.4 msgpack: 200 with rate_by_service and its version.
  const auto traces = twoTraces();
  Response v04 = tcpRequest(port, "PUT", "/v0.4/traces",
                            {{"Content-Type", "application/msgpack"},
                             {"Datadog-Meta-Lang", "python"},
                             {"Datadog-Meta-Tracer-Version", "2.9.0"},
                             {"X-Datadog-Trace-Count", "2"}},
                            v04Body(traces));
  ASSERT_EQ(v04.status, 200) << v04.body << d.err();
  EXPECT_EQ(v04.headers["content-type"], "application/json");
  const auto rates = nlohmann::json::parse(v04.body);
  EXPECT_TRUE(rates["rate_by_service"].contains("service:,env:")) << v04.body;
  EXPECT_FALSE(v04.headers["datadog-rates-payload-version"].empty());

  // v0.5 over the Unix socket.
  auto v05_traces = twoTraces();
  for (auto& t : v05_traces) {
    for (auto& s : t) {
      s.trace_id += 0x100;
      s.span_id += 1000;
      if (s.parent_id != 0) {
        s.parent_id += 1000;
      }
    }
  }
  const Response v05 = unixRequest(
      dir.file("apm.sock"), "POST", "/v0.5/traces",
      {{"Content-Type", "application/msgpack"}, {"Datadog-Meta-Lang", "go"}}, v05Body(v05_traces));
  EXPECT_EQ(v05.status, 200) << v05.body;

  // v0.3 JSON.
  const std::string json_trace =
      R"([[{"trace_id":18446744073709551615,"span_id":77,"parent_id":0,"name":"json.op",)"
      R"("service":"json-svc","resource":"r","start":)" +
      std::to_string(nowNs()) +
      R"(,"duration":1000,"error":0,"meta":{"env":"prod"},"metrics":{"_sampling_priority_v1":2}}]])";
  const Response v03 =
      tcpRequest(port, "POST", "/v0.3/traces", {{"Content-Type", "application/json"}}, json_trace);
  EXPECT_EQ(v03.status, 200);
  EXPECT_EQ(v03.body, "OK\n");

  // Malformed, oversized, unknown, and the proxies tracers call.
  const Response bad = tcpRequest(port, "POST", "/v0.4/traces",
                                  {{"Content-Type", "application/msgpack"}}, "\x92\x91");
  EXPECT_EQ(bad.status, 400);
  EXPECT_FALSE(bad.body.empty());
  const Response big =
      tcpRequest(port, "POST", "/v0.4/traces", {{"Content-Type", "application/msgpack"}},
                 std::string(300'000, '\x90'));
  EXPECT_EQ(big.status, 413);
  EXPECT_EQ(tcpRequest(port, "POST", "/telemetry/proxy/api/v2/apmtelemetry",
                       {{"Content-Type", "application/json"}}, "{}")
                .status,
            202);
  EXPECT_EQ(tcpRequest(port, "GET", "/v0.7/config").status, 404);
  EXPECT_EQ(tcpRequest(port, "POST", "/v0.4/services", {}, "{}").status, 200);

  // DogStatsD over HTTP, as dd-trace sends its own metrics.
  EXPECT_EQ(tcpRequest(port, "POST", "/dogstatsd/v2/proxy", {},
                       "tracer.proxy.count:3|c|#lang:python\ntracer.proxy.gauge:7|g\n")
                .status,
            200);

  // A graceful stop flushes the trace buffer and every stats bucket into the forwarder, which
  // spools what it could not send yet; the next start delivers it.
  EXPECT_EQ(d.stop(), 0) << d.err();
  const std::string first_run = d.err();
  ASSERT_TRUE(d.start()) << d.err();
  intake.waitForPayloads("/api/v0.2/traces", 1, 15s);
  intake.waitForPayloads("/api/v0.2/stats", 1, 15s);
  intake.waitForPayloads("/api/v2/series", 1, 15s);
  EXPECT_EQ(d.stop(), 0) << d.err();

  const auto payloads = intake.store().acceptedPayloads("/api/v0.2/traces");
  for (const auto& p : intake.store().payloads()) {
    if (!p.valid) {
      ADD_FAILURE() << "invalid payload to " << p.route << ": " << nlohmann::json(p.errors).dump();
    }
  }
  ASSERT_FALSE(payloads.empty()) << "first run:\n" << first_run << "second run:\n" << d.err();
  std::map<uint64_t, nlohmann::json> spans;  // by span id
  std::map<uint64_t, nlohmann::json> chunk_of;
  std::set<std::string> languages;
  for (const auto& p : payloads) {
    EXPECT_EQ(p.decoded["hostName"], "traces-test-host");
    EXPECT_EQ(p.decoded["env"], "agent-env");
    for (const auto& tp : p.decoded["tracerPayloads"]) {
      languages.insert(tp["languageName"].get<std::string>());
      for (const auto& chunk : tp["chunks"]) {
        for (const auto& s : chunk["spans"]) {
          const uint64_t id = std::stoull(s["spanID"].get<std::string>());
          spans[id] = s;
          chunk_of[id] = chunk;
        }
      }
    }
  }
  EXPECT_EQ(languages, (std::set<std::string>{"python", "go", ""}));
  for (uint64_t id : {100, 101, 200, 201, 1100, 1101, 1200, 1201, 77}) {
    EXPECT_TRUE(spans.count(id)) << "span " << id << " missing";
  }
  ASSERT_TRUE(spans.count(100) && spans.count(201) && spans.count(77));
  // Normalized service, top-level marking, obfuscated SQL, the v0.3 64-bit id intact.
  EXPECT_EQ(spans[100]["service"], "web_shop");
  EXPECT_EQ(spans[100]["metrics"]["_top_level"], 1);
  EXPECT_EQ(spans[200]["metrics"]["_top_level"], 1);  // a different service than its parent
  EXPECT_EQ(spans[200]["resource"], "SELECT * FROM t WHERE id = ? AND n = ?");
  EXPECT_EQ(spans[200]["meta"]["sql.query"], "SELECT * FROM t WHERE id = ? AND n = ?");
  EXPECT_EQ(spans[201]["error"], 1);
  EXPECT_EQ(chunk_of[100]["priority"], 1);
  EXPECT_EQ(spans[77]["traceID"], "18446744073709551615");
  EXPECT_EQ(chunk_of[77]["priority"], 2);

  // APM stats: per (service, name, resource) hits and errors of the four v0.4/v0.5 traces.
  const auto stats = intake.store().acceptedPayloads("/api/v0.2/stats");
  ASSERT_FALSE(stats.empty()) << d.err();
  std::map<std::string, std::pair<uint64_t, uint64_t>> hits;  // key -> (hits, errors)
  for (const auto& p : stats) {
    EXPECT_EQ(p.decoded["AgentHostname"], "traces-test-host");
    for (const auto& csp : p.decoded["Stats"]) {
      for (const auto& bucket : csp["Stats"]) {
        for (const auto& g : bucket["Stats"]) {
          auto& h = hits[g["Service"].get<std::string>() + "|" + g["Resource"].get<std::string>()];
          h.first += g["Hits"].get<uint64_t>();
          h.second += g["Errors"].get<uint64_t>();
        }
      }
    }
  }
  EXPECT_EQ(hits["web_shop|GET /cart"], std::make_pair(uint64_t{4}, uint64_t{0}));
  EXPECT_EQ(hits["shop-db|SELECT * FROM t WHERE id = ? AND n = ?"],
            std::make_pair(uint64_t{4}, uint64_t{2}));

  // The proxied DogStatsD lines became series.
  const auto series = intake.store().acceptedPayloads("/api/v2/series");
  bool found = false;
  for (const auto& p : series) {
    for (const auto& s : p.decoded["series"]) {
      found = found || s["metric"] == "tracer.proxy.count";
    }
  }
  EXPECT_TRUE(found) << "tracer.proxy.count not among the series";
}

TEST(TracesProcessTest, LocalModeAnswersTracersAndSaysForwardingIsOff) {
  TempDir dir;
  const int port = testing::freeTcpPort();
  Daemon d(dir, config(dir, nullptr, port));
  ASSERT_TRUE(d.start()) << d.err();
  const Response r = tcpRequest(port, "POST", "/v0.4/traces",
                                {{"Content-Type", "application/msgpack"}}, v04Body(twoTraces()));
  EXPECT_EQ(r.status, 200);
  EXPECT_NE(r.body.find("rate_by_service"), std::string::npos);
  EXPECT_EQ(d.stop(), 0);
  EXPECT_NE(d.err().find("local mode"), std::string::npos) << d.err();
}

TEST(TracesProcessTest, ABusyPortIsAClearStartError) {
  TempDir dir;
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  ASSERT_EQ(::listen(fd, 1), 0);
  socklen_t len = sizeof addr;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  const int port = ntohs(addr.sin_port);
  dir.write("outpost.yaml", config(dir, nullptr, port));
  const auto run = testing::runCommand({OUTPOST_BIN, "run", "-c", dir.path()}, {}, 10s);
  ::close(fd);
  EXPECT_NE(run.code, 0);
  EXPECT_NE(run.err.find(std::to_string(port)), std::string::npos) << run.err;
}

TEST(TracesProcessTest, ABadIgnoreResourcesPatternIsAConfigurationError) {
  TempDir dir;
  const std::string file = dir.write("outpost.yaml",
                                     "apm_config:\n"
                                     "  receiver_port: 0\n"
                                     "  ignore_resources: [\"GET /health\", \"(unclosed\"]\n"
                                     "run_path: " +
                                         dir.file("run") + "\n");
  const auto check = testing::runCommand({OUTPOST_BIN, "configcheck", "-c", dir.path()});
  EXPECT_EQ(check.code, 1);
  EXPECT_NE(check.err.find(file + ":3"), std::string::npos) << check.err;
  EXPECT_NE(check.err.find("apm_config.ignore_resources"), std::string::npos) << check.err;
  EXPECT_NE(check.err.find("(unclosed"), std::string::npos) << check.err;
  const auto run = testing::runCommand({OUTPOST_BIN, "run", "-c", dir.path()}, {}, 10s);
  EXPECT_EQ(run.code, 1);
  EXPECT_NE(run.err.find(file + ":3"), std::string::npos) << run.err;
}

}  // namespace
}  // namespace outpost
