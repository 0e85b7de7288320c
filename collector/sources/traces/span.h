#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <memory_resource>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

// The trace model every part of the APM pipeline shares (wire-formats.md §4.5–§4.7, §5.3–§5.4):
// decoders fill it, the normalizer, samplers and stats read and adjust it, the AgentPayload
// encoder writes it. Strings are views: into the request body the decoder read (kept alive by
// the DecodedPayload that owns it) or into that payload's Arena (strings a decoder repaired or
// the normalizer rewrote). Nothing here allocates per string unless a string had to change.
namespace outpost::traces {

using Str = std::string_view;

// Allocates a decoded payload's vectors (spans, meta, metrics) from the payload's own memory, a
// bump allocator released all at once with the payload, instead of one malloc and one free each
// (a request of 50 spans made ~150 of them, most past glibc's per-size cache of 7). Without a
// resource it allocates from the heap, as std::allocator does. A copy of a vector goes to the
// heap; a move keeps the payload's memory, so nothing moved out of a payload may outlive it.
template <typename T>
class PayloadAllocator {
 public:
  using value_type = T;
  using propagate_on_container_move_assignment = std::true_type;
  using propagate_on_container_swap = std::true_type;

  PayloadAllocator() = default;
  explicit PayloadAllocator(std::pmr::memory_resource* resource) : resource_(resource) {}
  template <typename U>
  PayloadAllocator(const PayloadAllocator<U>& other) : resource_(other.resource()) {}

  T* allocate(size_t n) {
    if (resource_ == nullptr) {
      return std::allocator<T>().allocate(n);
    }
    return static_cast<T*>(resource_->allocate(n * sizeof(T), alignof(T)));
  }
  void deallocate(T* p, size_t n) {
    if (resource_ == nullptr) {
      std::allocator<T>().deallocate(p, n);
    } else {
      resource_->deallocate(p, n * sizeof(T), alignof(T));
    }
  }
  PayloadAllocator select_on_container_copy_construction() const { return {}; }
  std::pmr::memory_resource* resource() const { return resource_; }
  template <typename U>
  bool operator==(const PayloadAllocator<U>& other) const {
    return resource_ == other.resource();
  }

 private:
  std::pmr::memory_resource* resource_ = nullptr;
};

template <typename T>
using PayloadVector = std::vector<T, PayloadAllocator<T>>;
using StrPairs = PayloadVector<std::pair<Str, Str>>;
using StrDoubles = PayloadVector<std::pair<Str, double>>;

// Owns strings made while decoding or normalizing one payload; views into it stay valid for
// the arena's life (std::deque never moves its elements).
class Arena {
 public:
  Str keep(std::string s) {
    strings_.push_back(std::move(s));
    return strings_.back();
  }
  Str copy(std::string_view s) { return keep(std::string(s)); }
  size_t size() const { return strings_.size(); }

 private:
  std::deque<std::string> strings_;
};

struct SpanLink {
  uint64_t trace_id = 0;
  uint64_t trace_id_high = 0;
  uint64_t span_id = 0;
  StrPairs attributes;
  Str tracestate;
  uint32_t flags = 0;
};

// A span event attribute value (§4.5 span_events, §5.4 AttributeAnyValue).
struct AttributeValue {
  enum Type : int32_t { kString = 0, kBool = 1, kInt = 2, kDouble = 3, kArray = 4 };
  Type type = kString;
  Str string_value;
  bool bool_value = false;
  int64_t int_value = 0;
  double double_value = 0;
  std::vector<AttributeValue> array_value;  // kArray only; its elements are never arrays
};

struct SpanEvent {
  uint64_t time_unix_nano = 0;
  Str name;
  std::vector<std::pair<Str, AttributeValue>> attributes;
};

struct Span {
  Str service;
  Str name;
  Str resource;
  Str type;
  uint64_t trace_id = 0;  // low 64 bits; the high ones are meta "_dd.p.tid" (16 hex chars)
  uint64_t span_id = 0;
  uint64_t parent_id = 0;  // 0: a root span
  int64_t start = 0;       // ns since the epoch
  int64_t duration = 0;    // ns
  int32_t error = 0;
  StrPairs meta;         // in arrival order; keys unique
  StrDoubles metrics;    // in arrival order; keys unique
  StrPairs meta_struct;  // value: raw msgpack bytes
  std::vector<SpanLink> span_links;
  std::vector<SpanEvent> span_events;

