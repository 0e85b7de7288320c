#pragma once

#include <cstdint>
#include <cstring>
#include <string_view>
#include <utility>
#include <vector>

#include "collector/aggregator/flat_index.h"
#include "core/hash.h"

namespace outpost::aggregator {

// Reference-counted byte strings stored once: intern() returns the id of an equal string
// (taking a reference) or stores a copy; release() drops a reference and frees the string with
// the last one. Ids are reused. 16 bytes a string plus its bytes (one allocation) plus its
// index slot (8 bytes, at most 3/4 full). Single-threaded.
class StringInterner {
 public:
  using Id = uint32_t;

  StringInterner() = default;
  StringInterner(const StringInterner&) = delete;
  StringInterner& operator=(const StringInterner&) = delete;
  ~StringInterner() {
    for (Entry& e : entries_) {
      delete[] e.data;
    }
  }

  Id intern(std::string_view s) {
    const uint32_t hash = hashOf(s);
    const Id found = index_.find(hash, [&](uint32_t id) { return view(id) == s; });
    if (found != FlatIndex::kNotFound) {
      ++entries_[found].refs;
      return found;
    }
    Id id;
    if (!free_.empty()) {
      id = free_.back();
      free_.pop_back();
    } else {
      id = static_cast<Id>(entries_.size());
      entries_.emplace_back();
    }
    Entry& e = entries_[id];
    e.data = s.empty() ? nullptr : new char[s.size()];
    if (!s.empty()) {
      std::memcpy(e.data, s.data(), s.size());
    }
    e.size = static_cast<uint32_t>(s.size());
    e.refs = 1;
    index_.insert(hash, id);
    bytes_ += s.size();
    return id;
  }

  void ref(Id id) { ++entries_[id].refs; }

  void release(Id id) {
    Entry& e = entries_[id];
    if (--e.refs > 0) {
      return;
    }
    index_.erase(hashOf(view(id)), id);
    bytes_ -= e.size;
    delete[] e.data;
    e = Entry{};
    free_.push_back(id);
  }

  std::string_view view(Id id) const {
    const Entry& e = entries_[id];
    return {e.data, e.size};
  }

  // Gives back the records of freed strings at the end of the table (after mass expiry).
  void trim() {
    size_t n = entries_.size();
    while (n > 0 && entries_[n - 1].refs == 0) {
      --n;
    }
    if (n == entries_.size()) {
      return;
    }
    entries_.resize(n);
    std::erase_if(free_, [n](Id id) { return id >= n; });
    if (entries_.capacity() > 256 && n < entries_.capacity() / 4) {
      entries_.shrink_to_fit();
      free_.shrink_to_fit();
    }
  }

  size_t size() const { return index_.size(); }
  // Bytes held: the strings, their records and the index (allocator overhead not counted).
  size_t bytes() const {
    return bytes_ + entries_.capacity() * sizeof(Entry) + free_.capacity() * sizeof(Id) +
           index_.bytes();
  }

 private:
  struct Entry {
    char* data = nullptr;
    uint32_t size = 0;
    uint32_t refs = 0;
  };
  static uint32_t hashOf(std::string_view s) { return static_cast<uint32_t>(hashBytes128(s).lo); }

  std::vector<Entry> entries_;
  std::vector<Id> free_;
  FlatIndex index_;
  size_t bytes_ = 0;
};

}  // namespace outpost::aggregator
