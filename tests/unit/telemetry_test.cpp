#include "core/telemetry.h"

#include <gtest/gtest.h>

#include <thread>
#include <vector>

namespace outpost {
namespace {

TEST(TelemetryTest, SameNameAndTagsIsTheSameInstrumentWhateverTheTagOrder) {
  Telemetry t;
  Counter& a = t.counter("outpost.test.drops", {"reason:parse", "transport:udp"});
  Counter& b = t.counter("outpost.test.drops", {"transport:udp", "reason:parse"});
  EXPECT_EQ(&a, &b);
  Counter& other = t.counter("outpost.test.drops", {"reason:size", "transport:udp"});
  EXPECT_NE(&a, &other);
  a.inc();
  b.inc(4);
  other.inc();
  EXPECT_EQ(t.valueOf("outpost.test.drops", {"transport:udp", "reason:parse"}), 5);
  EXPECT_EQ(t.valueOf("outpost.test.missing"), -1);
}

TEST(TelemetryTest, SnapshotListsEveryInstrumentSorted) {
  Telemetry t;
  t.gauge("outpost.b.queue", {}, "queued items").set(7);
  t.counter("outpost.a.sent", {"endpoint:logs"}).inc(3);
  t.gauge("outpost.b.queue").add(-2);
  const auto snap = t.snapshot();
  ASSERT_EQ(snap.size(), 2u);
  EXPECT_EQ(snap[0].name, "outpost.a.sent");
  EXPECT_EQ(snap[0].tags, std::vector<std::string>{"endpoint:logs"});
  EXPECT_EQ(snap[0].kind, Telemetry::Kind::kCounter);
  EXPECT_EQ(snap[0].value, 3);
  EXPECT_EQ(snap[1].name, "outpost.b.queue");
  EXPECT_EQ(snap[1].kind, Telemetry::Kind::kGauge);
  EXPECT_EQ(snap[1].value, 5);
  EXPECT_EQ(snap[1].help, "queued items");
}

TEST(TelemetryTest, ConcurrentUpdatesAreNotLost) {
  Telemetry t;
  std::vector<std::thread> threads;
  for (int i = 0; i < 4; ++i) {
    threads.emplace_back([&t] {
      for (int j = 0; j < 50000; ++j) {
        t.counter("outpost.test.events").inc();
        t.gauge("outpost.test.level").add(1);
      }
    });
  }
  for (auto& th : threads) {
    th.join();
  }
  EXPECT_EQ(t.valueOf("outpost.test.events"), 200000);
  EXPECT_EQ(t.valueOf("outpost.test.level"), 200000);
}

}  // namespace
}  // namespace outpost
