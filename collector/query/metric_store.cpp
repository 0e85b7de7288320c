#include "collector/query/metric_store.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <mutex>
#include <set>

#include <fmt/format.h>

#include "core/strings.h"

namespace outpost::query {

namespace {

constexpr double kEmpty = std::numeric_limits<double>::quiet_NaN();

std::optional<MetricQuery::Agg> aggFrom(std::string_view s) {
  using Agg = MetricQuery::Agg;
  if (s == "avg") {
    return Agg::kAvg;
  }
  if (s == "sum") {
    return Agg::kSum;
  }
  if (s == "min") {
    return Agg::kMin;
  }
  if (s == "max") {
    return Agg::kMax;
  }
  if (s == "count") {
    return Agg::kCount;
  }
  return std::nullopt;
}

bool isNameChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '.';
}

// Splits a filter list on commas and on " AND " (both mean AND here).
std::vector<std::string_view> splitFilters(std::string_view s) {
  std::vector<std::string_view> out;
  size_t start = 0;
  for (size_t i = 0; i <= s.size(); ++i) {
    if (i == s.size() || s[i] == ',') {
      out.push_back(trim(s.substr(start, i - start)));
      start = i + 1;
    } else if (s.compare(i, 5, " AND ") == 0 || s.compare(i, 5, " and ") == 0) {
      out.push_back(trim(s.substr(start, i - start)));
      start = i + 5;
      i += 4;
    }
  }
  return out;
}

// Running aggregate of values.
struct Acc {
  double sum = 0;
  double min = std::numeric_limits<double>::infinity();
  double max = -std::numeric_limits<double>::infinity();
  uint32_t n = 0;
  void add(double v) {
    sum += v;
    min = std::min(min, v);
    max = std::max(max, v);
    ++n;
  }
  double value(MetricQuery::Agg a) const {
    if (n == 0) {
      return kEmpty;
    }
    switch (a) {
      case MetricQuery::Agg::kAvg:
        return sum / n;
      case MetricQuery::Agg::kSum:
        return sum;
      case MetricQuery::Agg::kMin:
        return min;
      case MetricQuery::Agg::kMax:
        return max;
      case MetricQuery::Agg::kCount:
        return n;
    }
    return kEmpty;
  }
};

std::string contextKey(std::string_view name, const std::vector<std::string>& tags) {
  std::string key(name);
  key += '\x1f';
  for (const auto& t : tags) {
    key += t;
    key += '\x1e';
  }
  return key;
}

std::string_view tagValue(const std::vector<std::string>& tags, std::string_view key) {
  for (const auto& t : tags) {
    if (t.size() > key.size() && t[key.size()] == ':' && t.compare(0, key.size(), key) == 0) {
      return std::string_view(t).substr(key.size() + 1);
    }
  }
  return {};
}

}  // namespace

const char* aggName(MetricQuery::Agg a) {
  switch (a) {
    case MetricQuery::Agg::kAvg:
      return "avg";
    case MetricQuery::Agg::kSum:
      return "sum";
    case MetricQuery::Agg::kMin:
      return "min";
    case MetricQuery::Agg::kMax:
      return "max";
    case MetricQuery::Agg::kCount:
      return "count";
  }
  return "?";
}

bool globMatch(std::string_view pattern, std::string_view text) {
  // Iterative matcher with one backtrack point (the last star).
  size_t p = 0, t = 0, star = std::string_view::npos, mark = 0;
  while (t < text.size()) {
    if (p < pattern.size() && pattern[p] == '*') {
      star = p++;
      mark = t;
    } else if (p < pattern.size() && pattern[p] == text[t]) {
      ++p;
      ++t;
    } else if (star != std::string_view::npos) {
      p = star + 1;
      t = ++mark;
    } else {
      return false;
    }
  }
  while (p < pattern.size() && pattern[p] == '*') {
    ++p;
  }
  return p == pattern.size();
}

bool matchFilters(const std::vector<std::string>& tags,
                  const std::vector<MetricQuery::Filter>& filters) {
  for (const auto& f : filters) {
    bool found = false;
    for (const auto& t : tags) {
      if (f.key.empty()) {
        found = globMatch(f.value, t);
      } else if (t.size() > f.key.size() && t[f.key.size()] == ':' &&
                 t.compare(0, f.key.size(), f.key) == 0) {
        found = globMatch(f.value, std::string_view(t).substr(f.key.size() + 1));
      }
      if (found) {
        break;
      }
    }
    if (found == f.negated) {
      return false;
    }
  }
  return true;
}

