// MessageQueue: FIFO order, fields carried, slots reused, bounds on what it keeps.
#include "collector/sources/logs/message_queue.h"

#include <gtest/gtest.h>

#include <deque>
#include <memory>
#include <random>
#include <string>

namespace outpost::logs {
namespace {

LogMessage message(uint64_t i, const std::shared_ptr<const LogOrigin>& origin) {
  LogMessage m;
  m.content = "line " + std::to_string(i) + std::string(i % 300, 'x');
  m.status = i % 3 == 0 ? "error" : "";
  m.timestamp_ms = static_cast<int64_t>(1000 + i);
  m.origin = origin;
  m.stream = i % 7;
  m.end_offset = i * 10;
  m.marker_only = i % 11 == 0;
  m.truncated = i % 13 == 0;
  return m;
}

void expectSame(const LogMessage& a, const LogMessage& b) {
  EXPECT_EQ(a.content, b.content);
  EXPECT_EQ(a.status, b.status);
  EXPECT_EQ(a.timestamp_ms, b.timestamp_ms);
  EXPECT_EQ(a.origin, b.origin);
  EXPECT_EQ(a.stream, b.stream);
  EXPECT_EQ(a.end_offset, b.end_offset);
  EXPECT_EQ(a.marker_only, b.marker_only);
  EXPECT_EQ(a.truncated, b.truncated);
}

TEST(MessageQueueTest, MatchesADequeUnderRandomPushesAndPops) {
  auto origin = std::make_shared<LogOrigin>();
  MessageQueue q;
  std::deque<LogMessage> ref;
  std::mt19937_64 rng(3);
  LogMessage reused;  // pushed again and again, as a tailer does with its one message
  uint64_t next = 0;
  for (int step = 0; step < 200000; ++step) {
    if (rng() % 100 < 55) {
      LogMessage m = message(next++, origin);
      ref.push_back(m);
      reused.content.assign(m.content);
      reused.status = m.status;
      reused.timestamp_ms = m.timestamp_ms;
      reused.origin = m.origin;
      reused.stream = m.stream;
      reused.end_offset = m.end_offset;
      reused.marker_only = m.marker_only;
      reused.truncated = m.truncated;
      q.push(std::move(reused));
    } else if (!ref.empty()) {
      ASSERT_FALSE(q.empty());
      expectSame(q.front(), ref.front());
      q.pop_front();
      ref.pop_front();
    }
    ASSERT_EQ(q.size(), ref.size());
    ASSERT_EQ(q.empty(), ref.empty());
  }
  while (!ref.empty()) {
    expectSame(q.front(), ref.front());
    q.pop_front();
    ref.pop_front();
  }
  EXPECT_TRUE(q.empty());
}

TEST(MessageQueueTest, SteadyBackPressureReusesSlotsAndBuffers) {
  auto origin = std::make_shared<LogOrigin>();
  MessageQueue q;
  LogMessage m;
  // Fill 1000, drain, fill again: the same slots, and the strings circulate with capacity.
  for (int round = 0; round < 5; ++round) {
    for (uint64_t i = 0; i < 1000; ++i) {
      m.content.assign(200, static_cast<char>('a' + i % 26));
      m.origin = origin;
      m.end_offset = i;
      q.push(std::move(m));
    }
    for (uint64_t i = 0; i < 1000; ++i) {
      ASSERT_EQ(q.front().end_offset, i);
      ASSERT_EQ(q.front().content, std::string(200, static_cast<char>('a' + i % 26)));
      q.pop_front();
    }
    EXPECT_EQ(q.slots(), 1000u);
    if (round > 0) {
      EXPECT_GE(m.content.capacity(), 200u);  // the tailer got a used buffer back
    }
  }
  EXPECT_EQ(origin.use_count(), 2);  // ours and m's: popped slots let go of the origin
}

TEST(MessageQueueTest, LetsGoOfHugeBuffersAndExtraSlots) {
  MessageQueue q;
  LogMessage m;
  for (size_t i = 0; i < MessageQueue::kKeepSlots * 2; ++i) {
    m.content.assign(i == 5 ? 1 << 20 : 10, 'z');
    q.push(std::move(m));
  }
  EXPECT_EQ(q.size(), MessageQueue::kKeepSlots * 2);
  for (size_t i = 0; i < 5; ++i) {
    q.pop_front();
  }
  EXPECT_EQ(q.front().content.size(), 1u << 20);
  q.pop_front();
  while (!q.empty()) {
    q.pop_front();
  }
  EXPECT_LE(q.slots(), MessageQueue::kKeepSlots);
  // Whatever slot held the 1 MiB line no longer holds its buffer.
  for (size_t i = 0; i < q.slots(); ++i) {
    m.content.clear();
    q.push(std::move(m));
  }
  while (!q.empty()) {
    EXPECT_LE(q.front().content.capacity(), MessageQueue::kKeepCapacity);
    q.pop_front();
  }
}

}  // namespace
}  // namespace outpost::logs
