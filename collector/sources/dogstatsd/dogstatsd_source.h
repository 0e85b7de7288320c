#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "collector/aggregator/aggregator.h"
#include "collector/sources/dogstatsd/listeners.h"
#include "collector/sources/dogstatsd/parser.h"
#include "core/component.h"
#include "core/config.h"
#include "core/loop.h"
#include "core/metrics.h"
#include "core/telemetry.h"
#include "forwarder/encoders/payload_builder.h"

namespace outpost {
class Forwarder;
}

namespace outpost::dogstatsd {

// A parsed sample as the aggregator takes it (views into the same datagram).
aggregator::SampleInput toSampleInput(const Sample& sample);

// The DogStatsD source, end to end:
//   listeners (UDP, unixgram, stream) → Parser → Aggregator (10 s buckets) → every
//   dogstatsd_flush_interval: closed buckets → encoders → Forwarder::submit
// Events and service checks pass straight to their encoders at the next flush. The source's
// own counters (outpost.dogstatsd.*) are flushed as series too, so the intake sees its health.
// Every flush is also shown to the flush observer (the query socket's metric store), forwarder
// or not; in local mode that is where the aggregates go. Loop thread only.
class DogStatsdSource : public Component, private Handler {
 public:
  DogStatsdSource(uv_loop_t* loop, Telemetry& telemetry, const Config& config,
                  Forwarder* forwarder);
  ~DogStatsdSource() override;

  std::string_view name() const override { return "dogstatsd"; }
  bool start() override;
  // Stops listening, flushes everything aggregated (the open bucket too), then done.
  void stop(std::function<void()> done) override;

  // DogStatsD lines from elsewhere in the process (the trace receiver's /dogstatsd/v2/proxy,
  // where tracers send their own metrics), parsed and aggregated like a datagram.
  void ingest(std::string_view lines) { onDatagram(lines, Origin{}); }

  // Flushes the buckets closed by `now` (unix seconds); the flush timer calls it.
  void flush(int64_t now);
  const DogStatsdListeners& listeners() const { return *listeners_; }
  size_t contexts() const { return aggregator_.contexts(); }
  // Live contexts against dogstatsd_context_limit.
  void resources(Resources& out) const override;

  using FlushObserver =
      std::function<void(const std::vector<Serie>&, const std::vector<SketchSerie>&)>;
  void setFlushObserver(FlushObserver observer) { observer_ = std::move(observer); }

 private:
  void onDatagram(std::string_view datagram, const Origin& origin);
  void onSample(const Sample& sample) override;
  void onEvent(const Event& event) override;
  void onServiceCheck(const ServiceCheck& check) override;
  void submit(EncodeResult result, const char* what);
  void selfTelemetry(int64_t now, std::vector<Serie>& series);
  std::string hostOf(const Metadata& m) const;
  std::vector<std::string> tagsOf(const Metadata& m) const;

  uv_loop_t* loop_;
  Telemetry& telemetry_;
  Forwarder* forwarder_;
  ListenerOptions listener_options_;
  std::string hostname_;
  std::vector<std::string> extra_tags_;
  int64_t flush_interval_s_;
  Parser parser_;
  aggregator::Aggregator aggregator_;
  std::unique_ptr<DogStatsdListeners> listeners_;
  std::unique_ptr<Timer> flush_timer_;
  std::vector<EventRecord> events_;
  std::vector<ServiceCheckRun> checks_;
  int64_t now_ = 0;                               // arrival time of the datagram being parsed
  std::map<std::string, int64_t> last_reported_;  // self-telemetry: value at the last flush
  FlushObserver observer_;
  Counter& metric_samples_;
  Counter& events_count_;
  Counter& checks_count_;
  Counter& flushed_local_;
  Counter& encode_drops_;
};

}  // namespace outpost::dogstatsd
