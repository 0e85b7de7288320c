#include "collector/query/trace_store.h"

#include <algorithm>
#include <mutex>
#include <set>
#include <unordered_set>

#include <fmt/format.h>

#include "collector/query/timestamps.h"
#include "collector/sources/traces/normalize.h"

namespace outpost::query {

namespace {

using traces::Span;
using traces::TraceChunk;

// A vector's heap bytes, unless it lives in its payload's own memory (counted as a whole).
template <typename V>
size_t heapBytes(const V& v) {
  return v.get_allocator().resource() == nullptr ? v.capacity() * sizeof(v[0]) : 0;
}

size_t payloadBytes(const traces::DecodedPayload& d) {
  size_t bytes = sizeof(traces::DecodedPayload) + d.body.capacity() + d.arena.size() * 64 +
                 d.memoryBytes() + heapBytes(d.payload.chunks);
  for (const auto& c : d.payload.chunks) {
    bytes += heapBytes(c.spans);
    for (const auto& s : c.spans) {
      bytes += heapBytes(s.meta) + heapBytes(s.metrics);
    }
  }
  return bytes;
}

std::string hex128(const Span& root, uint64_t low) {
  const traces::Str* high = root.findMeta("_dd.p.tid");
  if (high != nullptr && high->size() == 16) {
    return fmt::format("{}{:016x}", *high, low);
  }
  return fmt::format("{:032x}", low);
}

double ms(int64_t ns) {
  return static_cast<double>(ns) / 1e6;
}

std::string_view errorMessage(const Span& s) {
  for (const char* key : {"error.message", "error.msg", "error.type"}) {
    if (const auto* v = s.findMeta(key)) {
      return *v;
    }
  }
  return {};
}

}  // namespace

std::optional<uint64_t> parseTraceId(std::string_view s) {
  bool hex = false;
  if (s.size() > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
    s.remove_prefix(2);
    hex = true;
  }
  if (s.empty() || s.size() > 32) {
    return std::nullopt;
  }
  const bool all_digits =
      std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
  const bool all_hex = std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
  });
  if (!all_hex) {
    return std::nullopt;
  }
  if (hex || !all_digits || s.size() == 32) {
    if (s.size() > 16) {
      s.remove_prefix(s.size() - 16);  // the low 64 bits
    }
    return std::stoull(std::string(s), nullptr, 16);
  }
  if (s.size() > 20) {
    return std::nullopt;
  }
  try {
    return std::stoull(std::string(s), nullptr, 10);
  } catch (const std::exception&) {
    return std::nullopt;  // over 2^64
  }
}

TraceStore::TraceStore(size_t max_bytes) : max_bytes_(max_bytes) {}

void TraceStore::add(std::unique_ptr<traces::DecodedPayload> decoded) {
  auto payload = std::make_shared<Payload>();
  payload->bytes = payloadBytes(*decoded);
  payload->decoded = std::move(decoded);
  const auto& chunks = payload->decoded->payload.chunks;
  std::unique_lock lock(mu_);
  bool any = false;
  for (uint32_t i = 0; i < chunks.size(); ++i) {
    const TraceChunk& tc = chunks[i];
    if (!tc.kept || tc.spans.empty()) {
      continue;
    }
    any = true;
    Chunk c;
    c.payload = payload;
    c.index = i;
    c.root = static_cast<uint32_t>(traces::rootSpanIndex(tc));
    c.trace_id = tc.spans[c.root].trace_id;
    c.start_ns = INT64_MAX;
    c.end_ns = INT64_MIN;
    for (const auto& s : tc.spans) {
      c.start_ns = std::min(c.start_ns, s.start);
      c.end_ns = std::max(c.end_ns, s.start + s.duration);
      c.errors += s.error != 0 ? 1 : 0;
    }
    c.seq = first_seq_ + chunks_.size();
    by_trace_[c.trace_id].push_back(c.seq);
    chunks_.push_back(std::move(c));
    ++added_;
  }
  if (!any) {
    return;
  }
  bytes_ += payload->bytes;
  payloads_.push_back(std::move(payload));
  evict();
}

