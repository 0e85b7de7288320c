#include <gtest/gtest.h>

#include <fmt/format.h>

#include "collector/query/search_store.h"

namespace outpost::query {
namespace {

using namespace std::chrono_literals;

nlohmann::json results(int from, int n) {
  nlohmann::json a = nlohmann::json::array();
  for (int i = from; i < from + n; ++i) {
    a.push_back({{"line", "line " + std::to_string(i)}});
  }
  return a;
}

TEST(ResultStoreTest, PagesThroughKeptResults) {
  ResultStore store(1 << 20, 60s);
  const auto t0 = std::chrono::steady_clock::now();
  const std::string id = store.put(results(0, 25), 500, "c1.search", t0);
  ASSERT_FALSE(id.empty());
  std::vector<std::string> seen;
  size_t from = 0;
  for (int pages = 0; pages < 10; ++pages) {
    auto page = store.get(id, from, 10, t0 + 1s);
    ASSERT_TRUE(page.has_value());
    EXPECT_EQ(page->total, 25u);
    EXPECT_EQ(page->search_cursor, "c1.search");
    for (const auto& r : page->results) {
      seen.push_back(r["line"]);
    }
    from = page->next;
    if (from == page->total) {
      break;
    }
  }
  ASSERT_EQ(seen.size(), 25u);
  EXPECT_EQ(seen.front(), "line 0");
  EXPECT_EQ(seen.back(), "line 24");
  // Past the end: an empty page.
  EXPECT_TRUE(store.get(id, 100, 10, t0 + 1s)->results.empty());
  EXPECT_FALSE(store.get("r-unknown", 0, 10, t0).has_value());
  EXPECT_EQ(store.entries(), 1u);
  EXPECT_EQ(store.bytes(), 500u);
}

TEST(ResultStoreTest, ExpiresAndEvictsOldestFirst) {
  ResultStore store(1000, 60s);
  const auto t0 = std::chrono::steady_clock::now();
  const std::string a = store.put(results(0, 1), 400, "", t0);
  const std::string b = store.put(results(1, 1), 400, "", t0 + 1s);
  EXPECT_NE(a, b);
  // A third does not fit beside both: the oldest goes.
  const std::string c = store.put(results(2, 1), 400, "", t0 + 2s);
  EXPECT_FALSE(store.get(a, 0, 1, t0 + 2s).has_value());
  EXPECT_TRUE(store.get(b, 0, 1, t0 + 2s).has_value());
  EXPECT_TRUE(store.get(c, 0, 1, t0 + 2s).has_value());
  EXPECT_EQ(store.evicted(), 1u);
  EXPECT_EQ(store.bytes(), 800u);
  // More than the whole budget is not kept.
  EXPECT_TRUE(store.put(results(3, 1), 1001, "", t0 + 2s).empty());
  // After the TTL nothing is readable and the bytes are back.
  EXPECT_FALSE(store.get(b, 0, 1, t0 + 61s).has_value());
  EXPECT_TRUE(store.get(c, 0, 1, t0 + 61s).has_value());
  EXPECT_FALSE(store.get(c, 0, 1, t0 + 63s).has_value());
  EXPECT_EQ(store.bytes(), 0u);
  EXPECT_EQ(store.entries(), 0u);
}

TEST(SearchCacheTest, SameKeyWithinTtl) {
  SearchCache cache(1 << 20, 10s);
  const auto t0 = std::chrono::steady_clock::now();
  EXPECT_FALSE(cache.get("k", t0).has_value());
  cache.put("k", {{"results", results(0, 2)}}, 100, t0);
  auto hit = cache.get("k", t0 + 9s);
  ASSERT_TRUE(hit.has_value());
  EXPECT_EQ((*hit)["results"][1]["line"], "line 1");
  EXPECT_FALSE(cache.get("other", t0 + 1s).has_value());
  EXPECT_FALSE(cache.get("k", t0 + 10s).has_value());
  EXPECT_EQ(cache.hits(), 1u);
  EXPECT_EQ(cache.bytes(), 0u);
  // Put again: the new answer, one entry.
  cache.put("k", {{"n", 1}}, 100, t0 + 20s);
  cache.put("k", {{"n", 2}}, 100, t0 + 21s);
  EXPECT_EQ((*cache.get("k", t0 + 22s))["n"], 2);
  EXPECT_EQ(cache.entries(), 1u);
  EXPECT_EQ(cache.bytes(), 100u);
  // The first put's expiry does not take the second's entry.
  EXPECT_TRUE(cache.get("k", t0 + 30500ms).has_value());
}

TEST(SearchCacheTest, BoundedInBytesAndOff) {
  SearchCache cache(1000, 10s);
  const auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < 10; ++i) {
    cache.put(fmt::format("k{}", i), {{"i", i}}, 200, t0 + std::chrono::milliseconds(i));
  }
  EXPECT_LE(cache.bytes(), 1000u);
  EXPECT_EQ(cache.entries(), 5u);
  EXPECT_FALSE(cache.get("k0", t0 + 1s).has_value());
  EXPECT_TRUE(cache.get("k9", t0 + 1s).has_value());
  cache.put("big", {{"i", 0}}, 251, t0);  // over a quarter of the budget: not kept
  EXPECT_FALSE(cache.get("big", t0).has_value());
  SearchCache off(1000, 0s);
  EXPECT_FALSE(off.enabled());
  off.put("k", {{"i", 0}}, 10, t0);
  EXPECT_FALSE(off.get("k", t0).has_value());
}

}  // namespace
}  // namespace outpost::query