bool parseMetricQuery(std::string_view text, MetricQuery* out, std::string* error) {
  MetricQuery q;
  q.text = std::string(text);
  std::string_view s = trim(text);
  auto fail = [&](std::string msg) {
    *error = fmt::format("metric query '{}': {}", text, msg);
    return false;
  };
  if (s.empty()) {
    return fail("empty (expected e.g. avg:system.cpu.user{*} by {host})");
  }
  if (const size_t colon = s.find(':'); colon != std::string_view::npos) {
    const size_t brace = s.find('{');
    if (brace == std::string_view::npos || colon < brace) {
      const auto agg = aggFrom(trim(s.substr(0, colon)));
      if (!agg) {
        return fail(fmt::format("unknown aggregator '{}' (avg, sum, min, max, count)",
                                trim(s.substr(0, colon))));
      }
      q.space = *agg;
      s = trim(s.substr(colon + 1));
    }
  }
  size_t i = 0;
  while (i < s.size() && isNameChar(s[i])) {
    ++i;
  }
  std::string_view name = s.substr(0, i);
  std::string_view rest = s.substr(i);
  if (!rest.empty() && rest.front() == '(') {
    // No braces: "system.load.1.rollup(max)": the last dotted part is a function.
    const size_t dot = name.rfind('.');
    if (dot == std::string_view::npos) {
      return fail("a function needs a metric before it");
    }
    rest = s.substr(dot);
    name = name.substr(0, dot);
  }
  if (!name.empty() && name.back() == '.') {
    return fail("the metric name ends with '.'");
  }
  if (name.empty()) {
    return fail("no metric name (letters, digits, '_' and '.')");
  }
  q.metric = std::string(name);
  rest = trim(rest);
  if (!rest.empty() && rest.front() == '{') {
    const size_t close = rest.find('}');
    if (close == std::string_view::npos) {
      return fail("'{' without '}'");
    }
    for (std::string_view f : splitFilters(rest.substr(1, close - 1))) {
      if (f.empty() || f == "*") {
        continue;
      }
      MetricQuery::Filter filter;
      if (f.front() == '!' || f.front() == '-') {
        filter.negated = true;
        f = trim(f.substr(1));
      }
      const size_t colon = f.find(':');
      if (colon == std::string_view::npos) {
        filter.value = std::string(f);
      } else {
        filter.key = std::string(trim(f.substr(0, colon)));
        filter.value = std::string(trim(f.substr(colon + 1)));
        if (filter.key.empty() || filter.value.empty()) {
          return fail(fmt::format("filter '{}' needs key:value", f));
        }
      }
      if (filter.value.empty()) {
        return fail("an empty filter");
      }
      q.filters.push_back(std::move(filter));
    }
    rest = trim(rest.substr(close + 1));
  }
  if (rest.size() >= 2 && rest.compare(0, 2, "by") == 0 &&
      (rest.size() == 2 || !isNameChar(rest[2]))) {
    rest = trim(rest.substr(2));
    if (rest.empty() || rest.front() != '{') {
      return fail("'by' needs {tag keys}");
    }
    const size_t close = rest.find('}');
    if (close == std::string_view::npos) {
      return fail("'by {' without '}'");
    }
    for (std::string_view k : splitFilters(rest.substr(1, close - 1))) {
      if (k.empty()) {
        continue;
      }
      if (std::find_if_not(k.begin(), k.end(), [](char c) {
            return isNameChar(c) || c == '-' || c == '/';
          }) != k.end()) {
        return fail(fmt::format("'{}' is not a tag key", k));
      }
      q.group_by.emplace_back(k);
    }
    rest = trim(rest.substr(close + 1));
  }
  while (!rest.empty()) {
    if (rest.front() != '.') {
      return fail(fmt::format("unexpected '{}'", rest));
    }
    const size_t open = rest.find('(');
    const size_t close = rest.find(')');
    if (open == std::string_view::npos || close == std::string_view::npos || close < open) {
      return fail(fmt::format("a function needs (): '{}'", rest));
    }
    const std::string_view fn = trim(rest.substr(1, open - 1));
    std::vector<std::string_view> args;
    if (const auto inner = trim(rest.substr(open + 1, close - open - 1)); !inner.empty()) {
      args = splitFilters(inner);
    }
    if (fn == "rollup") {
      if (args.empty() || args.size() > 2) {
        return fail("rollup takes (method), (seconds) or (method, seconds)");
      }
      for (const auto a : args) {
        if (auto agg = aggFrom(a)) {
          q.rollup = agg;
        } else if (!a.empty() && std::all_of(a.begin(), a.end(), ::isdigit) && a.size() < 9) {
          q.rollup_s = std::stoll(std::string(a));
          if (q.rollup_s <= 0) {
            return fail("the rollup interval must be a positive number of seconds");
          }
        } else {
          return fail(
              fmt::format("rollup argument '{}' is neither a method (avg, sum, min, max, "
                          "count) nor seconds",
                          a));
        }
      }
    } else if (fn == "as_count" && args.empty()) {
      q.as_count = true;
    } else if (fn == "as_rate" && args.empty()) {
      q.as_rate = true;
    } else {
      return fail(
          fmt::format("unknown function '{}' (rollup(method, seconds), as_count(), "
                      "as_rate())",
                      fn));
    }
    rest = trim(rest.substr(close + 1));
  }
  *out = std::move(q);
  return true;
}

