#include "core/worker_pool.h"

#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>

namespace outpost {
namespace {

TEST(WorkerPoolTest, WorkRunsOffTheLoopAndDoneRunsOnIt) {
  Loop loop;
  Telemetry telemetry;
  WorkerPool pool(loop.get(), 2, 64, telemetry);
  const auto loop_thread = std::this_thread::get_id();
  std::atomic<int> off_loop{0};
  int done_on_loop = 0;
  for (int i = 0; i < 20; ++i) {
    ASSERT_TRUE(pool.submit(
        [&] {
          if (std::this_thread::get_id() != loop_thread) {
            ++off_loop;
          }
        },
        [&] {
          if (std::this_thread::get_id() == loop_thread) {
            ++done_on_loop;
          }
        }));
  }
  loop.run();  // Returns once every job's done callback has run: the pool holds the loop till then.
  EXPECT_EQ(off_loop.load(), 20);
  EXPECT_EQ(done_on_loop, 20);
  EXPECT_EQ(pool.inFlight(), 0u);
  EXPECT_EQ(telemetry.valueOf("outpost.worker_pool.jobs", {"outcome:submitted"}), 20);
}

// Holds every worker until released, so tests can fill the queue deterministically.
struct Gate {
  std::mutex mu;
  std::condition_variable cv;
  bool open = false;
  void wait() {
    std::unique_lock lock(mu);
    cv.wait(lock, [this] { return open; });
  }
  void release() {
    {
      std::lock_guard lock(mu);
      open = true;
    }
    cv.notify_all();
  }
};

TEST(WorkerPoolTest, AFullQueueRefusesAndCountsInsteadOfBlocking) {
  Loop loop;
  Telemetry telemetry;
  WorkerPool pool(loop.get(), 1, 3, telemetry);
  Gate gate;
  int accepted = 0;
  int refused = 0;
  for (int i = 0; i < 10; ++i) {
    (pool.submit([&] { gate.wait(); }) ? accepted : refused)++;
  }
  // One running (maybe) plus three queued; the rest refused.
  EXPECT_GE(accepted, 3);
  EXPECT_LE(accepted, 4);
  EXPECT_EQ(accepted + refused, 10);
  EXPECT_EQ(telemetry.valueOf("outpost.worker_pool.jobs", {"outcome:rejected"}), refused);
  gate.release();
  loop.run();
  EXPECT_EQ(pool.inFlight(), 0u);
}

TEST(WorkerPoolTest, DrainWaitsForEveryAcceptedJobUnderLoad) {
  Loop loop;
  Telemetry telemetry;
  WorkerPool pool(loop.get(), 2, 1000, telemetry);
  std::atomic<int> worked{0};
  int done = 0;
  for (int i = 0; i < 500; ++i) {
    ASSERT_TRUE(pool.submit(
        [&] {
          volatile unsigned x = 0;
          for (unsigned k = 0; k < 20000; ++k) {
            x = x + k;
          }
          ++worked;
        },
        [&] { ++done; }));
  }
  bool drained = false;
  pool.drain([&] {
    drained = true;
    EXPECT_EQ(done, 500);  // every done callback ran before the drain callback
  });
  EXPECT_FALSE(pool.submit([] {}));  // draining: no new jobs
  loop.run();
  EXPECT_TRUE(drained);
  EXPECT_EQ(worked.load(), 500);
}

TEST(WorkerPoolTest, AbandonDropsQueuedJobsAndCountsThem) {
  Loop loop;
  Telemetry telemetry;
  WorkerPool pool(loop.get(), 1, 100, telemetry);
  Gate gate;
  std::atomic<bool> started{false};
  ASSERT_TRUE(pool.submit([&] {
    started = true;
    gate.wait();
  }));
  for (int i = 0; i < 10; ++i) {
    ASSERT_TRUE(pool.submit([] {}));
  }
  while (!started) {
    std::this_thread::yield();
  }
  bool drained = false;
  pool.drain([&] { drained = true; });
  EXPECT_EQ(pool.abandonQueued(), 10u);
  EXPECT_EQ(telemetry.valueOf("outpost.worker_pool.jobs", {"outcome:abandoned"}), 10);
  gate.release();
  loop.run();
  EXPECT_TRUE(drained);
}

}  // namespace
}  // namespace outpost
