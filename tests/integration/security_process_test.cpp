// The API key never shown: a real `outpost run` at log level trace, every pipeline fed (a log
// file, DogStatsD, an APM trace, the host checks), shipping to a fake intake that rejects the
// key (the 403 error paths), reloaded with a second key; then every output is gathered and
// searched for both keys and for pieces of them: the daemon's stderr, `outpost status` (text
// and JSON), `outpost configcheck`, every query socket answer that describes the agent, the
// files it wrote under run_path, and the errors of broken configurations that hold a key.
#include <gtest/gtest.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "collector/query/query_client.h"
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

constexpr const char* kKey1 = "5ec1e7a11ce0b5e55ed0c0ffee15bad1";
constexpr const char* kKey2 = "7e11n0b0dyab0u7th15ca7d0c0de4a11";
constexpr const char* kKey3 = "deadbeefdeadbeefdeadbeef99887766";

// Every piece of output, with where it came from.
struct Outputs {
  std::vector<std::pair<std::string, std::string>> items;
  void add(std::string where, std::string text) {
    items.emplace_back(std::move(where), std::move(text));
  }
};

// The key, its first and last 10 characters (a partial reveal is a leak too).
void expectNoKey(const Outputs& outputs, const std::string& key) {
  const std::vector<std::string> needles = {key, key.substr(0, 10), key.substr(key.size() - 10)};
  for (const auto& [where, text] : outputs.items) {
    for (const auto& n : needles) {
      const size_t at = text.find(n);
      EXPECT_EQ(at, std::string::npos)
          << "'" << n << "' (of a planted key) in " << where << ": ..."
          << text.substr(at == std::string::npos ? 0 : at - std::min<size_t>(at, 80), 160);
    }
  }
}

std::string config(const TempDir& dir, const std::string& key, const std::string& intake,
                   int dsd_port, int apm_port) {
  return "api_key: " + key +
         "\nhostname: sec-host\nlog_level: trace\n"
         "dd_url: " +
         intake +
         "\nlogs_enabled: true\n"
         "logs_config:\n  logs_dd_url: " +
         intake +
         "\n  batch_wait: 0.2\n"
         "use_dogstatsd: true\ndogstatsd_port: " +
         std::to_string(dsd_port) +
         "\ndogstatsd_flush_interval: 1\n"
         "apm_config:\n  receiver_port: " +
         std::to_string(apm_port) + "\n  apm_dd_url: " + intake + "\nrun_path: " + dir.file("run") +
         "\nquery_socket: " + dir.file("run/query.sock") + "\n";
}