MetricStore::MetricStore(MetricStoreOptions options)
    : options_(options),
      slots_(static_cast<size_t>(std::max<int64_t>(
          1, (options.retention_s + options.resolution_s - 1) / options.resolution_s))) {}

uint32_t MetricStore::contextFor(std::string_view name, const std::vector<std::string>& tags,
                                 const std::string& host, const std::string& device,
                                 SeriesType type, int64_t interval) {
  std::vector<std::string> all = tags;
  if (!host.empty()) {
    all.push_back("host:" + host);
  }
  if (!device.empty()) {
    all.push_back("device:" + device);
  }
  std::sort(all.begin(), all.end());
  all.erase(std::unique(all.begin(), all.end()), all.end());
  std::string key = contextKey(name, all);
  if (auto it = index_.find(key); it != index_.end()) {
    return it->second;
  }
  if (live_ >= options_.max_contexts) {
    ++refused_;
    return UINT32_MAX;
  }
  uint32_t metric;
  if (auto it = name_index_.find(std::string(name)); it != name_index_.end()) {
    metric = it->second;
  } else {
    metric = static_cast<uint32_t>(names_.size());
    names_.emplace_back(name);
    name_index_.emplace(name, metric);
    by_metric_.emplace_back();
  }
  uint32_t id;
  if (!free_.empty()) {
    id = free_.back();
    free_.pop_back();
  } else {
    id = static_cast<uint32_t>(contexts_.size());
    contexts_.emplace_back();
  }
  Context& c = contexts_[id];
  c.metric = metric;
  for (const auto& t : all) {
    tag_bytes_ += t.size() + sizeof(std::string);
  }
  c.tags = std::move(all);
  c.type = type;
  c.interval = interval;
  c.newest = -1;
  c.ring = std::make_unique<double[]>(slots_);
  std::fill_n(c.ring.get(), slots_, kEmpty);
  by_metric_[metric].push_back(id);
  index_.emplace(std::move(key), id);
  ++live_;
  return id;
}

void MetricStore::put(Context& c, int64_t ts, double value, bool add) {
  if (ts < 0 || !std::isfinite(value)) {
    ++too_old_;
    return;
  }
  const int64_t slot = ts / options_.resolution_s;
  const auto n = static_cast<int64_t>(slots_);
  if (c.newest < 0) {
    c.newest = slot;
  } else if (slot > c.newest) {
    for (int64_t s = std::max(c.newest + 1, slot - n + 1); s < slot; ++s) {
      c.ring[static_cast<size_t>(s % n)] = kEmpty;
    }
    c.newest = slot;
  } else if (slot <= c.newest - n) {
    ++too_old_;
    return;
  }
  double& cell = c.ring[static_cast<size_t>(slot % n)];
  if (add && !std::isnan(cell)) {
    cell += value;
  } else {
    cell = value;
  }
  newest_slot_ = std::max(newest_slot_, slot);
  ++points_;
}

double MetricStore::at(const Context& c, int64_t slot) const {
  const auto n = static_cast<int64_t>(slots_);
  if (c.newest < 0 || slot > c.newest || slot <= c.newest - n || slot < 0) {
    return kEmpty;
  }
  return c.ring[static_cast<size_t>(slot % n)];
}

