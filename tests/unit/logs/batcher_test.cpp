// LogBatcher with a real loop and a real Forwarder against the fake intake over real sockets.
#include "collector/sources/logs/batcher.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/worker_pool.h"
#include "tests/fakeintake/fake_intake.h"

namespace outpost::logs {
namespace {

using namespace std::chrono_literals;
using fakeintake::FakeIntakeThread;
using fakeintake::Fault;

constexpr const char* kKey = "0123456789abcdef0123456789abcdef";
constexpr const char* kRoute = "/api/v2/logs";

Forwarder::Options forwarderOptions(const std::string& url) {
  Forwarder::Options o;
  o.endpoints.logs.push_back(Endpoint{IntakeKind::kLogs, "logs", url, kKey, true});
  o.http.timeout_ms = 5000;
  o.retry = RetryPolicy::Options{0.05, 2, 0.2};
  o.validate_interval_ms = 0;
  o.logs_concurrency = 1;  // one request at a time: arrival order is send order
  return o;
}

std::string lineText(int i) {
  return "line " + std::to_string(i);
}

// A loop, a one-thread worker pool (compressions finish in order), a Forwarder, a tracker and
// the batcher under test; a feeder pushes numbered lines of one stream, stopping on
// back-pressure and resuming when the batcher says it is writable.
class BatcherTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string error;
    ASSERT_TRUE(intake_.start("127.0.0.1", 0, &error)) << error;
    origin_ = std::make_shared<const LogOrigin>(LogOrigin{"svc", "app", "env:test,filename:a.log"});
  }
  void TearDown() override {
    if (batcher_) {
      batcher_->stop();
    }
    stopForwarder();
    batcher_.reset();
  }

  void build(LogBatcher::Options options, Forwarder::Options fwd) {
    forwarder_ = std::make_unique<Forwarder>(loop_.get(), pool_, telemetry_, std::move(fwd));
    forwarder_->start();
    options.hostname = "host-1";
    makeBatcher(std::move(options), [this](Payload&& p, OnAck ack) {
      return forwarder_->submit(std::move(p), std::move(ack));
    });
  }
  void build(LogBatcher::Options options) {
    build(std::move(options), forwarderOptions(intake_.url()));
  }

  void makeBatcher(LogBatcher::Options options, LogBatcher::Submit submit) {
    stream_ = tracker_.open("file:/var/log/a.log", 0);
    batcher_ =
        std::make_unique<LogBatcher>(loop_.get(), telemetry_, tracker_, std::move(options),
                                     std::move(submit), [] { return int64_t{1700000010000}; });
    batcher_->setOnWritable([this] { feed(); });
  }

  LogMessage line(int i) {
    LogMessage m;
    m.content = lineText(i);
    m.timestamp_ms = 1700000000000 + i;
    m.origin = origin_;
    m.stream = stream_;
    m.end_offset = offsetAfter(i);
    return m;
  }
  static uint64_t offsetAfter(int i) { return static_cast<uint64_t>(i + 1) * 10; }

  // Pushes lines [next_, total_) until the batcher pushes back.
  void feed() {
    while (next_ < total_) {
      LogMessage m = line(next_);
      if (!batcher_->push(std::move(m))) {
        ++refusals_;
        EXPECT_EQ(m.content, lineText(next_)) << "a refused message is left as it was";
        return;
      }
      ++next_;
    }
  }
  void feedAll(int total) {
    total_ = total;
    feed();
  }

  bool runUntil(const std::function<bool()>& done, std::chrono::milliseconds timeout = 15s) {
    Timer check(loop_.get(), [&] {
      if (done()) {
        loop_.stop();
      }
    });
    Timer deadline(loop_.get(), [&] { loop_.stop(); });
    check.start(0, 2);
    deadline.start(static_cast<uint64_t>(timeout.count()));
    loop_.run();
    return done();
  }

  void stopForwarder() {
    if (!forwarder_) {
      return;
    }
    bool stopped = false;
    forwarder_->stop([&] { stopped = true; });
    runUntil([&] { return stopped; }, 10s);
    forwarder_.reset();
  }

  bool allCommitted() { return tracker_.committed(stream_) == offsetAfter(total_ - 1); }

  // The messages of every accepted payload, in order of arrival.
  std::vector<std::string> acceptedMessages() {
    std::vector<std::string> out;
    for (const auto& p : intake_.store().acceptedPayloads(kRoute)) {
      EXPECT_TRUE(p.valid) << (p.errors.empty() ? "" : p.errors.front());
      for (const auto& log : p.decoded) {
        out.push_back(log["message"].get<std::string>());
      }
    }
    return out;
  }
  std::vector<std::string> expectedMessages() {
    std::vector<std::string> out;
    for (int i = 0; i < total_; ++i) {
      out.push_back(lineText(i));
    }
    return out;
  }
  int64_t metric(const char* name) { return telemetry_.valueOf(name); }

