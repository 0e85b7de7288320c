#include "core/telemetry.h"

#include <algorithm>
#include <cassert>

#include "core/strings.h"

namespace outpost {
namespace {

std::string entryKey(std::string_view name, const std::vector<std::string>& tags) {
  std::string key(name);
  key += '|';
  key += join(tags, ",");
  return key;
}

}  // namespace

Telemetry::Entry& Telemetry::findOrAdd(std::string_view name, std::vector<std::string> tags,
                                       Kind kind, std::string_view help) {
  std::sort(tags.begin(), tags.end());
  tags.erase(std::unique(tags.begin(), tags.end()), tags.end());
  std::string key = entryKey(name, tags);
  std::lock_guard lock(mu_);
  auto it = entries_.find(key);
  if (it != entries_.end()) {
    // One name is one kind; registering it as the other kind is a programming error.
    assert(it->second.kind == kind);
    return it->second;
  }
  Entry entry{std::string(name), std::move(tags), kind, std::string(help), nullptr, nullptr};
  if (kind == Kind::kCounter) {
    entry.counter = std::make_unique<Counter>();
  } else {
    entry.gauge = std::make_unique<Gauge>();
  }
  return entries_.emplace(std::move(key), std::move(entry)).first->second;
}

Counter& Telemetry::counter(std::string_view name, std::vector<std::string> tags,
                            std::string_view help) {
  return *findOrAdd(name, std::move(tags), Kind::kCounter, help).counter;
}

Gauge& Telemetry::gauge(std::string_view name, std::vector<std::string> tags,
                        std::string_view help) {
  return *findOrAdd(name, std::move(tags), Kind::kGauge, help).gauge;
}

std::vector<Telemetry::Sample> Telemetry::snapshot() const {
  std::lock_guard lock(mu_);
  std::vector<Sample> out;
  out.reserve(entries_.size());
  for (const auto& [key, e] : entries_) {
    const int64_t value =
        e.kind == Kind::kCounter ? static_cast<int64_t>(e.counter->value()) : e.gauge->value();
    out.push_back(Sample{e.name, e.tags, e.kind, value, e.help});
  }
  return out;
}

int64_t Telemetry::valueOf(std::string_view name, std::vector<std::string> tags) const {
  std::sort(tags.begin(), tags.end());
  const std::string key = entryKey(name, tags);
  std::lock_guard lock(mu_);
  auto it = entries_.find(key);
  if (it == entries_.end()) {
    return -1;
  }
  const Entry& e = it->second;
  return e.kind == Kind::kCounter ? static_cast<int64_t>(e.counter->value()) : e.gauge->value();
}

}  // namespace outpost
