// The real Forwarder on a real loop against the fake intake over real sockets.
#include "forwarder/forwarder.h"

#include <gtest/gtest.h>

#include <chrono>
#include <set>

#include "core/config_schema.h"
#include "forwarder/compression.h"
#include "tests/fakeintake/fake_intake.h"
#include "tests/integration/forwarder_fixtures.h"
#include "tests/support/http_proxy.h"
#include "tests/support/test_support.h"

namespace outpost {
namespace {

using namespace std::chrono_literals;
using fakeintake::FakeIntakeThread;
using fakeintake::Fault;

constexpr const char* kKey = "0123456789abcdef0123456789abcdef";
constexpr const char* kSeries = "/api/v2/series";

Endpoints endpointsAt(const std::string& url, const std::string& extra_url = "") {
  Endpoints e;
  e.metrics.push_back(Endpoint{IntakeKind::kMetrics, "metrics", url, kKey, true});
  if (!extra_url.empty()) {
    e.metrics.push_back(
        Endpoint{IntakeKind::kMetrics, "metrics#1", extra_url, "second-key", false});
  }
  e.logs.push_back(Endpoint{IntakeKind::kLogs, "logs", url, kKey, true});
  e.traces.push_back(Endpoint{IntakeKind::kTraces, "traces", url, kKey, true});
  return e;
}

Forwarder::Options fastOptions(Endpoints endpoints) {
  Forwarder::Options o;
  o.endpoints = std::move(endpoints);
  o.http.timeout_ms = 5000;
  o.retry = RetryPolicy::Options{0.05, 2, 0.2};
  o.validate_interval_ms = 0;
  return o;
}

// A forwarder with its loop and worker pool, driven from the test thread.
class Harness {
 public:
  explicit Harness(Forwarder::Options options)
      : pool_(loop_.get(), 2, 1024, telemetry_),
        forwarder_(
            std::make_unique<Forwarder>(loop_.get(), pool_, telemetry_, std::move(options))) {
    forwarder_->start();
  }
  ~Harness() { stop(); }

  Forwarder& forwarder() { return *forwarder_; }
  Telemetry& telemetry() { return telemetry_; }

  // Runs the loop until `done()` holds or `timeout` passes; returns done().
  bool runUntil(const std::function<bool()>& done, std::chrono::milliseconds timeout) {
    Timer check(loop_.get(), [&] {
      if (done()) {
        loop_.stop();
      }
    });
    Timer deadline(loop_.get(), [&] { loop_.stop(); });
    check.start(0, 5);
    deadline.start(static_cast<uint64_t>(timeout.count()));
    loop_.run();
    return done();
  }

  void stop() {
    if (!forwarder_) {
      return;
    }
    bool stopped = false;
    forwarder_->stop([&] { stopped = true; });
    runUntil([&] { return stopped; }, 10s);
    forwarder_.reset();
  }

 private:
  Loop loop_;
  Telemetry telemetry_;
  WorkerPool pool_;
  std::unique_ptr<Forwarder> forwarder_;
};

struct Acks {
  int delivered = 0;
  int dropped = 0;
  std::vector<std::string> reasons;
  OnAck callback() {
    return [this](const AckResult& r) {
      if (r.delivered) {
        ++delivered;
      } else {
        ++dropped;
        reasons.push_back(r.reason);
      }
    };
  }
  int total() const { return delivered + dropped; }
};

class ForwarderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string error;
    ASSERT_TRUE(intake_.start("127.0.0.1", 0, &error)) << error;
  }
  FakeIntakeThread intake_;
};

