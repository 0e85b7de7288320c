#include "collector/sources/dogstatsd/dogstatsd_source.h"

#include <fmt/format.h>

#include <chrono>

#include "core/log.h"
#include "forwarder/encoders/event_encoder.h"
#include "forwarder/encoders/series_encoder.h"
#include "forwarder/encoders/service_check_encoder.h"
#include "forwarder/encoders/sketch_encoder.h"
#include "forwarder/forwarder.h"

namespace outpost::dogstatsd {
namespace {

int64_t unixNow() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

aggregator::MetricType toAggregator(MetricType t) {
  switch (t) {
    case MetricType::kCounter:
      return aggregator::MetricType::kCounter;
    case MetricType::kGauge:
      return aggregator::MetricType::kGauge;
    case MetricType::kHistogram:
      return aggregator::MetricType::kHistogram;
    case MetricType::kTiming:
      return aggregator::MetricType::kTiming;
    case MetricType::kDistribution:
      return aggregator::MetricType::kDistribution;
    case MetricType::kSet:
      return aggregator::MetricType::kSet;
  }
  return aggregator::MetricType::kGauge;
}

aggregator::Aggregator::Options aggregatorOptions(const Config& c,
                                                  const std::vector<std::string>& extra) {
  aggregator::Aggregator::Options o;
  o.hostname = c.hostname;
  o.extra_tags = extra;
  o.histogram_aggregates = c.histogram_aggregates;
  o.histogram_percentiles = c.histogram_percentiles;
  o.counter_expiry_seconds = c.dogstatsd_expiry_seconds;
  o.context_expiry_seconds = c.dogstatsd_context_expiry_seconds;
  o.context_limit = static_cast<size_t>(c.dogstatsd_context_limit);
  return o;
}

std::vector<std::string> extraTags(const Config& c) {
  std::vector<std::string> tags = c.tags;
  if (!c.env.empty()) {
    tags.push_back("env:" + c.env);
  }
  tags.insert(tags.end(), c.dogstatsd_tags.begin(), c.dogstatsd_tags.end());
  return tags;
}

constexpr const char* kAlertTypes[] = {"info", "error", "warning", "success"};

}  // namespace

DogStatsdSource::DogStatsdSource(uv_loop_t* loop, Telemetry& telemetry, const Config& config,
                                 Forwarder* forwarder)
    : loop_(loop),
      telemetry_(telemetry),
      forwarder_(forwarder),
      listener_options_(ListenerOptions::fromConfig(config)),
      hostname_(config.hostname),
      extra_tags_(extraTags(config)),
      flush_interval_s_(config.dogstatsd_flush_interval),
      aggregator_(aggregatorOptions(config, extra_tags_), telemetry),
      metric_samples_(telemetry.counter("outpost.dogstatsd.metrics", {}, "metric samples parsed")),
      events_count_(telemetry.counter("outpost.dogstatsd.events", {}, "events parsed")),
      checks_count_(
          telemetry.counter("outpost.dogstatsd.service_checks", {}, "service checks parsed")),
      flushed_local_(telemetry.counter("outpost.dogstatsd.flushed_local", {},
                                       "payloads flushed in local mode (not kept yet)")),
      encode_drops_(telemetry.counter("outpost.dogstatsd.encode_drops", {},
                                      "series or sketches too large for one payload")) {}

DogStatsdSource::~DogStatsdSource() = default;

bool DogStatsdSource::start() {
  listeners_ = std::make_unique<DogStatsdListeners>(
      loop_, telemetry_,
      [this](std::string_view datagram, const Origin& origin) { onDatagram(datagram, origin); });
  std::string error;
  if (!listeners_->start(listener_options_, &error)) {
    LOG_ERROR("dogstatsd", "{}", error);
    return false;
  }
  flush_timer_ = std::make_unique<Timer>(loop_, [this] { flush(unixNow()); });
  const uint64_t ms = static_cast<uint64_t>(flush_interval_s_) * 1000;
  flush_timer_->start(ms, ms);
  return true;
}

void DogStatsdSource::stop(std::function<void()> done) {
  if (listeners_) {
    listeners_->stop();
  }
  flush_timer_.reset();
  // Everything aggregated goes out, the open bucket too (the forwarder stops after us).
  flush(unixNow() + 10);
  done();
}

void DogStatsdSource::onDatagram(std::string_view datagram, const Origin&) {
  now_ = unixNow();
  parser_.parse(datagram, *this);
}

aggregator::SampleInput toSampleInput(const Sample& s) {
  aggregator::SampleInput in;
  in.name = s.name;
  in.type = toAggregator(s.type);
  in.value = s.value;
  in.set_value = s.set_value;
  in.sample_rate = s.sample_rate;
  in.tags = s.tags;
  in.host = s.host;
  in.has_host = s.has_host;
  in.timestamp = s.timestamp;
  return in;
}

void DogStatsdSource::onSample(const Sample& s) {
  aggregator_.add(toSampleInput(s), now_);
  metric_samples_.inc();
}

std::string DogStatsdSource::hostOf(const Metadata& m) const {
  return m.has_host ? std::string(m.host) : hostname_;
}

std::vector<std::string> DogStatsdSource::tagsOf(const Metadata& m) const {
  std::vector<std::string> tags(m.tags.begin(), m.tags.end());
  tags.insert(tags.end(), extra_tags_.begin(), extra_tags_.end());
  return tags;
}

void DogStatsdSource::onEvent(const Event& e) {
  EventRecord r;
  r.title = std::string(e.title);
  r.text = std::string(e.text);
  r.timestamp = e.timestamp > 0 ? e.timestamp : now_;
  r.host = hostOf(e);
  r.tags = tagsOf(e);
  r.aggregation_key = std::string(e.aggregation_key);
  r.priority = e.priority == EventPriority::kLow ? "low" : "normal";
  r.source_type_name = std::string(e.source_type_name);
  r.alert_type = kAlertTypes[static_cast<int>(e.alert_type)];
  events_.push_back(std::move(r));
  events_count_.inc();
}

void DogStatsdSource::onServiceCheck(const ServiceCheck& c) {
  ServiceCheckRun r;
  r.check = std::string(c.name);
  r.host = hostOf(c);
  r.timestamp = c.timestamp > 0 ? c.timestamp : now_;
  r.status = c.status;
  r.message = std::string(c.message);
  r.tags = tagsOf(c);
  checks_.push_back(std::move(r));
  checks_count_.inc();
}

void DogStatsdSource::selfTelemetry(int64_t now, std::vector<Serie>& series) {
  // The source's own counters as counts over the interval (deltas since the last flush), and
  // its gauges as they are.
  for (const auto& sample : telemetry_.snapshot()) {
    if (!sample.name.starts_with("outpost.dogstatsd.")) {
      continue;
    }
    if (sample.kind == Telemetry::Kind::kGauge) {  // e.g. udp_drops: the level as it is
      Serie g;
      g.name = sample.name;
      g.tags = sample.tags;
      g.host = hostname_;
      g.type = SeriesType::kGauge;
      g.interval = flush_interval_s_;
      g.points.emplace_back(now - now % 10, static_cast<double>(sample.value));
      series.push_back(std::move(g));
      continue;
    }
    const std::string key = sample.name + "|" + fmt::format("{}", fmt::join(sample.tags, ","));
    const int64_t delta = sample.value - last_reported_[key];
    last_reported_[key] = sample.value;
    Serie s;
    s.name = sample.name;
    s.tags = sample.tags;
    s.host = hostname_;
    s.type = SeriesType::kCount;
    s.interval = flush_interval_s_;
    s.points.emplace_back(now - now % 10, static_cast<double>(delta));
    series.push_back(std::move(s));
  }
  Serie contexts;
  contexts.name = "outpost.dogstatsd.contexts";
  contexts.host = hostname_;
  contexts.type = SeriesType::kGauge;
  contexts.interval = flush_interval_s_;
  contexts.points.emplace_back(now - now % 10, static_cast<double>(aggregator_.contexts()));
  series.push_back(std::move(contexts));
}

void DogStatsdSource::submit(EncodeResult result, const char* what) {
  encode_drops_.inc(result.dropped_too_large);
  for (auto& payload : result.payloads) {
    if (forwarder_ == nullptr) {
      flushed_local_.inc();
      continue;
    }
    if (forwarder_->submit(std::move(payload)) != Forwarder::SubmitResult::kAccepted) {
      LOG_WARN("dogstatsd", "the forwarder refused a {} payload", what);
    }
  }
}

void DogStatsdSource::flush(int64_t now) {
  aggregator::Aggregator::Flush f = aggregator_.flush(now);
  selfTelemetry(now, f.series);
  if (observer_) {
    observer_(f.series, f.sketches);
  }
  if (!f.series.empty()) {
    submit(SeriesEncoder().encode(f.series), "series");
  }
  if (!f.sketches.empty()) {
    submit(SketchEncoder().encode(f.sketches), "sketches");
  }
  if (!checks_.empty()) {
    submit(ServiceCheckEncoder().encode(checks_), "service checks");
    checks_.clear();
  }
  if (!events_.empty()) {
    submit(EventEncoder(EventEncoder::Options{hostname_}).encode(events_), "events");
    events_.clear();
  }
}

void DogStatsdSource::resources(Resources& out) const {
  out.push_back({.name = "dogstatsd.contexts",
                 .unit = "contexts",
                 .used = aggregator_.contexts(),
                 .limit = aggregator_.contextLimit(),
                 .key = "dogstatsd_context_limit",
                 .note = fmt::format("about {:.1f} MiB now; past it new contexts are dropped and "
                                     "counted",
                                     static_cast<double>(aggregator_.memoryBytes()) / 1048576.0)});
}

}  // namespace outpost::dogstatsd
