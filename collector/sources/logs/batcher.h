#pragma once

#include <uv.h>

#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>

#include "collector/sources/logs/log_message.h"
#include "collector/sources/logs/offset_tracker.h"
#include "core/loop.h"
#include "core/telemetry.h"
#include "forwarder/encoders/logs_encoder.h"
#include "forwarder/forwarder.h"

namespace outpost::logs {

// Turns the stream of processed log messages into /api/v2/logs requests (the Agent's strategy
// and sender): a batch is cut at max_entries, at max_content_size, or wait_ms after its first
// message, and handed to the forwarder. Every message's offset is recorded in the OffsetTracker
// under its batch; the forwarder's ack resolves the batch (delivered or finally dropped:
// committed; abandoned at shutdown: not). A batch of only markers (messages dropped by the
// processing rules) resolves at once without a request. Loop thread only.
//
// Back-pressure: push() refuses messages while the batches in flight (submitted, not acked yet,
// or waiting because the forwarder's queue was full) hold max_inflight_bytes or more; the
// sources stop reading and resume when the writable callback fires.
//
// Telemetry: outpost.logs.sent / .bytes / .batches (delivered), .dropped_by_intake (messages in
// batches the intake refused for good), .unsent_at_shutdown, .backpressure_events, .cut_to_fit
// (messages cut to the content limit), gauges .inflight_bytes and .latency_ms (ingestion to
// acknowledgement of the last delivered batch's oldest message).
class LogBatcher {
 public:
  struct Options {
    size_t max_entries = kLogsMaxEntries;
    size_t max_content_size = kLogsMaxContentBytes;
    int64_t wait_ms = 5000;
    std::string hostname;
    std::string agent_version;
    uint64_t max_inflight_bytes = 32ull << 20;
    uint64_t queue_full_retry_ms = 50;  // next try after the forwarder said kQueueFull
  };
  // How a finished payload leaves: the real Forwarder::submit in the daemon, a function that
  // acks at once in local mode (no API key). On kQueueFull the payload must be left untouched.
  using Submit = std::function<Forwarder::SubmitResult(Payload&&, OnAck)>;

  LogBatcher(uv_loop_t* loop, Telemetry& telemetry, OffsetTracker& tracker, Options options,
             Submit submit, std::function<int64_t()> now_ms);
  ~LogBatcher();  // acks arriving later are ignored
  LogBatcher(const LogBatcher&) = delete;
  LogBatcher& operator=(const LogBatcher&) = delete;

  // Takes one message. False = back-pressure (or stopped): the message is not taken (`m` is left
  // as it was); push it again after the writable callback fired.
  bool push(LogMessage&& m);
  // Called (from the loop, never from inside push or an ack) once push() may succeed again after
  // it returned false, or after waitForRoom().
  void setOnWritable(std::function<void()> cb) { on_writable_ = std::move(cb); }
  // Payload bytes the batcher can still take before it pushes back: the in-flight budget left
  // less what the open batch holds, at least 1 while push() would succeed; 0 while it would
  // refuse (then waitForRoom() asks for the writable callback). A reader that sizes its reads
  // by this leaves few lines refused mid-read (each refused line is kept and pushed again).
  uint64_t room() const;
  // The caller stopped because room() was 0: the writable callback fires once there is room.
  void waitForRoom();
  // Cuts and submits the open batch now.
  void flush();
  // Nothing open, nothing waiting, nothing in flight.
  bool idle() const;
  // Cuts and submits what is open; what the forwarder does not take now is abandoned (its
  // offsets are not committed). Stops the timers; push() refuses everything afterwards. Batches
  // already in flight are still resolved by their acks.
  void stop();

  uint64_t inflightBytes() const { return inflight_bytes_; }
  size_t inflightBatches() const { return inflight_batches_ + waiting_.size(); }

 private:
  struct Outgoing {
    OffsetTracker::BatchId batch = 0;
    Payload payload;
    size_t entries = 0;
    uint64_t bytes = 0;
    int64_t oldest_ms = 0;
  };

  bool blocked() const;
  void refuse();
  void cut();
  void submitWaiting();
  void abandon(Outgoing& o);
  void onAck(const Outgoing& o, const AckResult& result);
  void checkWritable();

  OffsetTracker& tracker_;
  Options options_;
  Submit submit_;
  std::function<int64_t()> now_ms_;
  std::function<void()> on_writable_;
  LogsPayloadEncoder encoder_;
  OffsetTracker::BatchId open_batch_ = 0;
  int64_t open_oldest_ms_ = 0;
  std::deque<Outgoing> waiting_;  // cut, not taken by the forwarder yet (kQueueFull)
  size_t inflight_batches_ = 0;   // taken by the forwarder, not acked yet
  uint64_t inflight_bytes_ = 0;   // of waiting_ and the batches in flight
  uint64_t cut_seen_ = 0;
  bool want_writable_ = false;
  bool stopped_ = false;
  std::shared_ptr<bool> alive_;
  Timer batch_timer_;
  Timer retry_timer_;
  Timer writable_timer_;

  Counter& sent_;
  Counter& bytes_;
  Counter& batches_;
  Counter& dropped_;
  Counter& unsent_;
  Counter& backpressure_;
  Counter& cut_to_fit_;
  Gauge& inflight_gauge_;
  Gauge& latency_;
};

}  // namespace outpost::logs