TEST_F(ForwarderTest, DeliversWithTheIntakeHeadersAndExactBytes) {
  Harness h(fastOptions(endpointsAt(intake_.url())));
  Acks acks;
  for (uint64_t seed = 1; seed <= 3; ++seed) {
    ASSERT_EQ(h.forwarder().submit(testing::seriesPayload(seed), acks.callback()),
              Forwarder::SubmitResult::kAccepted);
  }
  ASSERT_TRUE(h.runUntil([&] { return acks.total() == 3; }, 10s));
  EXPECT_EQ(acks.delivered, 3);
  const auto got = intake_.store().acceptedPayloads(kSeries);
  ASSERT_EQ(got.size(), 3u);
  std::set<std::string> bodies;
  for (const auto& p : got) {
    EXPECT_TRUE(p.valid) << p.errors.size();
    EXPECT_EQ(p.header("dd-api-key"), kKey);
    EXPECT_EQ(p.content_encoding, "zstd");
    EXPECT_EQ(p.header("content-type"), "application/x-protobuf");
    EXPECT_EQ(p.header("dd-agent-version"), kDatadogAgentCompatVersion);
    EXPECT_TRUE(std::string(p.header("user-agent")).starts_with("datadog-agent/7.60.0"));
    EXPECT_EQ(p.header("dd-agent-payload"), "5.0.4");
    EXPECT_EQ(p.header("expect"), "");
    bodies.insert(p.raw);
  }
  for (uint64_t seed = 1; seed <= 3; ++seed) {
    EXPECT_EQ(bodies.count(testing::seriesBody(seed)), 1u) << seed;
  }
  EXPECT_EQ(h.telemetry().valueOf("outpost.forwarder.payloads",
                                  {"endpoint:metrics", "outcome:delivered"}),
            3);
}

TEST_F(ForwarderTest, LogsCarryTheirHeadersAndConfiguredCompression) {
  auto options = fastOptions(endpointsAt(intake_.url()));
  options.logs_encoding = Encoding::kGzip;
  options.logs_level = 6;
  Harness h(std::move(options));
  Acks acks;
  Payload logs;
  logs.intake = IntakeKind::kLogs;
  logs.route = "/api/v2/logs";
  logs.content_type = "application/json";
  logs.spoolable = false;
  logs.body = R"([{"message":"hello","status":"info","timestamp":1700000000000,)"
              R"("hostname":"h","service":"s","ddsource":"src","ddtags":"env:test"}])";
  ASSERT_EQ(h.forwarder().submit(Payload(logs), acks.callback()),
            Forwarder::SubmitResult::kAccepted);
  ASSERT_TRUE(h.runUntil([&] { return acks.total() == 1; }, 10s));
  const auto got = intake_.store().acceptedPayloads("/api/v2/logs");
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].content_encoding, "gzip");
  EXPECT_EQ(got[0].raw, logs.body);
  EXPECT_EQ(got[0].header("dd-protocol"), "agent-json");
  EXPECT_EQ(got[0].header("dd-evp-origin"), "agent");
  EXPECT_FALSE(got[0].header("dd-current-timestamp").empty());
}

TEST_F(ForwarderTest, A500ThenSuccessIsDeliveredOnce) {
  intake_.addFault(kSeries, Fault{.status = 500, .count = 1});
  Harness h(fastOptions(endpointsAt(intake_.url())));
  Acks acks;
  h.forwarder().submit(testing::seriesPayload(7), acks.callback());
  ASSERT_TRUE(h.runUntil([&] { return acks.total() == 1; }, 10s));
  EXPECT_EQ(acks.delivered, 1);
  const auto all = intake_.store().payloads(kSeries);
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[0].status, 500);
  EXPECT_TRUE(all[1].accepted());
  EXPECT_EQ(all[1].raw, testing::seriesBody(7));
  EXPECT_EQ(intake_.store().acceptedPayloads(kSeries).size(), 1u);
  EXPECT_EQ(
      h.telemetry().valueOf("outpost.forwarder.payloads", {"endpoint:metrics", "outcome:retried"}),
      1);
}