  FakeIntakeThread intake_;
  Loop loop_;
  Telemetry telemetry_;
  WorkerPool pool_{loop_.get(), 1, 1024, telemetry_};
  std::unique_ptr<Forwarder> forwarder_;
  OffsetTracker tracker_;
  std::unique_ptr<LogBatcher> batcher_;
  std::shared_ptr<const LogOrigin> origin_;
  StreamId stream_ = 0;
  int next_ = 0;
  int total_ = 0;
  int refusals_ = 0;
};

TEST_F(BatcherTest, LinesArriveInOrderInBatchesOfMaxEntries) {
  LogBatcher::Options o;
  o.max_entries = 1000;
  o.wait_ms = 50;
  build(o);
  feedAll(2500);
  EXPECT_EQ(next_, 2500);
  ASSERT_TRUE(runUntil([&] { return allCommitted() && batcher_->idle(); }));
  const auto payloads = intake_.store().acceptedPayloads(kRoute);
  ASSERT_EQ(payloads.size(), 3u);
  EXPECT_EQ(payloads[0].decoded.size(), 1000u);
  EXPECT_EQ(payloads[1].decoded.size(), 1000u);
  EXPECT_EQ(payloads[2].decoded.size(), 500u);  // cut by the timer
  EXPECT_EQ(acceptedMessages(), expectedMessages());
  const auto& first = payloads[0].decoded[0];
  EXPECT_EQ(first["status"], "info");
  EXPECT_EQ(first["hostname"], "host-1");
  EXPECT_EQ(first["service"], "svc");
  EXPECT_EQ(first["ddsource"], "app");
  EXPECT_EQ(first["ddtags"], "env:test,filename:a.log");
  EXPECT_EQ(first["timestamp"].get<int64_t>(), 1700000000000);
  EXPECT_EQ(payloads[0].header("dd-message-timestamp"), "1700000000999");
  EXPECT_EQ(payloads[0].header("dd-protocol"), "agent-json");
  EXPECT_EQ(payloads[0].content_encoding, "zstd");
  EXPECT_EQ(metric("outpost.logs.sent"), 2500);
  EXPECT_EQ(metric("outpost.logs.batches"), 3);
  int64_t bytes = 0;
  for (const auto& p : payloads) {
    bytes += static_cast<int64_t>(p.raw.size());
  }
  EXPECT_EQ(metric("outpost.logs.bytes"), bytes);
  EXPECT_EQ(metric("outpost.logs.latency_ms"), 8000);  // the clock minus line 2000's time
  std::map<std::string, uint64_t> changes;
  tracker_.drainChanges([&](const std::string& k, uint64_t off) { changes[k] = off; });
  EXPECT_EQ(changes, (std::map<std::string, uint64_t>{{"file:/var/log/a.log", 25000}}));
}

TEST_F(BatcherTest, CutBySize) {
  LogBatcher::Options o;
  o.max_content_size = 2000;
  o.wait_ms = 20;
  build(o);
  feedAll(300);
  ASSERT_TRUE(runUntil([&] { return allCommitted() && batcher_->idle(); }));
  const auto payloads = intake_.store().acceptedPayloads(kRoute);
  EXPECT_GT(payloads.size(), 10u);
  for (const auto& p : payloads) {
    EXPECT_LE(p.raw.size(), 2000u);
  }
  // Every batch but the last was cut because the next line did not fit.
  for (size_t i = 0; i + 1 < payloads.size(); ++i) {
    EXPECT_GT(payloads[i].raw.size(), 2000u - 150u) << i;
  }
  EXPECT_EQ(acceptedMessages(), expectedMessages());
}

TEST_F(BatcherTest, CutByTimerWithoutFlush) {
  LogBatcher::Options o;
  o.wait_ms = 30;
  build(o);
  feedAll(3);
  EXPECT_FALSE(batcher_->idle());
  ASSERT_TRUE(runUntil([&] { return allCommitted() && batcher_->idle(); }));
  const auto payloads = intake_.store().acceptedPayloads(kRoute);
  ASSERT_EQ(payloads.size(), 1u);
  EXPECT_EQ(payloads[0].decoded.size(), 3u);
}