void TraceStore::evict() {
  while (bytes_ > max_bytes_ && !payloads_.empty()) {
    const Payload* oldest = payloads_.front().get();
    // Its chunks are the oldest ones, at the front.
    while (!chunks_.empty() && chunks_.front().payload.get() == oldest) {
      auto it = by_trace_.find(chunks_.front().trace_id);
      if (it != by_trace_.end()) {
        auto& seqs = it->second;
        seqs.erase(std::remove(seqs.begin(), seqs.end(), first_seq_), seqs.end());
        if (seqs.empty()) {
          by_trace_.erase(it);
        }
      }
      chunks_.pop_front();
      ++first_seq_;
      ++evicted_;
    }
    bytes_ -= oldest->bytes;
    payloads_.pop_front();
  }
}

nlohmann::json TraceStore::search(const TraceSearch& q) const {
  struct Found {
    uint64_t trace_id = 0;
    int64_t start_ns = INT64_MAX;
    int64_t end_ns = INT64_MIN;
    size_t spans = 0;
    size_t errors = 0;
    bool matched = false;
    const Chunk* root_chunk = nullptr;  // the chunk holding the trace's root (parent 0)
    std::vector<const Chunk*> chunks;
  };
  std::shared_lock lock(mu_);
  std::unordered_map<uint64_t, Found> traces;
  for (const auto& c : chunks_) {
    Found& f = traces[c.trace_id];
    f.trace_id = c.trace_id;
    f.start_ns = std::min(f.start_ns, c.start_ns);
    f.end_ns = std::max(f.end_ns, c.end_ns);
    const TraceChunk& tc = chunkOf(c);
    f.spans += tc.spans.size();
    f.errors += c.errors;
    f.chunks.push_back(&c);
    if (f.root_chunk == nullptr || tc.spans[c.root].parent_id == 0) {
      f.root_chunk = &c;
    }
    if (!f.matched) {
      for (const auto& s : tc.spans) {
        if ((q.service.empty() || s.service == q.service) &&
            (q.operation.empty() || s.name == q.operation) &&
            (q.resource.empty() || s.resource.find(q.resource) != std::string_view::npos)) {
          f.matched = true;
          break;
        }
      }
    }
  }
  std::vector<const Found*> hits;
  for (const auto& [id, f] : traces) {
    if (!f.matched || (q.error_only && f.errors == 0) ||
        ms(f.end_ns - f.start_ns) < q.min_duration_ms ||
        (q.from_ms && f.start_ns / 1000000 < *q.from_ms) ||
        (q.to_ms && f.start_ns / 1000000 > *q.to_ms)) {
      continue;
    }
    hits.push_back(&f);
  }
  std::sort(hits.begin(), hits.end(), [&](const Found* a, const Found* b) {
    switch (q.sort) {
      case TraceSearch::Sort::kSlowest:
        return a->end_ns - a->start_ns != b->end_ns - b->start_ns
                   ? a->end_ns - a->start_ns > b->end_ns - b->start_ns
                   : a->trace_id < b->trace_id;
      case TraceSearch::Sort::kOldest:
        return a->start_ns != b->start_ns ? a->start_ns < b->start_ns : a->trace_id < b->trace_id;
      case TraceSearch::Sort::kNewest:
        break;
    }
    return a->start_ns != b->start_ns ? a->start_ns > b->start_ns : a->trace_id < b->trace_id;
  });
  nlohmann::json out = nlohmann::json::array();
  for (size_t i = q.offset; i < hits.size() && out.size() < q.limit; ++i) {
    const Found& f = *hits[i];
    const TraceChunk& rc = chunkOf(*f.root_chunk);
    const Span& root = rc.spans[f.root_chunk->root];
    std::set<std::string_view> services;
    const Span* first_error = nullptr;
    for (const Chunk* c : f.chunks) {
      for (const auto& s : chunkOf(*c).spans) {
        services.insert(s.service);
        if (s.error != 0 && (first_error == nullptr || s.start < first_error->start)) {
          first_error = &s;
        }
      }
    }
    nlohmann::json t = {
        {"trace_id", std::to_string(f.trace_id)},
        {"trace_id_hex", hex128(root, f.trace_id)},
        {"start", formatUtc(f.start_ns / 1000000)},
        {"start_ns", f.start_ns},
        {"duration_ms", ms(f.end_ns - f.start_ns)},
        {"service", root.service},
        {"name", root.name},
        {"resource", root.resource},
        {"type", root.type},
        {"spans", f.spans},
        {"errors", f.errors},
        {"services", services},
    };
    if (const auto* env = root.findMeta("env")) {
      t["env"] = *env;
    }
    if (const auto* code = root.findMeta("http.status_code")) {
      t["http_status_code"] = *code;
    }
    if (first_error != nullptr) {
      t["error"] = {{"service", first_error->service},
                    {"name", first_error->name},
                    {"resource", first_error->resource},
                    {"message", errorMessage(*first_error)}};
    }
    out.push_back(std::move(t));
  }
  const size_t next = q.offset + out.size();
  return {{"traces", std::move(out)},
          {"total", hits.size()},
          {"truncated", next < hits.size()},
          {"next_cursor", next < hits.size() ? std::to_string(next) : ""},
          {"stored_traces", traces.size()}};
}

