#pragma once

#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <string>

// What /v1/logs/search keeps between requests, on the loop's thread (no locking):
//  - ResultStore: the results a search found beyond its answer's `limit`, read page by page at
//    /v1/logs/results/{id} until they expire (TTL) or newer ones need the room (byte budget,
//    oldest out first).
//  - SearchCache: whole answers of recent searches by their request body, so the same
//    question asked again within the TTL (an agent retrying, a dashboard refreshing) costs no
//    scan. Bounded in bytes, oldest out first.
namespace outpost::query {

using SteadyTime = std::chrono::steady_clock::time_point;

class ResultStore {
 public:
  ResultStore(size_t max_bytes, std::chrono::milliseconds ttl);

  // Keeps `results` (a JSON array of result objects, `bytes` their encoded size) and, when the
  // search had more than these, the search cursor that goes on after them. Returns the id, or
  // "" when they do not fit the budget at all.
  std::string put(nlohmann::json results, size_t bytes, std::string search_cursor, SteadyTime now);

  struct Page {
    nlohmann::json results;  // array
    size_t next = 0;         // index after this page
    size_t total = 0;        // results kept under this id
    std::string search_cursor;
  };
  // Results [from, from + limit) of `id`; nullopt when unknown or expired.
  std::optional<Page> get(const std::string& id, size_t from, size_t limit, SteadyTime now);

  size_t bytes() const { return bytes_; }
  size_t entries() const { return entries_.size(); }
  size_t maxBytes() const { return max_bytes_; }
  uint64_t evicted() const { return evicted_; }

 private:
  struct Entry {
    nlohmann::json results;
    size_t bytes = 0;
    std::string search_cursor;
    SteadyTime expires;
  };
  void expire(SteadyTime now);
  void evictOldest();

  size_t max_bytes_;
  std::chrono::milliseconds ttl_;
  std::map<std::string, Entry> entries_;
  std::deque<std::string> order_;  // ids, oldest first (all expire in this order too)
  size_t bytes_ = 0;
  uint64_t evicted_ = 0;
  uint64_t next_id_ = 0;
  uint64_t id_salt_ = 0;
};

class SearchCache {
 public:
  SearchCache(size_t max_bytes, std::chrono::milliseconds ttl);

  bool enabled() const { return ttl_.count() > 0 && max_bytes_ > 0; }
  // The answer kept for `key`, and (when age_ms) how old it is.
  std::optional<nlohmann::json> get(const std::string& key, SteadyTime now,
                                    double* age_ms = nullptr);
  // `bytes`: the answer's encoded size. Answers larger than a quarter of the budget are not
  // kept (they would push out everything else).
  void put(const std::string& key, nlohmann::json answer, size_t bytes, SteadyTime now);

  size_t bytes() const { return bytes_; }
  size_t entries() const { return entries_.size(); }
  uint64_t hits() const { return hits_; }

 private:
  struct Entry {
    nlohmann::json answer;
    size_t bytes = 0;
    SteadyTime expires;
  };
  void expire(SteadyTime now);

  size_t max_bytes_;
  std::chrono::milliseconds ttl_;
  std::map<std::string, Entry> entries_;
  std::deque<std::pair<SteadyTime, std::string>> order_;  // (expiry, key), oldest first
  size_t bytes_ = 0;
  uint64_t hits_ = 0;
};

}  // namespace outpost::query
