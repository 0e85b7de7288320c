#include "collector/sources/traces/sampler.h"

#include <algorithm>
#include <charconv>
#include <cmath>

#include "collector/sources/traces/normalize.h"

namespace outpost::traces {

namespace {

constexpr double kMinRate = 1e-4;
constexpr double kDecay = 0.8;  // weight of the previous smoothed rate at each update
constexpr uint64_t kKnuthFactor = 1111111111111111111ULL;

std::string signatureKey(std::string_view service, std::string_view env) {
  std::string k = "service:";
  k.append(service);
  k += ",env:";
  k.append(env);
  return k;
}

void appendJsonEscaped(std::string& out, std::string_view s) {
  out.push_back('"');
  for (char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    if (c == '"' || c == '\\') {
      out.push_back('\\');
      out.push_back(ch);
    } else if (c < 0x20) {
      static const char kHex[] = "0123456789abcdef";
      out += "\\u00";
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    } else {
      out.push_back(ch);
    }
  }
  out.push_back('"');
}

void appendNumber(std::string& out, double v) {
  char buf[32];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
  (void)ec;
  out.append(buf, static_cast<size_t>(end - buf));
}

bool keepByRate(uint64_t trace_id, double rate) {
  if (rate >= 1) {
    return true;
  }
  // The trace-agent's deterministic choice: all agents agree on a trace id.
  const double threshold = rate * 18446744073709551616.0;
  return static_cast<double>(trace_id * kKnuthFactor) < threshold;
}

uint64_t hashCombine(uint64_t h, std::string_view s) {
  for (unsigned char c : s) {
    h ^= c;
    h *= 1099511628211ULL;
  }
  h ^= 0xff;
  h *= 1099511628211ULL;
  return h;
}

}  // namespace

const char* sampleReasonName(SampleReason r) {
  switch (r) {
    case SampleReason::kPriority:
      return "priority";
    case SampleReason::kError:
      return "error";
    case SampleReason::kRare:
      return "rare";
    case SampleReason::kNoPriority:
      return "no_priority";
    case SampleReason::kDropped:
      return "dropped";
  }
  return "dropped";
}

Sampler::Sampler(SamplerOptions o) : o_(std::move(o)) {
  rebuildJson();
}

Sampler::Signature& Sampler::signature(std::string_view service, std::string_view env) {
  const uint64_t h = hashCombine(hashCombine(1469598103934665603ULL, service), env);
  auto [first, last] = by_hash_.equal_range(h);
  for (auto it = first; it != last; ++it) {
    if (it->second.service == service && it->second.env == env) {
      return *it->second.signature;
    }
  }
  std::string key = signatureKey(service, env);
  auto it = signatures_.find(key);
  if (it != signatures_.end()) {
    return it->second;
  }
  if (signatures_.size() >= o_.max_signatures) {
    return default_;
  }
  Signature s;
  s.rate = default_.rate;
  Signature& added = signatures_.emplace(std::move(key), s).first->second;
  by_hash_.emplace(h, Known{std::string(service), std::string(env), &added});
  return added;
}

double Sampler::rateFor(std::string_view service, std::string_view env) const {
  auto it = signatures_.find(signatureKey(service, env));
  return it == signatures_.end() ? default_.rate : it->second.rate;
}

bool Sampler::errorKeeps(int64_t now_ns) {
  const int64_t window = now_ns / 1'000'000'000;
  if (window != error_window_) {
    error_window_ = window;
    error_kept_ = 0;
  }
  if (error_kept_ + 1 > o_.errors_per_second) {
    return false;
  }
  error_kept_ += 1;
  return true;
}

bool Sampler::rareKeeps(const TraceChunk& chunk, std::string_view env, int64_t now_ns) {
  const int64_t window = now_ns / 1'000'000'000;
  if (window != rare_window_) {
    rare_window_ = window;
    rare_kept_ = 0;
  }
  bool keep = false;
  for (const auto& s : chunk.spans) {
    if (!isTopLevel(s)) {
      continue;
    }
    uint64_t h = 1469598103934665603ULL;
    h = hashCombine(h, env);
    h = hashCombine(h, s.service);
    h = hashCombine(h, s.name);
    h = hashCombine(h, s.resource);
    h = hashCombine(h, s.error != 0 ? "1" : "0");
    const Str* status = s.findMeta("http.status_code");
    h = hashCombine(h, status != nullptr ? *status : Str());
    auto it = rare_seen_.find(h);
    const bool fresh = it == rare_seen_.end() || now_ns - it->second >= o_.rare_cooldown_ns;
    if (fresh && rare_kept_ + 1 <= o_.rare_tps &&
        (it != rare_seen_.end() || rare_seen_.size() < o_.rare_cardinality)) {
      rare_seen_[h] = now_ns;
      keep = true;
    } else if (it != rare_seen_.end()) {
      it->second = std::max(it->second, now_ns - o_.rare_cooldown_ns + 1);  // stays "seen"
    }
  }
  if (keep) {
    rare_kept_ += 1;
  }
  return keep;
}

SampleDecision Sampler::sample(TraceChunk& chunk, std::string_view env, int64_t now_ns) {
  if (chunk.spans.empty()) {
    return {};
  }
  if (env.empty()) {
    env = o_.default_env;
  }
  Span& root = chunk.spans[rootSpanIndex(chunk)];
  Signature& sig = signature(root.service, env);
  sig.seen += 1;
  default_.seen += &sig == &default_ ? 0 : 1;
  bool has_error = false;
  for (const auto& s : chunk.spans) {
    has_error = has_error || s.error != 0;
  }
  if (o_.rare_enabled && rareKeeps(chunk, env, now_ns)) {
    return {true, SampleReason::kRare};
  }
  if (chunk.priority != kPriorityNone) {
    if (chunk.priority > 0) {
      return {true, SampleReason::kPriority};
    }
    if (has_error && errorKeeps(now_ns)) {
      return {true, SampleReason::kError};
    }
    return {false, SampleReason::kDropped};
  }
  if (keepByRate(root.trace_id, sig.rate)) {
    root.setMetric("_dd.agent_psr", sig.rate);
    return {true, SampleReason::kNoPriority};
  }
  if (has_error && errorKeeps(now_ns)) {
    return {true, SampleReason::kError};
  }
  return {false, SampleReason::kDropped};
}

void Sampler::updateRates(int64_t now_ns) {
  const double elapsed = last_update_ns_ == 0
                             ? 1.0
                             : std::max(1e-3, static_cast<double>(now_ns - last_update_ns_) / 1e9);
  last_update_ns_ = now_ns;
  bool changed = false;
  auto update = [&](Signature& s) {
    const double observed = s.seen / elapsed;
    s.seen = 0;
    s.tps = s.tps == 0 ? observed : kDecay * s.tps + (1 - kDecay) * observed;
    double rate = s.tps <= o_.target_tps || s.tps == 0 ? 1.0 : o_.target_tps / s.tps;
    rate = std::clamp(rate, kMinRate, 1.0);
    // Publish changes beyond 1 % only, so tracers are not told every second.
    if (std::fabs(rate - s.rate) > 0.01 * s.rate) {
      s.rate = rate;
      changed = true;
    }
  };
  for (auto& [key, s] : signatures_) {
    update(s);
  }
  // The default rate follows the total, aimed at the target across all signatures.
  update(default_);
  if (changed) {
    ++version_;
    rebuildJson();
  }
}

void Sampler::rebuildJson() {
  std::string j = "{\"rate_by_service\":{";
  bool first = true;
  for (const auto& [key, s] : signatures_) {
    if (!first) {
      j.push_back(',');
    }
    first = false;
    appendJsonEscaped(j, key);
    j.push_back(':');
    appendNumber(j, s.rate);
  }
  if (!first) {
    j.push_back(',');
  }
  j += "\"service:,env:\":";
  appendNumber(j, default_.rate);
  j += "}}";
  json_ = std::move(j);
}

}  // namespace outpost::traces
