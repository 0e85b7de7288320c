#include "core/worker_pool.h"

#include <utility>

namespace outpost {

WorkerPool::WorkerPool(uv_loop_t* loop, size_t threads, size_t max_queued, Telemetry& telemetry)
    : max_queued_(max_queued),
      wake_(loop, [this] { onCompleted(); }),
      submitted_(telemetry.counter("outpost.worker_pool.jobs", {"outcome:submitted"},
                                   "jobs accepted by the worker pool")),
      rejected_(telemetry.counter("outpost.worker_pool.jobs", {"outcome:rejected"},
                                  "jobs refused because the queue was full or draining")),
      abandoned_(telemetry.counter("outpost.worker_pool.jobs", {"outcome:abandoned"},
                                   "queued jobs dropped at the shutdown deadline")),
      queued_gauge_(
          telemetry.gauge("outpost.worker_pool.queued", {}, "jobs waiting for a thread")) {
  // The wake-up handle keeps the loop running only while jobs are in flight.
  wake_.setReferenced(false);
  threads_.reserve(threads);
  for (size_t i = 0; i < threads; ++i) {
    threads_.emplace_back([this] { workerMain(); });
  }
}

WorkerPool::~WorkerPool() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
    abandoned_.inc(queue_.size());
    queue_.clear();
  }
  cv_.notify_all();
  for (auto& t : threads_) {
    t.join();
  }
}

bool WorkerPool::submit(std::function<void()> work, std::function<void()> done) {
  {
    std::lock_guard lock(mu_);
    if (draining_ || stopping_ || queue_.size() >= max_queued_) {
      rejected_.inc();
      return false;
    }
    queue_.push_back(Job{std::move(work), std::move(done)});
    queued_gauge_.set(static_cast<int64_t>(queue_.size()));
  }
  if (++in_flight_ == 1) {
    wake_.setReferenced(true);
  }
  submitted_.inc();
  cv_.notify_one();
  return true;
}

void WorkerPool::workerMain() {
  std::unique_lock lock(mu_);
  while (true) {
    cv_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
    if (stopping_) {
      return;
    }
    Job job = std::move(queue_.front());
    queue_.pop_front();
    queued_gauge_.set(static_cast<int64_t>(queue_.size()));
    ++running_;
    lock.unlock();
    if (job.work) {
      job.work();
    }
    job.work = nullptr;  // Release what the work captured on the worker, not the loop.
    lock.lock();
    --running_;
    completed_.push_back(std::move(job));
    wake_.send();
  }
}

void WorkerPool::onCompleted() {
  std::deque<Job> batch;
  {
    std::lock_guard lock(mu_);
    batch.swap(completed_);
  }
  for (Job& job : batch) {
    if (job.done) {
      job.done();
    }
  }
  in_flight_ -= batch.size();
  if (in_flight_ == 0) {
    wake_.setReferenced(false);
  }
  checkDrained();
}

void WorkerPool::drain(std::function<void()> on_drained) {
  {
    std::lock_guard lock(mu_);
    draining_ = true;
    on_drained_ = std::move(on_drained);
  }
  checkDrained();
}

void WorkerPool::checkDrained() {
  std::function<void()> cb;
  {
    std::lock_guard lock(mu_);
    if (!draining_ || !on_drained_ || !queue_.empty() || running_ > 0 || !completed_.empty()) {
      return;
    }
    cb = std::exchange(on_drained_, nullptr);
  }
  cb();
}

size_t WorkerPool::abandonQueued() {
  size_t n = 0;
  {
    std::lock_guard lock(mu_);
    n = queue_.size();
    queue_.clear();
    queued_gauge_.set(0);
  }
  abandoned_.inc(n);
  in_flight_ -= n;
  if (in_flight_ == 0) {
    wake_.setReferenced(false);
  }
  checkDrained();
  return n;
}

size_t WorkerPool::inFlight() const {
  return in_flight_;
}

size_t WorkerPool::queued() const {
  std::lock_guard lock(mu_);
  return queue_.size();
}

}  // namespace outpost
