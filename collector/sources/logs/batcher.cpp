#include "collector/sources/logs/batcher.h"

#include <utility>

namespace outpost::logs {

LogBatcher::LogBatcher(uv_loop_t* loop, Telemetry& telemetry, OffsetTracker& tracker,
                       Options options, Submit submit, std::function<int64_t()> now_ms)
    : tracker_(tracker),
      options_(std::move(options)),
      submit_(std::move(submit)),
      now_ms_(std::move(now_ms)),
      encoder_(LogsPayloadEncoder::Options{options_.hostname, options_.max_entries,
                                           options_.max_content_size, options_.agent_version}),
      alive_(std::make_shared<bool>(true)),
      batch_timer_(loop, [this] { cut(); }),
      retry_timer_(loop, [this] { submitWaiting(); }),
      writable_timer_(loop,
                      [this] {
                        if (blocked()) {
                          // Full again before this ran (another input pushed): whoever waits
                          // still waits, so the next room must call back.
                          want_writable_ = true;
                          return;
                        }
                        if (on_writable_) {
                          on_writable_();
                        }
                      }),
      sent_(telemetry.counter("outpost.logs.sent", {}, "log messages the intake accepted")),
      bytes_(telemetry.counter("outpost.logs.bytes", {},
                               "uncompressed bytes of logs payloads the intake accepted")),
      batches_(telemetry.counter("outpost.logs.batches", {}, "logs payloads the intake accepted")),
      dropped_(telemetry.counter("outpost.logs.dropped_by_intake", {},
                                 "log messages in payloads dropped for good (400, 403, 413...)")),
      unsent_(telemetry.counter("outpost.logs.unsent_at_shutdown", {},
                                "log messages still unsent at shutdown (re-read after restart)")),
      backpressure_(telemetry.counter("outpost.logs.backpressure_events", {},
                                      "times the logs batcher pushed back on its sources")),
      cut_to_fit_(telemetry.counter("outpost.logs.cut_to_fit", {},
                                    "log messages cut to the payload content limit")),
      inflight_gauge_(telemetry.gauge("outpost.logs.inflight_bytes", {},
                                      "bytes of logs payloads not acknowledged yet")),
      latency_(telemetry.gauge("outpost.logs.latency_ms", {},
                               "ingestion to acknowledgement of the last delivered batch")) {}

LogBatcher::~LogBatcher() {
  *alive_ = false;
}

bool LogBatcher::blocked() const {
  return !waiting_.empty() || inflight_bytes_ >= options_.max_inflight_bytes;
}

uint64_t LogBatcher::room() const {
  if (stopped_ || blocked()) {
    return 0;
  }
  const uint64_t used = inflight_bytes_ + encoder_.bytes();
  return used >= options_.max_inflight_bytes ? 1 : options_.max_inflight_bytes - used;
}

void LogBatcher::waitForRoom() {
  if (!stopped_) {
    refuse();
    checkWritable();  // room already (nothing blocks): call back at once
  }
}

void LogBatcher::refuse() {
  if (!want_writable_) {
    want_writable_ = true;
    backpressure_.inc();
  }
}

bool LogBatcher::push(LogMessage&& m) {
  if (stopped_) {
    return false;
  }
  if (blocked()) {
    refuse();
    return false;
  }
  if (m.marker_only) {
    if (encoder_.empty()) {
      // Nothing open that the offset must wait for: a batch of its own, resolved at once.
      const auto batch = tracker_.newBatch();
      tracker_.record(batch, m.stream, m.end_offset);
      tracker_.resolve(batch, true);
    } else {
      tracker_.record(open_batch_, m.stream, m.end_offset);
    }
    return true;
  }
  if (!encoder_.add(m)) {
    cut();
    if (blocked()) {
      refuse();
      return false;
    }
    encoder_.add(m);  // an empty encoder always takes it
  }
  if (encoder_.cutMessages() != cut_seen_) {
    cut_to_fit_.inc(encoder_.cutMessages() - cut_seen_);
    cut_seen_ = encoder_.cutMessages();
  }
  if (encoder_.entries() == 1) {
    open_batch_ = tracker_.newBatch();
    open_oldest_ms_ = m.timestamp_ms;
    batch_timer_.start(static_cast<uint64_t>(options_.wait_ms > 0 ? options_.wait_ms : 0));
  }
  tracker_.record(open_batch_, m.stream, m.end_offset);
  if (encoder_.entries() >= options_.max_entries) {
    cut();
  }
  return true;
}

void LogBatcher::flush() {
  cut();
}

bool LogBatcher::idle() const {
  return encoder_.empty() && waiting_.empty() && inflight_batches_ == 0;
}

void LogBatcher::stop() {
  if (stopped_) {
    return;
  }
  stopped_ = true;
  cut();
  retry_timer_.stop();
  writable_timer_.stop();
  while (!waiting_.empty()) {
    Outgoing o = std::move(waiting_.front());
    waiting_.pop_front();
    abandon(o);
  }
  inflight_gauge_.set(static_cast<int64_t>(inflight_bytes_));
}

void LogBatcher::cut() {
  batch_timer_.stop();
  if (encoder_.empty()) {
    return;
  }
  Outgoing o;
  o.batch = open_batch_;
  o.entries = encoder_.entries();
  o.oldest_ms = open_oldest_ms_;
  o.payload = encoder_.take();
  o.bytes = o.payload.body.size();
  inflight_bytes_ += o.bytes;
  waiting_.push_back(std::move(o));
  submitWaiting();
}

void LogBatcher::submitWaiting() {
  while (!waiting_.empty()) {
    // Out of the queue before submit: an ack may run inside submit (local mode).
    Outgoing o = std::move(waiting_.front());
    waiting_.pop_front();
    auto meta = std::make_shared<Outgoing>();
    meta->batch = o.batch;
    meta->entries = o.entries;
    meta->bytes = o.bytes;
    meta->oldest_ms = o.oldest_ms;
    ++inflight_batches_;
    std::weak_ptr<bool> alive = alive_;
    const auto result = submit_(std::move(o.payload), [this, alive, meta](const AckResult& r) {
      auto a = alive.lock();
      if (a && *a) {
        onAck(*meta, r);
      }
    });
    if (result == Forwarder::SubmitResult::kAccepted) {
      continue;
    }
    --inflight_batches_;
    if (result == Forwarder::SubmitResult::kQueueFull && !stopped_) {
      waiting_.push_front(std::move(o));  // the payload was left untouched
      retry_timer_.start(options_.queue_full_retry_ms);
      break;
    }
    if (result == Forwarder::SubmitResult::kQueueFull) {
      waiting_.push_front(std::move(o));  // stop() abandons it
      break;
    }
    abandon(o);  // kStopped: the forwarder takes nothing any more
  }
  inflight_gauge_.set(static_cast<int64_t>(inflight_bytes_));
  checkWritable();
}

void LogBatcher::abandon(Outgoing& o) {
  inflight_bytes_ -= o.bytes;
  unsent_.inc(o.entries);
  tracker_.resolve(o.batch, false);
}

void LogBatcher::onAck(const Outgoing& o, const AckResult& result) {
  --inflight_batches_;
  inflight_bytes_ -= o.bytes;
  inflight_gauge_.set(static_cast<int64_t>(inflight_bytes_));
  if (result.delivered) {
    sent_.inc(o.entries);
    bytes_.inc(o.bytes);
    batches_.inc();
    latency_.set(now_ms_() - o.oldest_ms);
    tracker_.resolve(o.batch, true);
  } else if (result.reason == "shutdown") {
    // Whether the intake has it is unknown: the offsets stay, the lines are read again.
    unsent_.inc(o.entries);
    tracker_.resolve(o.batch, false);
  } else {
    // Dropped for good (400, 403, 413, ...): sending it again would fail the same way.
    dropped_.inc(o.entries);
    tracker_.resolve(o.batch, true);
  }
  // The forwarder's memory budget just got room: what waits goes now, not after the retry delay
  // (from the loop, not from inside the forwarder's ack).
  if (!waiting_.empty() && !stopped_) {
    retry_timer_.start(0);
  }
  checkWritable();
}

void LogBatcher::checkWritable() {
  if (want_writable_ && !stopped_ && !blocked()) {
    want_writable_ = false;
    writable_timer_.start(0);
  }
}

}  // namespace outpost::logs