TEST_F(ForwarderTest, A429WaitsForRetryAfter) {
  intake_.addFault(kSeries, Fault{.status = 429, .count = 1, .retry_after = "1"});
  Harness h(fastOptions(endpointsAt(intake_.url())));
  Acks acks;
  h.forwarder().submit(testing::seriesPayload(8), acks.callback());
  ASSERT_TRUE(h.runUntil([&] { return acks.total() == 1; }, 10s));
  EXPECT_EQ(acks.delivered, 1);
  const auto all = intake_.store().payloads(kSeries);
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[0].status, 429);
  // The backoff cap is 200 ms: only Retry-After can explain a second's wait.
  EXPECT_GE(all[1].received_ms - all[0].received_ms, 950);
}

TEST_F(ForwarderTest, A413IsSplitAndResentAndAcknowledgedOnce) {
  intake_.addFault(kSeries, Fault{.status = 413, .count = 1});
  Harness h(fastOptions(endpointsAt(intake_.url())));
  Acks acks;
  h.forwarder().submit(testing::seriesPayload(9, 8), acks.callback());
  ASSERT_TRUE(h.runUntil([&] { return acks.total() == 1; }, 10s));
  EXPECT_EQ(acks.delivered, 1);
  const auto accepted = intake_.store().acceptedPayloads(kSeries);
  ASSERT_EQ(accepted.size(), 2u);
  std::vector<std::string> names;
  for (const auto& p : accepted) {
    auto n = testing::metricNames(p.raw);
    EXPECT_EQ(n.size(), 4u);
    names.insert(names.end(), n.begin(), n.end());
  }
  EXPECT_EQ(names, testing::metricNames(testing::seriesBody(9, 8)));
}

TEST_F(ForwarderTest, A413OnSomethingThatCannotSplitIsDropped) {
  intake_.addFault(kSeries, Fault{.status = 413, .count = 1});
  Harness h(fastOptions(endpointsAt(intake_.url())));
  Acks acks;
  h.forwarder().submit(testing::seriesPayload(10, 1), acks.callback());
  ASSERT_TRUE(h.runUntil([&] { return acks.total() == 1; }, 10s));
  EXPECT_EQ(acks.dropped, 1);
  EXPECT_EQ(acks.reasons, std::vector<std::string>{"too_large"});
}

TEST_F(ForwarderTest, A403IsDroppedCountedAndReportedAsAnInvalidKey) {
  intake_.addFault(kSeries,
                   Fault{.status = 403, .count = 1, .body = "{\"errors\":[\"Forbidden\"]}"});
  Harness h(fastOptions(endpointsAt(intake_.url())));
  Acks acks;
  h.forwarder().submit(testing::seriesPayload(11), acks.callback());
  ASSERT_TRUE(h.runUntil([&] { return acks.total() == 1; }, 10s));
  EXPECT_EQ(acks.dropped, 1);
  EXPECT_EQ(acks.reasons, std::vector<std::string>{"invalid_api_key"});
  EXPECT_EQ(h.telemetry().valueOf("outpost.forwarder.dropped",
                                  {"endpoint:metrics", "reason:invalid_api_key"}),
            1);
  EXPECT_EQ(h.telemetry().valueOf("outpost.forwarder.api_key_invalid", {"endpoint:metrics"}), 1);
  const auto status = h.forwarder().status();
  EXPECT_TRUE(status[0].api_key_invalid);
  EXPECT_NE(status[0].last_error.find("Forbidden"), std::string::npos) << status[0].last_error;
  EXPECT_EQ(intake_.store().payloads(kSeries).size(), 1u);  // not retried
}

TEST_F(ForwarderTest, TheApiKeyIsValidatedAtStart) {
  intake_.store().setInvalidApiKeys({kKey});
  auto options = fastOptions(endpointsAt(intake_.url()));
  options.validate_interval_ms = 3600'000;
  Harness h(std::move(options));
  ASSERT_TRUE(h.runUntil(
      [&] {
        return h.telemetry().valueOf("outpost.forwarder.api_key_invalid", {"endpoint:metrics"}) ==
               1;
      },
      10s));
  EXPECT_EQ(intake_.store().payloads("/api/v1/validate").size(), 1u);
}

