#include "collector/query/search_store.h"

#include <fmt/format.h>

#include <algorithm>
#include <random>

namespace outpost::query {

ResultStore::ResultStore(size_t max_bytes, std::chrono::milliseconds ttl)
    : max_bytes_(max_bytes), ttl_(ttl), id_salt_(std::random_device{}()) {
  id_salt_ = (id_salt_ << 32) ^ std::random_device{}();
}

void ResultStore::expire(SteadyTime now) {
  // Entries expire in the order they were put (one TTL for all).
  while (!order_.empty()) {
    auto it = entries_.find(order_.front());
    if (it != entries_.end() && it->second.expires > now) {
      break;
    }
    if (it != entries_.end()) {
      bytes_ -= it->second.bytes;
      entries_.erase(it);
    }
    order_.pop_front();
  }
}

void ResultStore::evictOldest() {
  auto it = entries_.find(order_.front());
  if (it != entries_.end()) {
    bytes_ -= it->second.bytes;
    entries_.erase(it);
    ++evicted_;
  }
  order_.pop_front();
}

std::string ResultStore::put(nlohmann::json results, size_t bytes, std::string search_cursor,
                             SteadyTime now) {
  expire(now);
  if (bytes > max_bytes_ || ttl_.count() <= 0) {
    return {};
  }
  while (bytes_ + bytes > max_bytes_ && !order_.empty()) {
    evictOldest();
  }
  // Not guessable from the previous one: a result id is only known to whoever searched.
  const uint64_t n = ++next_id_;
  std::string id = fmt::format("r{:016x}", (n * 0x9e3779b97f4a7c15ULL) ^ id_salt_);
  entries_[id] = Entry{std::move(results), bytes, std::move(search_cursor), now + ttl_};
  order_.push_back(id);
  bytes_ += bytes;
  return id;
}

std::optional<ResultStore::Page> ResultStore::get(const std::string& id, size_t from, size_t limit,
                                                  SteadyTime now) {
  expire(now);
  auto it = entries_.find(id);
  if (it == entries_.end()) {
    return std::nullopt;
  }
  const nlohmann::json& all = it->second.results;
  Page page;
  page.total = all.size();
  page.results = nlohmann::json::array();
  const size_t begin = std::min(from, all.size());
  const size_t end = std::min(all.size(), begin + limit);
  for (size_t i = begin; i < end; ++i) {
    page.results.push_back(all[i]);
  }
  page.next = end;
  page.search_cursor = it->second.search_cursor;
  return page;
}

SearchCache::SearchCache(size_t max_bytes, std::chrono::milliseconds ttl)
    : max_bytes_(max_bytes), ttl_(ttl) {}

void SearchCache::expire(SteadyTime now) {
  while (!order_.empty() && (order_.front().first <= now || bytes_ > max_bytes_)) {
    auto it = entries_.find(order_.front().second);
    // A key put again has a later expiry: only the entry this record stands for goes.
    if (it != entries_.end() && it->second.expires == order_.front().first) {
      bytes_ -= it->second.bytes;
      entries_.erase(it);
    }
    order_.pop_front();
  }
}

std::optional<nlohmann::json> SearchCache::get(const std::string& key, SteadyTime now,
                                               double* age_ms) {
  if (!enabled()) {
    return std::nullopt;
  }
  expire(now);
  auto it = entries_.find(key);
  if (it == entries_.end()) {
    return std::nullopt;
  }
  ++hits_;
  if (age_ms != nullptr) {
    *age_ms = std::chrono::duration<double, std::milli>(now - (it->second.expires - ttl_)).count();
  }
  return it->second.answer;
}

void SearchCache::put(const std::string& key, nlohmann::json answer, size_t bytes, SteadyTime now) {
  if (!enabled() || bytes > max_bytes_ / 4) {
    return;
  }
  auto it = entries_.find(key);
  if (it != entries_.end()) {
    bytes_ -= it->second.bytes;
    entries_.erase(it);
  }
  const SteadyTime expires = now + ttl_;
  entries_[key] = Entry{std::move(answer), bytes, expires};
  order_.emplace_back(expires, key);
  bytes_ += bytes;
  expire(now);  // over the budget: the oldest go
}

}  // namespace outpost::query