std::optional<nlohmann::json> TraceStore::trace(std::string_view trace_id, size_t max_spans,
                                                bool include_meta) const {
  const auto id = parseTraceId(trace_id);
  if (!id) {
    return std::nullopt;
  }
  std::shared_lock lock(mu_);
  auto it = by_trace_.find(*id);
  if (it == by_trace_.end()) {
    return std::nullopt;
  }
  std::vector<const Span*> spans;
  const Span* root = nullptr;
  for (const uint64_t seq : it->second) {
    const Chunk& c = chunks_[seq - first_seq_];
    const TraceChunk& tc = chunkOf(c);
    for (const auto& s : tc.spans) {
      spans.push_back(&s);
    }
    if (root == nullptr || tc.spans[c.root].parent_id == 0) {
      root = &tc.spans[c.root];
    }
  }
  std::stable_sort(spans.begin(), spans.end(),
                   [](const Span* a, const Span* b) { return a->start < b->start; });
  std::unordered_map<uint64_t, const Span*> by_id;
  int64_t start = INT64_MAX, end = INT64_MIN;
  size_t errors = 0;
  for (const Span* s : spans) {
    by_id.emplace(s->span_id, s);
    start = std::min(start, s->start);
    end = std::max(end, s->start + s->duration);
    errors += s->error != 0 ? 1 : 0;
  }
  auto depth = [&](const Span* s) {
    size_t d = 0;
    std::unordered_set<uint64_t> seen;  // a parent cycle in bad input must not loop
    while (s->parent_id != 0 && d < 1000) {
      auto p = by_id.find(s->parent_id);
      if (p == by_id.end() || !seen.insert(s->span_id).second) {
        break;
      }
      s = p->second;
      ++d;
    }
    return d;
  };
  nlohmann::json list = nlohmann::json::array();
  for (const Span* s : spans) {
    if (list.size() == max_spans) {
      break;
    }
    nlohmann::json j = {{"span_id", std::to_string(s->span_id)},
                        {"parent_id", std::to_string(s->parent_id)},
                        {"depth", depth(s)},
                        {"service", s->service},
                        {"name", s->name},
                        {"resource", s->resource},
                        {"type", s->type},
                        {"start", formatUtc(s->start / 1000000)},
                        {"start_offset_ms", ms(s->start - start)},
                        {"duration_ms", ms(s->duration)},
                        {"error", s->error}};
    if (include_meta) {
      nlohmann::json meta = nlohmann::json::object();
      for (const auto& [k, v] : s->meta) {
        meta[std::string(k)] = v;
      }
      nlohmann::json metrics = nlohmann::json::object();
      for (const auto& [k, v] : s->metrics) {
        metrics[std::string(k)] = v;
      }
      j["meta"] = std::move(meta);
      j["metrics"] = std::move(metrics);
    }
    list.push_back(std::move(j));
  }
  return nlohmann::json{{"trace_id", std::to_string(*id)},
                        {"trace_id_hex", hex128(*root, *id)},
                        {"start", formatUtc(start / 1000000)},
                        {"duration_ms", ms(end - start)},
                        {"service", root->service},
                        {"name", root->name},
                        {"resource", root->resource},
                        {"span_count", spans.size()},
                        {"errors", errors},
                        {"truncated", spans.size() > list.size()},
                        {"spans", std::move(list)}};
}

nlohmann::json TraceStore::statusJson() const {
  std::shared_lock lock(mu_);
  return {{"chunks", chunks_.size()},  {"traces", by_trace_.size()}, {"payloads", payloads_.size()},
          {"bytes", bytes_},           {"max_bytes", max_bytes_},    {"chunks_added", added_},
          {"chunks_evicted", evicted_}};
}

}  // namespace outpost::query