void MetricStore::recycle(int64_t newest_slot) {
  const auto n = static_cast<int64_t>(slots_);
  for (uint32_t id = 0; id < contexts_.size(); ++id) {
    Context& c = contexts_[id];
    if (!c.ring || c.newest < 0 || c.newest > newest_slot - n) {
      continue;
    }
    index_.erase(contextKey(names_[c.metric], c.tags));
    auto& ids = by_metric_[c.metric];
    ids.erase(std::remove(ids.begin(), ids.end(), id), ids.end());
    for (const auto& t : c.tags) {
      tag_bytes_ -= t.size() + sizeof(std::string);
    }
    c.tags.clear();
    c.ring.reset();
    c.newest = -1;
    free_.push_back(id);
    --live_;
  }
}

void MetricStore::add(const std::vector<Serie>& series) {
  std::unique_lock lock(mu_);
  for (const auto& s : series) {
    const uint32_t id = contextFor(s.name, s.tags, s.host, s.device, s.type, s.interval);
    if (id == UINT32_MAX) {
      continue;
    }
    for (const auto& [ts, v] : s.points) {
      put(contexts_[id], ts, v, s.type == SeriesType::kCount);
    }
  }
  // Once every tenth of the retention: contexts silent for a whole retention free their ring.
  if (newest_slot_ - last_recycle_slot_ >=
      std::max<int64_t>(1, static_cast<int64_t>(slots_) / 10)) {
    last_recycle_slot_ = newest_slot_;
    recycle(newest_slot_);
  }
}

void MetricStore::addSketches(const std::vector<SketchSerie>& sketches) {
  std::unique_lock lock(mu_);
  static const std::string kNoDevice;
  for (const auto& s : sketches) {
    const uint32_t id = contextFor(s.name, s.tags, s.host, kNoDevice, SeriesType::kGauge, 0);
    if (id == UINT32_MAX) {
      continue;
    }
    for (const auto& p : s.points) {
      if (p.cnt > 0) {
        put(contexts_[id], p.ts, p.avg, false);
      }
    }
  }
}