TEST_F(BatcherTest, IntakeFailingThenRecoveringLosesNothingAndCommitsOnlyAfterSuccess) {
  intake_.addFault(kRoute, Fault{.status = 500, .count = 2});
  LogBatcher::Options o;
  o.max_entries = 100;
  o.wait_ms = 20;
  build(o);
  feedAll(250);
  bool committed_early = false;
  ASSERT_TRUE(runUntil([&] {
    if (tracker_.committed(stream_) != 0 && intake_.store().acceptedPayloads(kRoute).empty()) {
      committed_early = true;
    }
    return allCommitted() && batcher_->idle();
  }));
  EXPECT_FALSE(committed_early);
  const auto all = intake_.store().payloads(kRoute);
  ASSERT_EQ(all.size(), 5u);  // two 500s, then the three batches
  EXPECT_EQ(all[0].status, 500);
  EXPECT_EQ(all[1].status, 500);
  EXPECT_EQ(all[0].raw, all[2].raw) << "the same batch, retried";
  EXPECT_EQ(acceptedMessages(), expectedMessages());
  EXPECT_EQ(metric("outpost.logs.sent"), 250);
  EXPECT_EQ(metric("outpost.logs.dropped_by_intake"), 0);
}

TEST_F(BatcherTest, ARetryingBatchHoldsBackTheOffsetsOfLaterOnes) {
  // The first batch is answered late; the offset must not pass it even once later ones commit.
  intake_.addFault(kRoute, Fault{.status = 500, .count = 1, .delay_ms = 300});
  LogBatcher::Options o;
  o.max_entries = 10;
  build(o, [&] {
    auto f = forwarderOptions(intake_.url());
    f.workers_per_endpoint = 4;
    f.logs_concurrency = 4;  // batches in flight side by side
    return f;
  }());
  feedAll(40);
  bool passed_first = false;
  ASSERT_TRUE(runUntil([&] {
    const auto accepted = intake_.store().acceptedPayloads(kRoute);
    bool first_accepted = false;
    for (const auto& p : accepted) {
      first_accepted |= p.decoded[0]["message"] == lineText(0);
    }
    if (!first_accepted && tracker_.committed(stream_) != 0) {
      passed_first = true;
    }
    return allCommitted() && batcher_->idle();
  }));
  EXPECT_FALSE(passed_first);
  auto got = acceptedMessages();
  std::sort(got.begin(), got.end());
  auto want = expectedMessages();
  std::sort(want.begin(), want.end());
  EXPECT_EQ(got, want);
}

TEST_F(BatcherTest, A400IsDroppedButCommitted) {
  intake_.addFault(kRoute, Fault{.status = 400, .count = 1});
  LogBatcher::Options o;
  o.max_entries = 5;
  build(o);
  feedAll(10);
  ASSERT_TRUE(runUntil([&] { return allCommitted() && batcher_->idle(); }));
  const auto all = intake_.store().payloads(kRoute);
  ASSERT_EQ(all.size(), 2u) << "no retry of the 400";
  EXPECT_EQ(all[0].status, 400);
  EXPECT_EQ(metric("outpost.logs.dropped_by_intake"), 5);
  EXPECT_EQ(metric("outpost.logs.sent"), 5);
  EXPECT_EQ(acceptedMessages(),
            (std::vector<std::string>{"line 5", "line 6", "line 7", "line 8", "line 9"}));
}

TEST_F(BatcherTest, BackPressureWhenTheForwarderQueueIsFull) {
  // A slow intake and a tiny memory budget: the forwarder refuses while one payload waits.
  intake_.addFault(kRoute, Fault{.status = 0, .count = 4, .delay_ms = 100});
  LogBatcher::Options o;
  o.max_entries = 20;
  o.queue_full_retry_ms = 10;
  auto f = forwarderOptions(intake_.url());
  f.memory_budget_bytes = 1;
  build(o, f);
  feedAll(200);
  EXPECT_LT(next_, 200) << "pushed back before everything was taken";
  EXPECT_GE(refusals_, 1);
  ASSERT_TRUE(runUntil([&] { return next_ == 200 && allCommitted() && batcher_->idle(); }));
  EXPECT_EQ(acceptedMessages(), expectedMessages());
  EXPECT_GE(metric("outpost.logs.backpressure_events"), 1);
  EXPECT_GE(telemetry_.valueOf("outpost.forwarder.refused"), 1);
  EXPECT_EQ(metric("outpost.logs.sent"), 200);
  EXPECT_EQ(batcher_->inflightBytes(), 0u);
}