TEST(SecurityProcessTest, APlantedApiKeyAppearsInNoOutput) {
  fakeintake::FakeIntake::Options io;
  io.validation.invalid_api_keys = {kKey1, kKey2};
  FakeIntakeThread intake(io);
  ASSERT_TRUE(intake.start());
  TempDir dir;
  const int dsd_port = testing::freeUdpPort();
  const int apm_port = testing::freeTcpPort();
  dir.write("logs/app.log", "first line\n");
  dir.write("conf.d/app.d/conf.yaml",
            "logs:\n  - type: file\n    path: " + dir.file("logs/app.log") +
                "\n    service: app\n    source: app\n"
                "    start_position: beginning\n");
  dir.write("conf.d/uptime.d/conf.yaml", "instances:\n  - {}\n");
  dir.write("outpost.yaml", config(dir, kKey1, intake.url(), dsd_port, apm_port));
  Outputs out;

  NotifySocket notify(dir.file("notify.sock"));
  Process p({OUTPOST_BIN, "run", "-c", dir.path()}, {{"NOTIFY_SOCKET", notify.path()}}, dir);
  ASSERT_TRUE(notify.waitFor("READY=1", 10s)) << p.err();
  const std::string socket = dir.file("run/query.sock");

  // Feed every pipeline, and wait until the intake has refused the key on each route.
  auto feed = [&](int round) {
    std::ofstream(dir.file("logs/app.log"), std::ios::app)
        << "round " << round << " ERROR something failed\n";
    testing::sendUdp(dsd_port, "sec.hits:1|c|#round:" + std::to_string(round));
    const int64_t now_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(
                               std::chrono::system_clock::now().time_since_epoch())
                               .count();
    testing::TraceSpan span{
        "web", "http.request", "GET /", "web", 100u + round, 7,
        0,     now_ns,         1000000, 0,     {},           {{"_sampling_priority_v1", 2}}};
    const std::string body = testing::v04Body({{span}});
    const std::string answer = testing::exchange(
        testing::connectTcp(apm_port),
        "PUT /v0.4/traces HTTP/1.1\r\nHost: x\r\nContent-Type: application/msgpack\r\n"
        "X-Datadog-Trace-Count: 1\r\nConnection: close\r\nContent-Length: " +
            std::to_string(body.size()) + "\r\n\r\n" + body);
    out.add("the APM receiver's answer", answer);
  };
  auto refused = [&](const std::string& route, uint64_t since) {
    for (const auto& pl : intake.payloads(route, since)) {
      if (pl.status == 403) {
        return true;
      }
    }
    return false;
  };
  auto waitRefusals = [&](uint64_t since, int round) {
    const auto t0 = std::chrono::steady_clock::now();
    while (std::chrono::steady_clock::now() - t0 < 30s) {
      feed(round++);
      if (refused("/api/v2/series", since) && refused("/api/v2/logs", since) &&
          refused("/api/v0.2/traces", since)) {
        return true;
      }
      std::this_thread::sleep_for(500ms);
    }
    return false;
  };
  ASSERT_TRUE(waitRefusals(0, 0)) << p.err();
  // The key really went out (to the intake, in its header), so the checks below can fail.
  bool sent = false;
  for (const auto& pl : intake.payloads()) {
    sent = sent || pl.header("dd-api-key") == kKey1;
  }
  ASSERT_TRUE(sent);

  auto gather = [&](const std::string& when) {
    for (const char* path : {"/v1/status", "/v1/config", "/v1/checks", "/v1/logs/sources",
                             "/v1/metrics/list", "/v1/traces"}) {
      const auto r = query::queryGet(socket, path);
      EXPECT_EQ(r.status, 200) << path << " " << r.body;
      out.add(when + " GET " + path, r.body);
    }
    const auto tail = query::queryPost(socket, "/v1/logs/tail", R"({"lines":100})");
    out.add(when + " /v1/logs/tail", tail.body);
    for (const std::vector<std::string>& args :
         {std::vector<std::string>{OUTPOST_BIN, "status", "-c", dir.path()},
          std::vector<std::string>{OUTPOST_BIN, "status", "--json", "-c", dir.path()},
          std::vector<std::string>{OUTPOST_BIN, "configcheck", "-c", dir.path()}}) {
      const auto r = testing::runCommand(args);
      out.add(when + " " + args[1] + (args.size() > 4 ? " --json" : "") + " (stdout)", r.out);
      out.add(when + " " + args[1] + " (stderr)", r.err);
    }
  };
  gather("with key 1:");
  // The status says the key is rejected, without showing it.
  const auto status = query::queryGet(socket, "/v1/status");
  EXPECT_NE(status.body.find("rejected"), std::string::npos) << status.body;

  // A reload to another (also refused) key.
  const uint64_t before_reload = intake.payloads().empty() ? 0 : intake.payloads().back().seq;
  dir.write("outpost.yaml", config(dir, kKey2, intake.url(), dsd_port, apm_port));
  p.signal(SIGHUP);
  ASSERT_TRUE(notify.waitFor("READY=1", 10s)) << p.err();
  ASSERT_TRUE(waitRefusals(before_reload, 1000)) << p.err();
  gather("with key 2:");

  p.signal(SIGTERM);
  EXPECT_EQ(p.wait(20s), 0);
  out.add("the daemon's stdout", p.out());
  out.add("the daemon's stderr (log level trace)", p.err());
  EXPECT_NE(p.err().find("configuration reloaded"), std::string::npos) << p.err();
  // What it left on disk: the registry, the spool, anything else.
  for (const auto& e : std::filesystem::recursive_directory_iterator(dir.file("run"))) {
    if (e.is_regular_file()) {
      out.add("the file " + e.path().string(), testing::readFile(e.path().string()));
    }
  }

  // Broken configurations that hold a key: the errors name the file, line and key, not the
  // value.
  for (const auto& [name, yaml] : std::vector<std::pair<std::string, std::string>>{
           {"yaml syntax", std::string("api_key: ") + kKey3 + "\nlog_level: [unclosed\n"},
           {"a typo'd key", std::string("api_kye: ") + kKey3 + "\n"},
           {"a wrong type", std::string("api_key:\n  nested: ") + kKey3 + "\n"},
           {"a quoted key", std::string("api_key: \"") + kKey3 + "\"\ndogstatsd_port: x\n"},
           {"a key in a URL", std::string("dd_url: https://user:") + kKey3 + "@example.com\n" +
                                  "dogstatsd_port: x\n"},
       }) {
    TempDir bad;
    bad.write("outpost.yaml", yaml + "run_path: " + bad.file("run") + "\n");
    auto r = testing::runCommand({OUTPOST_BIN, "configcheck", "-c", bad.path()});
    // (An unknown key is a warning, the rest are errors.)
    EXPECT_EQ(r.code == 0, name == "a typo'd key") << name << ": " << r.out << r.err;
    out.add("configcheck with " + name + " (stdout)", r.out);
    out.add("configcheck with " + name + " (stderr)", r.err);
    r = testing::runCommand({OUTPOST_BIN, "run", "-c", bad.path()}, {}, 10s);
    out.add("run with " + name + " (stderr)", r.err);
  }
  // The environment variable, in a configuration that fails.
  {
    TempDir bad;
    bad.write("outpost.yaml", "dogstatsd_port: x\nrun_path: " + bad.file("run") + "\n");
    const auto r = testing::runCommand({OUTPOST_BIN, "configcheck", "-c", bad.path()},
                                       {{"DD_API_KEY", std::string(kKey3)}});
    out.add("configcheck with DD_API_KEY (stdout)", r.out);
    out.add("configcheck with DD_API_KEY (stderr)", r.err);
  }

  ASSERT_GT(out.items.size(), 40u);
  // The key's place is there, masked (so the search below looks where the key would be).
  size_t masked = 0;
  for (const auto& [where, text] : out.items) {
    masked += text.find("api_key: \"********\"") != std::string::npos ||
                      text.find(R"(api_key: \"********\")") != std::string::npos  // in JSON
                  ? 1
                  : 0;
  }
  EXPECT_GE(masked, 4u);  // configcheck twice, /v1/config twice
  expectNoKey(out, kKey1);
  expectNoKey(out, kKey2);
  expectNoKey(out, kKey3);
}

}  // namespace
}  // namespace outpost