std::optional<nlohmann::json> MetricStore::query(const MetricQuery& q, const MetricQueryOptions& o,
                                                 std::string* error) const {
  if (o.to_s < o.from_s) {
    *error = "'to' is before 'from'";
    return std::nullopt;
  }
  const int64_t res = options_.resolution_s;
  int64_t interval = q.rollup_s;
  if (interval <= 0) {
    const int64_t span = o.to_s - o.from_s + 1;
    const int64_t points = static_cast<int64_t>(std::max<size_t>(1, o.max_points));
    interval = res * std::max<int64_t>(1, (span + res * points - 1) / (res * points));
  } else {
    interval = ((interval + res - 1) / res) * res;  // a whole number of slots
  }
  const int64_t b0 = o.from_s / interval;
  const int64_t b1 = o.to_s / interval;
  if (b1 - b0 + 1 > 100000) {
    *error = fmt::format("{} points per series: use a larger rollup interval", b1 - b0 + 1);
    return std::nullopt;
  }
  const auto nb = static_cast<size_t>(b1 - b0 + 1);
  const int64_t slots_per_bucket = interval / res;
  // Slots read: those whose time falls in [from, to].
  const int64_t s0 = (o.from_s + res - 1) / res;
  const int64_t s1 = o.to_s / res;

  struct Group {
    std::vector<std::string> values;
    std::vector<Acc> acc;  // only for the groups answered (the first max_series by key)
    size_t contexts = 0;
  };
  std::map<std::string, Group> groups;
  std::shared_lock lock(mu_);
  auto name = name_index_.find(q.metric);
  SeriesType type = SeriesType::kGauge;
  // First the groups of the matching contexts; then only the answered ones are aggregated, so
  // a query grouping 10,000 series by host and device costs max_series x points of memory.
  std::vector<std::pair<uint32_t, Group*>> matched;
  if (name != name_index_.end()) {
    std::string key;
    for (const uint32_t id : by_metric_[name->second]) {
      const Context& c = contexts_[id];
      if (!matchFilters(c.tags, q.filters)) {
        continue;
      }
      type = c.type;
      key.clear();
      for (const auto& g : q.group_by) {
        const std::string_view v = tagValue(c.tags, g);
        key += v.empty() ? std::string_view("N/A") : v;
        key += '\x1f';
      }
      auto [it, inserted] = groups.try_emplace(key);
      Group& group = it->second;
      if (inserted) {
        for (const auto& g : q.group_by) {
          const std::string_view v = tagValue(c.tags, g);
          group.values.emplace_back(v.empty() ? std::string_view("N/A") : v);
        }
      }
      ++group.contexts;
      matched.emplace_back(id, &group);
    }
  }
  size_t answered = 0;
  for (auto& [key, g] : groups) {
    if (answered++ == o.max_series) {
      break;
    }
    g.acc.resize(nb);
  }
  std::vector<Acc> per(nb);
  {
    for (const auto& [id, group_ptr] : matched) {
      const Context& c = contexts_[id];
      Group& group = *group_ptr;
      if (group.acc.empty()) {
        continue;
      }
      // Time aggregation of this context into buckets, then space aggregation into the group.
      // The ring is walked in order without divisions; with one slot per bucket the rollup is
      // the value itself and goes straight to the group.
      const double scale =
          q.as_count && c.type == SeriesType::kRate && c.interval > 0 ? c.interval : 1.0;
      const MetricQuery::Agg rollup =
          q.rollup.value_or(q.as_count || c.type == SeriesType::kCount ? MetricQuery::Agg::kSum
                                                                       : MetricQuery::Agg::kAvg);
      const double per_interval =
          q.as_rate && c.type == SeriesType::kCount ? 1.0 / static_cast<double>(interval) : 1.0;
      const auto n = static_cast<int64_t>(slots_);
      const int64_t lo = std::max(s0, c.newest - n + 1);
      const int64_t hi = std::min(s1, c.newest);
      if (lo > hi) {
        continue;
      }
      size_t idx = static_cast<size_t>(lo % n);
      auto bucket = static_cast<size_t>(lo * res / interval - b0);
      if (slots_per_bucket == 1) {
        const bool count = rollup == MetricQuery::Agg::kCount;
        for (int64_t s = lo; s <= hi; ++s, ++bucket) {
          const double v = c.ring[idx];
          if (++idx == slots_) {
            idx = 0;
          }
          if (!std::isnan(v)) {
            group.acc[bucket].add(count ? 1.0 : v * scale * per_interval);
          }
        }
        continue;
      }
      const size_t first = bucket;
      std::fill(per.begin() + static_cast<ptrdiff_t>(first), per.end(), Acc{});
      int64_t pos = (lo * res % interval) / res;
      for (int64_t s = lo; s <= hi; ++s) {
        const double v = c.ring[idx];
        if (++idx == slots_) {
          idx = 0;
        }
        if (!std::isnan(v)) {
          per[bucket].add(v * scale);
        }
        if (++pos == slots_per_bucket) {
          pos = 0;
          ++bucket;
        }
      }
      for (size_t b = first; b <= bucket && b < nb; ++b) {
        const double v = per[b].value(rollup);
        if (!std::isnan(v)) {
          group.acc[b].add(v * per_interval);
        }
      }
    }
  }
  size_t metric_contexts = name == name_index_.end() ? 0 : by_metric_[name->second].size();
  lock.unlock();

  nlohmann::json series = nlohmann::json::array();
  size_t emitted = 0;
  for (const auto& [key, g] : groups) {
    if (emitted == o.max_series) {
      break;
    }
    ++emitted;
    nlohmann::json group = nlohmann::json::object();
    std::string scope;
    for (size_t k = 0; k < q.group_by.size(); ++k) {
      group[q.group_by[k]] = g.values[k];
      scope += (scope.empty() ? "" : ",") + q.group_by[k] + ":" + g.values[k];
    }
    nlohmann::json points = nlohmann::json::array();
    Acc summary;
    double last = kEmpty;
    for (size_t b = 0; b < nb; ++b) {
      const double v = g.acc[b].value(q.space);
      const int64_t ts_ms = (b0 + static_cast<int64_t>(b)) * interval * 1000;
      if (std::isnan(v)) {
        points.push_back({ts_ms, nullptr});
      } else {
        points.push_back({ts_ms, v});
        summary.add(v);
        last = v;
      }
    }
    nlohmann::json sum = nullptr;
    if (summary.n > 0) {
      sum = {{"min", summary.min},
             {"max", summary.max},
             {"avg", summary.sum / summary.n},
             {"last", last},
             {"points", summary.n}};
    }
    series.push_back({{"metric", q.metric},
                      {"scope", scope.empty() ? "*" : scope},
                      {"group", group},
                      {"contexts", g.contexts},
                      {"points", std::move(points)},
                      {"summary", std::move(sum)}});
  }
  nlohmann::json out = {
      {"query", q.text},
      {"metric", q.metric},
      {"type", type == SeriesType::kCount  ? "count"
               : type == SeriesType::kRate ? "rate"
                                           : "gauge"},
      {"space_aggregation", aggName(q.space)},
      {"rollup", aggName(q.rollup.value_or(q.as_count || type == SeriesType::kCount
                                               ? MetricQuery::Agg::kSum
                                               : MetricQuery::Agg::kAvg))},
      {"from", o.from_s * 1000},
      {"to", o.to_s * 1000},
      {"interval_s", interval},
      {"series", std::move(series)},
      {"series_total", groups.size()},
      {"truncated", groups.size() > emitted},
  };
  if (groups.empty()) {
    nlohmann::json hints = nlohmann::json::array();
    if (name == name_index_.end()) {
      hints.push_back(fmt::format(
          "no metric named {} was flushed in the last {} s (GET /v1/metrics/list?prefix=...)",
          q.metric, options_.retention_s));
    } else {
      hints.push_back(fmt::format("{} has {} contexts but none matches the filters", q.metric,
                                  metric_contexts));
    }
    out["hints"] = std::move(hints);
  }
  return out;
}