TEST_F(BatcherTest, BackPressureOnInflightBytes) {
  // Local-mode style submit that holds the acks: nothing is acked until the test says so.
  std::vector<std::pair<size_t, OnAck>> held;
  LogBatcher::Options o;
  o.max_entries = 10;
  o.max_inflight_bytes = 1;  // one batch in flight at a time
  makeBatcher(o, [&](Payload&& p, OnAck ack) {
    held.emplace_back(p.body.size(), std::move(ack));
    return Forwarder::SubmitResult::kAccepted;
  });
  feedAll(35);
  EXPECT_EQ(next_, 10);
  ASSERT_EQ(held.size(), 1u);
  EXPECT_EQ(batcher_->inflightBytes(), held[0].first);
  EXPECT_EQ(metric("outpost.logs.backpressure_events"), 1);
  while (next_ < 35 || !batcher_->idle()) {
    if (held.empty()) {
      batcher_->flush();
      ASSERT_FALSE(held.empty());
    }
    auto [size, ack] = std::move(held.front());
    held.erase(held.begin());
    ack(AckResult{true, ""});
    ASSERT_TRUE(runUntil([&] { return !held.empty() || next_ == 35; }, 5s));
  }
  EXPECT_EQ(tracker_.committed(stream_), offsetAfter(34));
  EXPECT_EQ(metric("outpost.logs.sent"), 35);
  EXPECT_GE(metric("outpost.logs.backpressure_events"), 3);
}

TEST_F(BatcherTest, BlockedAgainBeforeTheWritableCallbackRanIsNotALostWakeup) {
  // Found by the chaos suite (an outage with metrics filling the forwarder's budget): room
  // came, the writable callback was scheduled, the batcher was full again when it ran, so it
  // did not call back, and nothing ever called back again: the files stopped being read.
  std::vector<OnAck> held;
  LogBatcher::Options o;
  o.max_entries = 10;
  o.max_inflight_bytes = 1;  // one batch in flight at a time
  makeBatcher(o, [&](Payload&&, OnAck ack) {
    held.push_back(std::move(ack));
    return Forwarder::SubmitResult::kAccepted;
  });
  feedAll(35);
  ASSERT_EQ(next_, 10);  // the first batch in flight, the 11th line refused
  ASSERT_EQ(held.size(), 1u);
  held[0](AckResult{true, ""});  // room: the callback is scheduled...
  held.clear();
  for (int i = 0; i < 10; ++i) {  // ...but another input fills the batcher before it runs
    ASSERT_TRUE(batcher_->push(line(next_)));
    ++next_;
  }
  ASSERT_EQ(held.size(), 1u);
  runUntil([] { return false; }, 50ms);  // the scheduled callback finds it blocked
  EXPECT_EQ(next_, 20);
  held[0](AckResult{true, ""});  // room again: the waiting source is told this time
  held.clear();
  ASSERT_TRUE(runUntil([&] { return next_ > 20; }, 5s)) << "the wakeup was lost";
  while (next_ < 35 || !batcher_->idle()) {
    if (held.empty()) {
      batcher_->flush();
      ASSERT_FALSE(held.empty());
    }
    auto ack = std::move(held.front());
    held.erase(held.begin());
    ack(AckResult{true, ""});
    ASSERT_TRUE(runUntil([&] { return !held.empty() || next_ == 35; }, 5s));
  }
  EXPECT_EQ(tracker_.committed(stream_), offsetAfter(34));
}

TEST_F(BatcherTest, RoomIsTheBudgetLeftAndZeroWhileItPushesBack) {
  // A reader sizes its reads by room(): the in-flight budget less the open batch, at least 1
  // while push() succeeds, 0 while it would refuse; waitForRoom() then asks for the callback.
  std::vector<std::pair<size_t, OnAck>> held;
  LogBatcher::Options o;
  o.max_entries = 10;
  o.max_inflight_bytes = 2000;
  int woken = 0;
  makeBatcher(o, [&](Payload&& p, OnAck ack) {
    held.emplace_back(p.body.size(), std::move(ack));
    return Forwarder::SubmitResult::kAccepted;
  });
  batcher_->setOnWritable([&] { ++woken; });
  EXPECT_EQ(batcher_->room(), 2000u);
  ASSERT_TRUE(batcher_->push(line(0)));
  const uint64_t open_bytes = 2000 - batcher_->room();
  EXPECT_GT(open_bytes, lineText(0).size()) << "the open batch counts, as JSON";
  for (int i = 1; i < 10; ++i) {
    ASSERT_TRUE(batcher_->push(line(i)));
  }
  ASSERT_EQ(held.size(), 1u) << "cut at 10 entries";
  EXPECT_EQ(batcher_->room(), 2000u - held[0].first);
  // Until the batches in flight fill the budget, room() >= 1 and push() takes every line.
  int n = 10;
  while (batcher_->room() > 0) {
    EXPECT_TRUE(batcher_->push(line(n))) << n;
    ++n;
  }
  EXPECT_GE(batcher_->inflightBytes(), 2000u);
  EXPECT_FALSE(batcher_->push(line(n))) << "room() 0: push refuses";
  batcher_->waitForRoom();
  EXPECT_FALSE(runUntil([&] { return woken > 0; }, 100ms)) << "no room yet";
  for (auto& [size, ack] : held) {
    ack(AckResult{true, ""});
  }
  held.clear();
  ASSERT_TRUE(runUntil([&] { return woken > 0; }, 5s)) << "the writable callback fired";
  EXPECT_GT(batcher_->room(), 0u);
  batcher_->stop();
  EXPECT_EQ(batcher_->room(), 0u) << "stopped: no room";
}

