// DogStatsD through a real `outpost run`: datagrams over loopback UDP, aggregated, encoded and
// forwarded to the fake intake, which decodes and checks them.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include "tests/fakeintake/fake_intake.h"
#include "tests/support/test_support.h"

namespace outpost {
namespace {

using namespace std::chrono_literals;
using fakeintake::FakeIntakeThread;
using testing::NotifySocket;
using testing::Process;
using testing::sendUdp;
using testing::TempDir;

const nlohmann::json* findSeries(const std::vector<fakeintake::Payload>& payloads,
                                 const std::string& name) {
  for (const auto& p : payloads) {
    for (const auto& s : p.decoded["series"]) {
      if (s["metric"] == name) {
        return &s;
      }
    }
  }
  return nullptr;
}

TEST(DogStatsdProcessTest, SamplesEventsAndChecksReachTheIntakeDecoded) {
  FakeIntakeThread intake;
  ASSERT_TRUE(intake.start());
  TempDir dir;
  const int port = testing::freeUdpPort();
  dir.write("outpost.yaml",
            "api_key: 0123456789abcdef0123456789abcdef\n"
            "hostname: dsd-test-host\n"
            "tags: [role:test]\n"
            "dd_url: " +
                intake.url() +
                "\n"
                "logs_config:\n  logs_dd_url: " +
                intake.url() +
                "\n"
                "apm_config:\n  receiver_port: 0\n  apm_dd_url: " +
                intake.url() +
                "\n"
                "run_path: " +
                dir.file("run") +
                "\n"
                "dogstatsd_port: " +
                std::to_string(port) +
                "\n"
                "dogstatsd_flush_interval: 1\n");
  NotifySocket notify(dir.file("notify.sock"));
  Process p({OUTPOST_BIN, "run", "-c", dir.path()}, {{"NOTIFY_SOCKET", notify.path()}}, dir);
  ASSERT_TRUE(notify.waitFor("READY=1", 5s)) << p.err();

  sendUdp(port,
          "dsd.requests:3|c|#route:/a\n"
          "dsd.requests:2|c|@0.5|#route:/a\n"  // counts for 4
          "dsd.temperature:21.5|g|#room:lab\n"
          "dsd.bad line\n"  // malformed: counted, the rest still processed
          "dsd.latency:100|ms\n"
          "dsd.latency:200|ms\n"
          "dsd.size:512|d\n");
  sendUdp(port, "_sc|dsd.db.up|2|#db:main|m:connection refused");
  sendUdp(port, "_e{10,9}:Deploy end|v1.2 done|t:success|#svc:web");

  // The bucket closes at the next 10 s boundary, then the next flush sends it.
  const auto series = intake.waitForPayloads("/api/v2/series", 1, 25s);
  ASSERT_FALSE(series.empty()) << p.err();
  std::vector<fakeintake::Payload> all;
  const auto deadline = std::chrono::steady_clock::now() + 25s;
  const nlohmann::json* counter = nullptr;
  while (std::chrono::steady_clock::now() < deadline) {
    all = intake.store().acceptedPayloads("/api/v2/series");
    counter = findSeries(all, "dsd.requests");
    if (counter != nullptr && findSeries(all, "dsd.latency.95percentile") != nullptr) {
      break;
    }
    std::this_thread::sleep_for(100ms);  // polling another process's output
  }
  ASSERT_NE(counter, nullptr) << p.err();
  EXPECT_EQ((*counter)["type"], "RATE");
  EXPECT_EQ((*counter)["interval"], "10");
  EXPECT_DOUBLE_EQ((*counter)["points"][0]["value"].get<double>(), 0.7);  // (3 + 4) / 10
  EXPECT_EQ((*counter)["resources"][0]["type"], "host");
  EXPECT_EQ((*counter)["resources"][0]["name"], "dsd-test-host");
  EXPECT_EQ((*counter)["tags"], (nlohmann::json{"role:test", "route:/a"}));
  const nlohmann::json* gauge = findSeries(all, "dsd.temperature");
  ASSERT_NE(gauge, nullptr);
  EXPECT_EQ((*gauge)["type"], "GAUGE");
  EXPECT_DOUBLE_EQ((*gauge)["points"][0]["value"].get<double>(), 21.5);
  const nlohmann::json* max = findSeries(all, "dsd.latency.max");
  ASSERT_NE(max, nullptr);
  EXPECT_DOUBLE_EQ((*max)["points"][0]["value"].get<double>(), 200);
  EXPECT_NE(findSeries(all, "dsd.latency.95percentile"), nullptr);
  // The source's own health, with the malformed line counted.
  const nlohmann::json* errors = findSeries(all, "outpost.dogstatsd.metrics");
  EXPECT_NE(errors, nullptr);

  const auto sketches = intake.waitForPayloads("/api/beta/sketches", 1, 10s);
  ASSERT_FALSE(sketches.empty());
  EXPECT_TRUE(sketches[0].valid);
  EXPECT_NE(sketches[0].decoded.dump().find("dsd.size"), std::string::npos);

  const auto checks = intake.waitForPayloads("/api/v1/check_run", 1, 10s);
  ASSERT_FALSE(checks.empty());
  const auto& check = checks[0].decoded[0];
  EXPECT_EQ(check["check"], "dsd.db.up");
  EXPECT_EQ(check["status"], 2);
  EXPECT_EQ(check["message"], "connection refused");
  EXPECT_EQ(check["host_name"], "dsd-test-host");

  const auto events = intake.waitForPayloads("/intake/", 1, 10s);
  ASSERT_FALSE(events.empty());
  const std::string event = events[0].decoded.dump();
  EXPECT_NE(event.find("\"msg_title\":\"Deploy end\""), std::string::npos) << event;
  EXPECT_NE(event.find("\"alert_type\":\"success\""), std::string::npos) << event;

  p.signal(SIGTERM);
  EXPECT_EQ(p.wait(10s), 0) << p.err();
}

}  // namespace
}  // namespace outpost