TEST_F(ForwarderTest, ARotatedApiKeyIsUsedAfterAReload) {
  LoadedConfig loaded;
  loaded.config = defaultConfig();
  loaded.config.api_key = "old-key";
  loaded.config.dd_url = intake_.url();
  loaded.config.logs_config.logs_dd_url = intake_.url();
  loaded.config.apm_config.apm_dd_url = intake_.url();
  auto options = Forwarder::optionsFrom(loaded.config);
  options.validate_interval_ms = 0;
  Harness h(std::move(options));
  Acks acks;
  h.forwarder().submit(testing::seriesPayload(500), acks.callback());
  ASSERT_TRUE(h.runUntil([&] { return acks.total() == 1; }, 10s));
  loaded.config.api_key = "new-key";
  h.forwarder().reconfigure(loaded);
  h.forwarder().submit(testing::seriesPayload(501), acks.callback());
  ASSERT_TRUE(h.runUntil([&] { return acks.total() == 2; }, 10s));
  const auto got = intake_.store().acceptedPayloads(kSeries);
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].header("dd-api-key"), "old-key");
  EXPECT_EQ(got[1].header("dd-api-key"), "new-key");
}

TEST_F(ForwarderTest, OneFailingEndpointDoesNotDelayAnother) {
  FakeIntakeThread down;
  ASSERT_TRUE(down.start());
  // Every request to the second site hangs for 5 s and then fails.
  down.addFault(kSeries, Fault{.status = 503, .count = 0, .delay_ms = 5000});
  Harness h(fastOptions(endpointsAt(intake_.url(), down.url())));
  Acks acks;
  for (uint64_t seed = 1; seed <= 20; ++seed) {
    h.forwarder().submit(testing::seriesPayload(100 + seed), acks.callback());
  }
  // Acknowledgements follow the primary, which is healthy: all 20 well before the 5 s hang.
  const auto start = std::chrono::steady_clock::now();
  ASSERT_TRUE(h.runUntil([&] { return acks.total() == 20; }, 4s));
  EXPECT_LT(std::chrono::steady_clock::now() - start, 4s);
  EXPECT_EQ(acks.delivered, 20);
  EXPECT_EQ(intake_.store().acceptedPayloads(kSeries).size(), 20u);
  // The second endpoint got its own copies with its own key, and nothing accepted there yet.
  EXPECT_TRUE(down.store().acceptedPayloads(kSeries).empty());
  for (const auto& p : intake_.store().payloads(kSeries)) {
    EXPECT_EQ(p.header("dd-api-key"), kKey);
  }
  down.store().clearFaults();
  h.stop();
  down.stop();
}

TEST_F(ForwarderTest, SecondEndpointCatchesUpAfterItRecovers) {
  FakeIntakeThread second;
  ASSERT_TRUE(second.start());
  second.addFault(kSeries, Fault{.status = 500, .count = 3});
  Harness h(fastOptions(endpointsAt(intake_.url(), second.url())));
  Acks acks;
  for (uint64_t seed = 1; seed <= 5; ++seed) {
    h.forwarder().submit(testing::seriesPayload(200 + seed), acks.callback());
  }
  ASSERT_TRUE(
      h.runUntil([&] { return second.store().acceptedPayloads(kSeries).size() == 5; }, 10s));
  for (const auto& p : second.store().acceptedPayloads(kSeries)) {
    EXPECT_EQ(p.header("dd-api-key"), "second-key");
  }
  EXPECT_EQ(acks.delivered, 5);
}