TEST_F(BatcherTest, LocalModeAcksAtOnce) {
  int submitted = 0;
  LogBatcher::Options o;
  o.max_entries = 7;
  makeBatcher(o, [&](Payload&&, OnAck ack) {
    ++submitted;
    ack(AckResult{true, ""});  // inside submit
    return Forwarder::SubmitResult::kAccepted;
  });
  feedAll(30);
  EXPECT_EQ(next_, 30);
  batcher_->flush();
  EXPECT_TRUE(batcher_->idle());
  EXPECT_EQ(submitted, 5);
  EXPECT_EQ(tracker_.committed(stream_), offsetAfter(29));
  EXPECT_EQ(metric("outpost.logs.sent"), 30);
}

TEST_F(BatcherTest, MarkersCommitWithoutARequestUnlessTheyFollowOpenLines) {
  LogBatcher::Options o;
  o.wait_ms = 20;
  build(o);
  LogMessage marker;
  marker.marker_only = true;
  marker.stream = stream_;
  marker.end_offset = 30;
  ASSERT_TRUE(batcher_->push(LogMessage(marker)));
  EXPECT_EQ(tracker_.committed(stream_), 30u) << "nothing before it: committed at once";
  EXPECT_TRUE(batcher_->idle());
  // A line, then a marker past it: the marker waits for the line's batch.
  LogMessage m = line(3);  // ends at 40
  ASSERT_TRUE(batcher_->push(std::move(m)));
  marker.end_offset = 55;
  ASSERT_TRUE(batcher_->push(LogMessage(marker)));
  EXPECT_EQ(tracker_.committed(stream_), 30u);
  ASSERT_TRUE(runUntil([&] { return tracker_.committed(stream_) == 55 && batcher_->idle(); }));
  const auto payloads = intake_.store().acceptedPayloads(kRoute);
  ASSERT_EQ(payloads.size(), 1u);
  ASSERT_EQ(payloads[0].decoded.size(), 1u) << "markers are not sent";
  EXPECT_EQ(payloads[0].decoded[0]["message"], "line 3");
}

TEST_F(BatcherTest, ShutdownDropsAreNotCommitted) {
  // The intake holds its answer; the forwarder stops meanwhile and acks "shutdown".
  intake_.addFault(kRoute, Fault{.status = 0, .count = 1, .delay_ms = 2000});
  LogBatcher::Options o;
  build(o);
  feedAll(5);
  batcher_->stop();
  EXPECT_FALSE(batcher_->push(line(5)));
  ASSERT_TRUE(runUntil([&] { return !intake_.store().payloads(kRoute).empty(); }));
  stopForwarder();
  EXPECT_TRUE(batcher_->idle());
  EXPECT_EQ(tracker_.committed(stream_), 0u);
  EXPECT_EQ(tracker_.pendingBatches(), 0u);
  EXPECT_EQ(metric("outpost.logs.unsent_at_shutdown"), 5);
  EXPECT_EQ(metric("outpost.logs.sent"), 0);
}

TEST_F(BatcherTest, StopAbandonsWhatTheForwarderWillNotTake) {
  int calls = 0;
  LogBatcher::Options o;
  makeBatcher(o, [&](Payload&&, OnAck) {
    ++calls;
    return Forwarder::SubmitResult::kQueueFull;
  });
  feedAll(4);
  batcher_->flush();
  EXPECT_EQ(calls, 1);
  EXPECT_FALSE(batcher_->push(line(4))) << "waiting for the forwarder";
  batcher_->stop();
  EXPECT_TRUE(batcher_->idle());
  EXPECT_EQ(tracker_.committed(stream_), 0u);
  EXPECT_EQ(tracker_.pendingBatches(), 0u);
  EXPECT_EQ(metric("outpost.logs.unsent_at_shutdown"), 4);
}

}  // namespace
}  // namespace outpost::logs