  // The value of a meta key / metric, or nullptr.
  const Str* findMeta(Str key) const {
    for (const auto& kv : meta) {
      if (kv.first == key) {
        return &kv.second;
      }
    }
    return nullptr;
  }
  const double* findMetric(Str key) const {
    for (const auto& kv : metrics) {
      if (kv.first == key) {
        return &kv.second;
      }
    }
    return nullptr;
  }
  // Sets (or replaces) a meta value / metric.
  void setMeta(Str key, Str value) {
    for (auto& kv : meta) {
      if (kv.first == key) {
        kv.second = value;
        return;
      }
    }
    meta.emplace_back(key, value);
  }
  void setMetric(Str key, double value) {
    for (auto& kv : metrics) {
      if (kv.first == key) {
        kv.second = value;
        return;
      }
    }
    metrics.emplace_back(key, value);
  }
  void eraseMeta(Str key) {
    for (auto it = meta.begin(); it != meta.end(); ++it) {
      if (it->first == key) {
        meta.erase(it);
        return;
      }
    }
  }
};

// Chunk priority when no sampling priority is known (§5.3).
inline constexpr int32_t kPriorityNone = -128;

// The spans of one trace from one tracer payload (§5.3 TraceChunk).
struct TraceChunk {
  int32_t priority = kPriorityNone;
  Str origin;
  PayloadVector<Span> spans;
  StrPairs tags;
  bool dropped_trace = false;
  bool kept = false;  // set by TracePipeline::process: sampled in and sent
};

// What one request carried (§4.7 for v0.7; for v0.3–v0.5 the header fields come from the
// request's Datadog-Meta-* / Datadog-Container-ID headers).
struct TracerPayload {
  Str container_id;
  Str language_name;
  Str language_version;
  Str tracer_version;
  Str runtime_id;
  Str env;
  Str hostname;
  Str app_version;
  PayloadVector<TraceChunk> chunks;
  StrPairs tags;
};

// What a payload's bump allocator took from the heap: its real footprint, for budgets.
class CountingResource : public std::pmr::memory_resource {
 public:
  size_t bytes() const { return bytes_; }

 private:
  void* do_allocate(size_t n, size_t align) override {
    bytes_ += n;
    return std::pmr::new_delete_resource()->allocate(n, align);
  }
  void do_deallocate(void* p, size_t n, size_t align) override {
    bytes_ -= n;
    std::pmr::new_delete_resource()->deallocate(p, n, align);
  }
  bool do_is_equal(const std::pmr::memory_resource& other) const noexcept override {
    return this == &other;
  }

  size_t bytes_ = 0;
};

// A decoded request: the body its views point into, the arena for the rest, and the payload.
// Decoders get one whose `body` is already set and fill `payload`; after that it must not be
// moved or copied (a short body lives inside the std::string object itself), so it travels as
// std::unique_ptr<DecodedPayload>.
struct DecodedPayload {
  DecodedPayload() = default;
  DecodedPayload(const DecodedPayload&) = delete;
  DecodedPayload& operator=(const DecodedPayload&) = delete;

  // An empty vector of `payload` set to allocate from `memory` (before its first element).
  template <typename T>
  void useMemory(PayloadVector<T>& v) {
    if (v.empty()) {
      v = PayloadVector<T>(PayloadAllocator<T>(&memory));
    }
  }

  // Bytes of the heap that `memory` holds.
  size_t memoryBytes() const { return heap.bytes(); }

  std::string body;
  Arena arena;
  CountingResource heap;
  std::pmr::monotonic_buffer_resource memory{&heap};  // before `payload`, whose vectors use it
  TracerPayload payload;
};

}  // namespace outpost::traces