TEST_F(ForwarderTest, GoesThroughAnHttpProxy) {
  testing::HttpProxy proxy;
  auto options = fastOptions(endpointsAt(intake_.url()));
  options.http.proxy_http = proxy.url();
  Harness h(std::move(options));
  Acks acks;
  h.forwarder().submit(testing::seriesPayload(300), acks.callback());
  ASSERT_TRUE(h.runUntil([&] { return acks.total() == 1; }, 10s));
  EXPECT_EQ(acks.delivered, 1);
  const auto lines = proxy.requestLines();
  ASSERT_FALSE(lines.empty());
  EXPECT_EQ(lines[0], "POST " + intake_.url() + kSeries + " HTTP/1.1");
}

TEST_F(ForwarderTest, TheProxyEnvironmentVariablesApplyWhenNoProxyKeyIsSet) {
  testing::HttpProxy proxy;
  // libcurl reads http_proxy for http:// URLs (HTTPS_PROXY for https://) and NO_PROXY.
  ::setenv("http_proxy", proxy.url().c_str(), 1);
  {
    Harness h(fastOptions(endpointsAt(intake_.url())));
    Acks acks;
    h.forwarder().submit(testing::seriesPayload(302), acks.callback());
    ASSERT_TRUE(h.runUntil([&] { return acks.total() == 1; }, 10s));
    EXPECT_EQ(acks.delivered, 1);
  }
  EXPECT_EQ(proxy.requestLines().size(), 1u);
  ::setenv("NO_PROXY", "127.0.0.1", 1);
  {
    Harness h(fastOptions(endpointsAt(intake_.url())));
    Acks acks;
    h.forwarder().submit(testing::seriesPayload(303), acks.callback());
    ASSERT_TRUE(h.runUntil([&] { return acks.total() == 1; }, 10s));
  }
  EXPECT_EQ(proxy.requestLines().size(), 1u);  // bypassed
  ::unsetenv("http_proxy");
  ::unsetenv("NO_PROXY");
}

TEST_F(ForwarderTest, NoProxyBypassesTheProxy) {
  testing::HttpProxy proxy;
  auto options = fastOptions(endpointsAt(intake_.url()));
  options.http.proxy_http = proxy.url();
  options.http.no_proxy = {"127.0.0.1"};
  Harness h(std::move(options));
  Acks acks;
  h.forwarder().submit(testing::seriesPayload(301), acks.callback());
  ASSERT_TRUE(h.runUntil([&] { return acks.total() == 1; }, 10s));
  EXPECT_EQ(acks.delivered, 1);
  EXPECT_TRUE(proxy.requestLines().empty());
}

TEST_F(ForwarderTest, UnspoolablePayloadsPushBackWhenThePrimaryIsOverBudget) {
  intake_.addFault("/api/v2/logs", Fault{.status = 503, .count = 0});
  auto options = fastOptions(endpointsAt(intake_.url()));
  options.memory_budget_bytes = 64 * 1024;
  Harness h(std::move(options));
  Payload logs;
  logs.intake = IntakeKind::kLogs;
  logs.route = "/api/v2/logs";
  logs.content_type = "application/json";
  logs.spoolable = false;
  logs.encoding = Encoding::kIdentity;
  logs.body = "[" + std::string(40 * 1024, ' ') + "]";
  int accepted = 0;
  int refused = 0;
  for (int i = 0; i < 6; ++i) {
    Payload attempt = logs;
    const auto r = h.forwarder().submit(std::move(attempt));
    if (r == Forwarder::SubmitResult::kAccepted) {
      ++accepted;
    } else {
      ++refused;
      EXPECT_EQ(attempt.body, logs.body);  // pushed back: the caller still has it
    }
    h.runUntil([] { return false; }, 50ms);
  }
  EXPECT_GE(refused, 1);
  EXPECT_LE(accepted, 3);
  EXPECT_EQ(h.telemetry().valueOf("outpost.forwarder.refused"), refused);
  intake_.store().clearFaults();
}

