#pragma once

#include <uv.h>

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "core/loop.h"
#include "core/telemetry.h"

namespace outpost {

// A small fixed pool of threads for CPU-heavy jobs (compression, encoding, config parsing,
// search), so that nothing blocking runs on the loop. A job's `work` runs on a worker thread;
// its `done` runs afterwards on the loop thread. The queue is bounded: a full queue refuses the
// job and counts it, it never blocks the caller.
class WorkerPool {
 public:
  WorkerPool(uv_loop_t* loop, size_t threads, size_t max_queued, Telemetry& telemetry);
  ~WorkerPool();  // Discards queued jobs, waits for running ones, joins the threads.
  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;

  // Loop thread only. Returns false when the queue is full or the pool is draining.
  bool submit(std::function<void()> work, std::function<void()> done = nullptr);

  // Loop thread only. Stops accepting jobs; `on_drained` runs on the loop once every accepted
  // job has run and its `done` callback has been called.
  void drain(std::function<void()> on_drained);

  // Loop thread only. Drops the jobs that have not started (counted as abandoned); running jobs
  // still finish. Used when the shutdown deadline passes.
  size_t abandonQueued();

  size_t threads() const { return threads_.size(); }
  size_t inFlight() const;  // loop thread: queued + running + awaiting `done`
  size_t queued() const;    // jobs not started yet
  size_t maxQueued() const { return max_queued_; }

 private:
  struct Job {
    std::function<void()> work;
    std::function<void()> done;
  };
  void workerMain();
  void onCompleted();  // loop thread
  void checkDrained();

  const size_t max_queued_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Job> queue_;
  std::deque<Job> completed_;
  size_t running_ = 0;
  size_t in_flight_ = 0;  // loop thread only
  bool stopping_ = false;
  bool draining_ = false;
  std::function<void()> on_drained_;
  Async wake_;
  std::vector<std::thread> threads_;
  Counter& submitted_;
  Counter& rejected_;
  Counter& abandoned_;
  Gauge& queued_gauge_;
};

}  // namespace outpost
