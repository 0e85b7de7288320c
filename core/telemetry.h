#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

namespace outpost {

// A monotonically increasing count (drops, bytes, payloads). Lock-free to update.
class Counter {
 public:
  void inc(uint64_t n = 1) { value_.fetch_add(n, std::memory_order_relaxed); }
  uint64_t value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<uint64_t> value_{0};
};

// A level that goes up and down (queue depth, bytes in use). Lock-free to update.
class Gauge {
 public:
  void set(int64_t v) { value_.store(v, std::memory_order_relaxed); }
  void add(int64_t d) { value_.fetch_add(d, std::memory_order_relaxed); }
  int64_t value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<int64_t> value_{0};
};

// The agent's own telemetry: named counters and gauges with `key:value` tags, which every
// component registers into and which status output reads. Registering the same name and tags
// twice returns the same instrument; references stay valid for the registry's lifetime.
class Telemetry {
 public:
  enum class Kind { kCounter, kGauge };
  struct Sample {
    std::string name;
    std::vector<std::string> tags;  // sorted
    Kind kind;
    int64_t value;
    std::string help;
  };

  Counter& counter(std::string_view name, std::vector<std::string> tags = {},
                   std::string_view help = "");
  Gauge& gauge(std::string_view name, std::vector<std::string> tags = {},
               std::string_view help = "");

  // Every instrument, sorted by name then tags.
  std::vector<Sample> snapshot() const;
  // Value of one instrument, or -1 if it was never registered (tests, status).
  int64_t valueOf(std::string_view name, std::vector<std::string> tags = {}) const;

 private:
  struct Entry {
    std::string name;
    std::vector<std::string> tags;
    Kind kind;
    std::string help;
    std::unique_ptr<Counter> counter;
    std::unique_ptr<Gauge> gauge;
  };
  Entry& findOrAdd(std::string_view name, std::vector<std::string> tags, Kind kind,
                   std::string_view help);

  mutable std::mutex mu_;
  std::map<std::string, Entry> entries_;  // key: name + '|' + sorted tags
};

}  // namespace outpost
