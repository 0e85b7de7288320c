// OffsetTracker: offsets move only over the resolved prefix of each stream.
#include "collector/sources/logs/offset_tracker.h"

#include <gtest/gtest.h>

#include <map>
#include <string>

namespace outpost::logs {
namespace {

std::map<std::string, uint64_t> drain(OffsetTracker& t) {
  std::map<std::string, uint64_t> out;
  t.drainChanges([&](const std::string& key, uint64_t offset) {
    EXPECT_EQ(out.count(key), 0u) << "one call per stream";
    out[key] = offset;
  });
  return out;
}

TEST(OffsetTrackerTest, InOrder) {
  OffsetTracker t;
  StreamId a = t.open("file:/a", 100);
  EXPECT_NE(a, 0u);
  EXPECT_EQ(t.key(a), "file:/a");
  EXPECT_EQ(t.committed(a), 100u);
  auto b1 = t.newBatch();
  t.record(b1, a, 110);
  t.record(b1, a, 120);
  auto b2 = t.newBatch();
  EXPECT_GT(b2, b1);
  t.record(b2, a, 130);
  EXPECT_EQ(t.pendingBatches(), 2u);
  EXPECT_TRUE(drain(t).empty());
  t.resolve(b1, true);
  EXPECT_EQ(t.committed(a), 120u);
  EXPECT_EQ(drain(t), (std::map<std::string, uint64_t>{{"file:/a", 120}}));
  EXPECT_TRUE(drain(t).empty()) << "reported once";
  t.resolve(b2, true);
  EXPECT_EQ(t.committed(a), 130u);
  EXPECT_EQ(t.pendingBatches(), 0u);
  EXPECT_EQ(drain(t), (std::map<std::string, uint64_t>{{"file:/a", 130}}));
}

TEST(OffsetTrackerTest, OutOfOrderWaitsForTheEarlierBatch) {
  OffsetTracker t;
  StreamId a = t.open("file:/a", 0);
  StreamId b = t.open("file:/b", 0);
  auto b1 = t.newBatch();
  t.record(b1, a, 10);
  t.record(b1, b, 5);
  auto b2 = t.newBatch();
  t.record(b2, a, 20);
  auto b3 = t.newBatch();
  t.record(b3, a, 30);
  t.record(b3, b, 15);
  t.resolve(b3, true);
  EXPECT_EQ(t.committed(a), 0u);
  EXPECT_EQ(t.committed(b), 0u);
  EXPECT_TRUE(drain(t).empty());
  t.resolve(b1, true);
  EXPECT_EQ(t.committed(a), 10u);  // b2 still pending
  EXPECT_EQ(t.committed(b), 15u);  // b has no part in b2: past b3 at once
  t.resolve(b2, true);
  EXPECT_EQ(t.committed(a), 30u);
  EXPECT_EQ(drain(t), (std::map<std::string, uint64_t>{{"file:/a", 30}, {"file:/b", 15}}));
}

TEST(OffsetTrackerTest, ShutdownAbandonKeepsOffsetsBehindForGood) {
  OffsetTracker t;
  StreamId a = t.open("file:/a", 7);
  auto b1 = t.newBatch();
  t.record(b1, a, 10);
  auto b2 = t.newBatch();
  t.record(b2, a, 20);
  auto b3 = t.newBatch();
  t.record(b3, a, 30);
  t.resolve(b1, true);
  t.resolve(b2, false);  // abandoned at shutdown
  t.resolve(b3, true);   // delivered, but after a gap
  EXPECT_EQ(t.committed(a), 10u);
  EXPECT_EQ(t.pendingBatches(), 0u);
  EXPECT_EQ(drain(t), (std::map<std::string, uint64_t>{{"file:/a", 10}}));
}

TEST(OffsetTrackerTest, MarkersAndStreamZero) {
  OffsetTracker t;
  StreamId a = t.open("journald:default", 0);
  auto b1 = t.newBatch();
  t.record(b1, 0, 999);  // tcp/udp: nothing to track
  t.record(b1, a, 4);    // a marker: an offset without a message
  EXPECT_EQ(t.pendingBatches(), 1u);
  t.resolve(b1, true);
  EXPECT_EQ(t.committed(a), 4u);
  auto b2 = t.newBatch();
  t.record(b2, 0, 1);
  EXPECT_EQ(t.pendingBatches(), 0u) << "stream 0 records nothing";
  t.resolve(b2, true);  // unknown batch: ignored
  t.resolve(12345, true);
  EXPECT_EQ(t.committed(a), 4u);
}

TEST(OffsetTrackerTest, CloseDropsStateOnceNothingIsPending) {
  OffsetTracker t;
  StreamId a = t.open("file:/a", 0);
  auto b1 = t.newBatch();
  t.record(b1, a, 50);
  t.close(a);
  EXPECT_EQ(t.streams(), 1u) << "kept while b1 is pending";
  EXPECT_EQ(t.key(a), "file:/a");
  t.resolve(b1, true);
  EXPECT_EQ(t.streams(), 1u) << "kept until the last change is drained";
  EXPECT_EQ(drain(t), (std::map<std::string, uint64_t>{{"file:/a", 50}}));
  EXPECT_EQ(t.streams(), 0u);
  EXPECT_EQ(t.key(a), "");
  EXPECT_EQ(t.committed(a), 0u);
  // The id is reused only now.
  StreamId again = t.open("file:/c", 3);
  EXPECT_EQ(again, a);
  EXPECT_EQ(t.committed(again), 3u);
  StreamId other = t.open("file:/d", 0);
  EXPECT_NE(other, again);
  // Records for a stream closed and dropped are ignored (no crash, nothing pending).
  t.close(other);
  t.record(t.newBatch(), other, 10);
  EXPECT_EQ(t.pendingBatches(), 0u);
}

TEST(OffsetTrackerTest, CloseWithNothingPendingDropsAtOnce) {
  OffsetTracker t;
  StreamId a = t.open("file:/a", 10);
  StreamId b = t.open("file:/b", 10);
  t.close(a);
  EXPECT_EQ(t.streams(), 1u);
  EXPECT_EQ(t.open("file:/e", 0), a);
  EXPECT_NE(b, a);
}

TEST(OffsetTrackerTest, ARotatedStreamNoLongerReportsItsKey) {
  OffsetTracker t;
  StreamId old_file = t.open("file:/var/log/app.log", 1000);
  auto b1 = t.newBatch();
  t.record(b1, old_file, 1500);
  // Rotation: a new file at the same path, read from 0, while the old one drains.
  StreamId new_file = t.open("file:/var/log/app.log", 0);
  auto b2 = t.newBatch();
  t.record(b2, new_file, 40);
  t.record(b2, old_file, 1800);
  t.resolve(b1, true);
  t.resolve(b2, true);
  EXPECT_EQ(t.committed(old_file), 1800u);
  EXPECT_EQ(t.committed(new_file), 40u);
  EXPECT_EQ(drain(t), (std::map<std::string, uint64_t>{{"file:/var/log/app.log", 40}}));
  t.close(old_file);
  EXPECT_EQ(t.streams(), 1u);
  // The new stream still owns the key after the old one is gone.
  auto b3 = t.newBatch();
  t.record(b3, new_file, 90);
  t.resolve(b3, true);
  EXPECT_EQ(drain(t), (std::map<std::string, uint64_t>{{"file:/var/log/app.log", 90}}));
}

TEST(OffsetTrackerTest, ManyBatchesResolvedInReverse) {
  OffsetTracker t;
  StreamId a = t.open("file:/a", 0);
  std::vector<OffsetTracker::BatchId> ids;
  for (uint64_t i = 1; i <= 1000; ++i) {
    ids.push_back(t.newBatch());
    t.record(ids.back(), a, i * 10);
  }
  for (size_t i = ids.size(); i-- > 1;) {
    t.resolve(ids[i], true);
    ASSERT_EQ(t.committed(a), 0u);
  }
  t.resolve(ids[0], true);
  EXPECT_EQ(t.committed(a), 10000u);
  EXPECT_EQ(t.pendingBatches(), 0u);
}

}  // namespace
}  // namespace outpost::logs
