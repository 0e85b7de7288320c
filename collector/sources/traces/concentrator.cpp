#include "collector/sources/traces/concentrator.h"

#include <cmath>
#include <functional>
#include <map>
#include <tuple>

#include "collector/sources/traces/normalize.h"
#include "core/hash.h"

namespace outpost::traces {

namespace {

uint64_t mix(uint64_t h, uint64_t v) {
  h ^= v + 0x9e3779b97f4a7c15ULL + (h << 6) + (h >> 2);
  return h;
}

// Each field hashed whole (the hash includes its length), then combined in order, so ("ab","c")
// and ("a","bc") differ.
uint64_t mix(uint64_t h, std::string_view s) {
  return mix(h, hashBytes128(s).lo);
}

bool eligibleKind(Str kind) {
  return kind == "server" || kind == "consumer" || kind == "client" || kind == "producer";
}

uint32_t httpStatus(Str v) {
  if (v.empty() || v.size() > 3) {
    return 0;
  }
  uint32_t code = 0;
  for (char c : v) {
    if (c < '0' || c > '9') {
      return 0;
    }
    code = code * 10 + static_cast<uint32_t>(c - '0');
  }
  return code;
}

Str metaOr(const Span& s, Str key) {
  const Str* v = s.findMeta(key);
  return v != nullptr ? *v : Str();
}

}  // namespace

struct Concentrator::Group {
  // The ClientStatsPayload key.
  std::string hostname, env, version, container_id;
  GroupedStats stats;  // hits etc. filled at flush from the doubles below
  double hits = 0, errors = 0, top_level_hits = 0, duration = 0;
  ApmSketch ok, error;
};

Concentrator::Concentrator(ConcentratorOptions o) : o_(std::move(o)) {}
Concentrator::~Concentrator() = default;

size_t Concentrator::memoryEntries() const {
  return entries_;
}

void Concentrator::add(const TracerPayload& payload, const TraceChunk& chunk, int64_t now_ns) {
  (void)now_ns;
  if (chunk.spans.empty()) {
    return;
  }
  const Span& root = chunk.spans[rootSpanIndex(chunk)];
  double weight = 1;
  if (const double* rate = root.findMetric("_sample_rate"); rate != nullptr && *rate > 0) {
    weight = 1 / *rate;
  }
  const Str hostname = !payload.hostname.empty() ? payload.hostname : Str(o_.hostname);
  Str env = payload.env;
  if (env.empty()) {
    env = metaOr(root, "env");
  }
  if (env.empty()) {
    env = o_.env;
  }
  const Str version = !payload.app_version.empty() ? payload.app_version : metaOr(root, "version");
  const bool synthetics = chunk.origin.starts_with("synthetics");
  uint64_t chunk_hash = 1469598103934665603ULL;  // the key's fields shared by the chunk's spans
  chunk_hash = mix(chunk_hash, hostname);
  chunk_hash = mix(chunk_hash, env);
  chunk_hash = mix(chunk_hash, version);
  chunk_hash = mix(chunk_hash, payload.container_id);
  for (const auto& s : chunk.spans) {
    // One pass over the metrics and one over the meta, for every field the key needs.
    bool top = false;
    bool measured = false;
    bool partial = false;
    for (const auto& [k, v] : s.metrics) {
      if (k == "_top_level" || k == "_dd.top_level") {
        top = top || v == 1;
      } else if (k == "_dd.measured") {
        measured = v == 1;
      } else if (k == "_dd.partial_version") {
        partial = v >= 0;
      }
    }
    Str kind, status_text, grpc, grpc_code, method, endpoint, route;
    for (const auto& [k, v] : s.meta) {
      if (k.size() < 9 || k.size() > 21) {
        continue;
      }
      if (k == "span.kind") {
        kind = v;
      } else if (k == "http.status_code") {
        status_text = v;
      } else if (k == "rpc.grpc.status_code") {
        grpc = v;
      } else if (k == "grpc.code") {
        grpc_code = v;
      } else if (k == "http.method") {
        method = v;
      } else if (k == "http.endpoint") {
        endpoint = v;
      } else if (k == "http.route") {
        route = v;
      }
    }
    if (!(top || measured || eligibleKind(kind)) || partial) {
      continue;
    }
    const int64_t end = s.start + s.duration;
    int64_t start = end - (end % o_.bucket_ns + o_.bucket_ns) % o_.bucket_ns;
    if (oldest_open_ != 0 && start < oldest_open_) {
      start = oldest_open_;  // late: into the oldest bucket not flushed yet
    }
    const uint32_t status = httpStatus(status_text);
    if (grpc.empty()) {
      grpc = grpc_code;
    }
    if (endpoint.empty()) {
      endpoint = route;
    }
    const int32_t trace_root = s.parent_id == 0 ? 1 : 2;
    uint64_t h = mix(chunk_hash, s.service);
    h = mix(h, s.name);
    h = mix(h, s.resource);
    h = mix(h, s.type);
    h = mix(h, kind);
    h = mix(h, grpc);
    h = mix(h, method);
    h = mix(h, endpoint);
    h = mix(h, (static_cast<uint64_t>(status) << 8) | (synthetics ? 1u : 0u) |
                   (static_cast<uint64_t>(trace_root) << 4));
    auto bucket = buckets_.find(start);
    Group* group = nullptr;
    if (bucket != buckets_.end()) {
      if (auto it = bucket->second.groups.find(h); it != bucket->second.groups.end()) {
        group = it->second.get();
      }
    }
    if (group == nullptr) {
      if (entries_ >= o_.max_entries) {
        ++dropped_spans_;  // (and no bucket is made for it)
        continue;
      }
      if (bucket == buckets_.end()) {
        bucket = buckets_.emplace(start, Bucket{}).first;
      }
      auto& slot = bucket->second.groups[h];
      slot = std::make_unique<Group>();
      group = slot.get();
      ++entries_;
      Group& g = *group;
      g.hostname = hostname;
      g.env = env;
      g.version = version;
      g.container_id = payload.container_id;
      g.stats.service = s.service;
      g.stats.name = s.name;
      g.stats.resource = s.resource;
      g.stats.type = s.type;
      g.stats.span_kind = kind;
      g.stats.http_status_code = status;
      g.stats.synthetics = synthetics;
      g.stats.is_trace_root = trace_root;
      g.stats.grpc_status_code = grpc;
      g.stats.http_method = method;
      g.stats.http_endpoint = endpoint;
      g.stats.db_type = metaOr(s, "db.type");
    }
    Group& g = *group;
    g.hits += weight;
    if (top) {
      g.top_level_hits += weight;
    }
    g.duration += static_cast<double>(s.duration) * weight;
    if (s.error != 0) {
      g.errors += weight;
      g.error.add(static_cast<double>(s.duration));
    } else {
      g.ok.add(static_cast<double>(s.duration));
    }
  }
}

std::vector<std::string> Concentrator::flush(int64_t now_ns, bool force) {
  std::vector<std::string> bodies;
  const int64_t horizon = now_ns - o_.buffer_len * o_.bucket_ns;
  // (hostname, env, version, container) -> buckets of that payload
  using Key = std::tuple<std::string, std::string, std::string, std::string>;
  std::map<Key, std::vector<StatsBucket>> by_payload;
  size_t entries = 0;
  auto emit = [&](bool split) {
    if (by_payload.empty()) {
      return;
    }
    StatsPayload p;
    p.agent_hostname = o_.hostname;
    p.agent_env = o_.env;
    p.agent_version = o_.agent_version;
    p.split_payload = split;
    for (auto& [key, buckets] : by_payload) {
      ClientStatsPayload c;
      std::tie(c.hostname, c.env, c.version, c.container_id) = key;
      c.stats = std::move(buckets);
      p.stats.push_back(std::move(c));
    }
    bodies.push_back(encodeStatsPayload(p));
    by_payload.clear();
    entries = 0;
  };
  bool split = false;
  for (auto it = buckets_.begin(); it != buckets_.end();) {
    const int64_t start = it->first;
    if (!force && start + o_.bucket_ns > horizon) {
      break;
    }
    std::map<Key, StatsBucket*> open;
    for (auto& [h, gp] : it->second.groups) {
      Group& g = *gp;
      if (entries >= o_.max_entries_per_payload) {
        split = true;
        emit(true);
        open.clear();
      }
      Key key{g.hostname, g.env, g.version, g.container_id};
      StatsBucket*& b = open[key];
      if (b == nullptr) {
        auto& list = by_payload[key];
        list.emplace_back();
        b = &list.back();
        b->start = static_cast<uint64_t>(start);
        b->duration = static_cast<uint64_t>(o_.bucket_ns);
      }
      GroupedStats stats = std::move(g.stats);
      stats.hits = static_cast<uint64_t>(std::llround(g.hits));
      stats.errors = static_cast<uint64_t>(std::llround(g.errors));
      stats.top_level_hits = static_cast<uint64_t>(std::llround(g.top_level_hits));
      stats.duration = static_cast<uint64_t>(std::llround(g.duration));
      stats.ok_summary = g.ok.encode();
      stats.error_summary = g.error.encode();
      b->stats.push_back(std::move(stats));
      ++entries;
    }
    oldest_open_ = std::max(oldest_open_, start + o_.bucket_ns);
    entries_ -= it->second.groups.size();
    it = buckets_.erase(it);
  }
  emit(split);
  return bodies;
}

}  // namespace outpost::traces