// Submits five series payloads (seeds base + 1..5) to a forwarder with a disk spool, its loop run
// for `settle` first (0: not at all, so the spool is still opening), and stops it at once; then a
// second forwarder on the same spool must deliver each of them exactly once. Returns how many had
// reached the intake before the stop.
size_t submitStopAndRestart(FakeIntakeThread& intake, uint64_t base,
                            std::chrono::milliseconds settle) {
  testing::TempDir dir;
  auto options = fastOptions(endpointsAt(intake.url()));
  options.spool_dir = dir.file("spool");
  {
    Harness h(options);
    if (settle.count() > 0) {
      h.runUntil([] { return false; }, settle);
    }
    for (uint64_t seed = base + 1; seed <= base + 5; ++seed) {
      EXPECT_EQ(h.forwarder().submit(testing::seriesPayload(seed)),
                Forwarder::SubmitResult::kAccepted);
    }
    h.stop();
  }
  const size_t sent_before_stop = intake.store().acceptedPayloads(kSeries).size();
  Harness again(options);
  EXPECT_TRUE(
      again.runUntil([&] { return intake.store().acceptedPayloads(kSeries).size() >= 5; }, 10s));
  std::multiset<std::string> bodies;
  for (const auto& p : intake.store().acceptedPayloads(kSeries)) {
    bodies.insert(p.raw);
  }
  for (uint64_t seed = base + 1; seed <= base + 5; ++seed) {
    EXPECT_EQ(bodies.count(testing::seriesBody(seed)), 1u) << seed;
  }
  return sent_before_stop;
}

TEST_F(ForwarderTest, PayloadsStillCompressingAtStopAreSpooledNotLost) {
  // The spool has opened; compression is still in flight at the stop.
  EXPECT_LE(submitStopAndRestart(intake_, 600, 200ms), 5u);
}

// A stop right after the start (a daemon told to stop at once, or on a loaded host) comes before
// the spool has finished opening: what is in memory then waits for it and is spooled, not dropped
// because there was no spool yet.
TEST_F(ForwarderTest, PayloadsAtAStopBeforeTheSpoolOpenedAreSpooledNotLost) {
  EXPECT_EQ(submitStopAndRestart(intake_, 700, 0ms), 0u);  // nothing was sent before the stop
}

TEST_F(ForwarderTest, FailedPayloadsWaitOnDiskAndAreSentWhenTheIntakeIsBack) {
  testing::TempDir dir;
  intake_.addFault(kSeries, Fault{.status = 503, .count = 0});
  auto options = fastOptions(endpointsAt(intake_.url()));
  options.spool_dir = dir.file("spool");
  Harness h(std::move(options));
  Acks acks;
  for (uint64_t seed = 1; seed <= 10; ++seed) {
    h.forwarder().submit(testing::seriesPayload(400 + seed), acks.callback());
  }
  ASSERT_TRUE(h.runUntil(
      [&] {
        const auto s = h.forwarder().status()[0];
        return s.spool_records == 10 && s.queued == 0;
      },
      10s));
  EXPECT_EQ(h.forwarder().status()[0].queued_bytes, 0u);  // nothing held in memory
  EXPECT_EQ(acks.total(), 0);
  intake_.store().clearFaults();
  ASSERT_TRUE(h.runUntil([&] { return acks.total() == 10; }, 15s));
  EXPECT_EQ(acks.delivered, 10);
  std::multiset<std::string> bodies;
  for (const auto& p : intake_.store().acceptedPayloads(kSeries)) {
    bodies.insert(p.raw);
  }
  ASSERT_EQ(bodies.size(), 10u);
  for (uint64_t seed = 1; seed <= 10; ++seed) {
    EXPECT_EQ(bodies.count(testing::seriesBody(400 + seed)), 1u);
  }
  EXPECT_EQ(h.forwarder().status()[0].spool_records, 0u);
}

}  // namespace
}  // namespace outpost