nlohmann::json MetricStore::list(std::string_view prefix,
                                 const std::vector<MetricQuery::Filter>& filters, size_t limit,
                                 std::string_view cursor) const {
  std::shared_lock lock(mu_);
  std::vector<uint32_t> names;
  for (uint32_t i = 0; i < names_.size(); ++i) {
    if (names_[i].compare(0, prefix.size(), prefix) == 0 && names_[i] > cursor &&
        !by_metric_[i].empty()) {
      names.push_back(i);
    }
  }
  std::sort(names.begin(), names.end(),
            [this](uint32_t a, uint32_t b) { return names_[a] < names_[b]; });
  nlohmann::json metrics = nlohmann::json::array();
  std::string last_name;
  bool more = false;
  for (const uint32_t i : names) {
    size_t matching = 0;
    int64_t newest = -1;
    SeriesType type = SeriesType::kGauge;
    std::set<std::string_view> keys;
    for (const uint32_t id : by_metric_[i]) {
      const Context& c = contexts_[id];
      if (!matchFilters(c.tags, filters)) {
        continue;
      }
      ++matching;
      newest = std::max(newest, c.newest);
      type = c.type;
      for (const auto& t : c.tags) {
        const size_t colon = t.find(':');
        keys.insert(std::string_view(t).substr(0, colon));
      }
    }
    if (matching == 0) {
      continue;
    }
    if (metrics.size() == limit) {
      more = true;
      break;
    }
    metrics.push_back({{"name", names_[i]},
                       {"type", type == SeriesType::kCount  ? "count"
                                : type == SeriesType::kRate ? "rate"
                                                            : "gauge"},
                       {"contexts", matching},
                       {"tag_keys", keys},
                       {"last_point", newest * options_.resolution_s * 1000}});
    last_name = names_[i];
  }
  nlohmann::json out = {
      {"metrics", std::move(metrics)}, {"truncated", more}, {"next_cursor", more ? last_name : ""}};
  return out;
}

MetricStore::Stats MetricStore::stats() const {
  std::shared_lock lock(mu_);
  Stats s;
  s.contexts = live_;
  s.max_contexts = options_.max_contexts;
  s.contexts_refused = refused_;
  s.points = points_;
  s.points_too_old = too_old_;
  s.bytes = live_ * (slots_ * sizeof(double) + sizeof(Context) + 64) + tag_bytes_;
  s.retention_s = options_.retention_s;
  return s;
}

nlohmann::json MetricStore::statusJson() const {
  const Stats s = stats();
  return {{"contexts", s.contexts},
          {"max_contexts", s.max_contexts},
          {"contexts_refused", s.contexts_refused},
          {"points", s.points},
          {"points_too_old", s.points_too_old},
          {"bytes", s.bytes},
          {"retention_s", s.retention_s}};
}

}  // namespace outpost::query
