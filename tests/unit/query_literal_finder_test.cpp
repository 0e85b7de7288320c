#include <gtest/gtest.h>

#include <random>
#include <string>
#include <string_view>

#include "collector/query/literal_finder.h"

namespace outpost::query {
namespace {

// Every occurrence, in order, as std::string_view::find finds them.
std::vector<size_t> reference(std::string_view text, std::string_view needle, size_t from) {
  std::vector<size_t> out;
  for (size_t at = text.find(needle, from); at != std::string_view::npos;
       at = text.find(needle, at + 1)) {
    out.push_back(at);
  }
  return out;
}

std::vector<size_t> ours(const LiteralFinder& f, std::string_view text, size_t from) {
  std::vector<size_t> out;
  for (size_t at = f.find(text.data(), text.size(), from); at < text.size();
       at = f.find(text.data(), text.size(), at + 1)) {
    out.push_back(at);
  }
  return out;
}

TEST(LiteralFinderTest, FindsWhatStringFindFinds) {
  std::mt19937 rng(7);
  // A small alphabet so that pairs of bytes agree often and whole matches are frequent.
  const std::string alphabet = "abE R\n";
  for (int round = 0; round < 3000; ++round) {
    std::string text(rng() % 300, ' ');
    for (auto& c : text) {
      c = alphabet[rng() % alphabet.size()];
    }
    std::string needle(1 + rng() % 6, ' ');
    for (auto& c : needle) {
      c = alphabet[rng() % alphabet.size()];
    }
    const size_t from = text.empty() ? 0 : rng() % (text.size() + 1);
    for (bool avx2 : {true, false}) {
      const LiteralFinder f(needle, avx2);
      ASSERT_EQ(ours(f, text, from), reference(text, needle, from))
          << "needle '" << needle << "' from " << from << " in '" << text << "' avx2 " << avx2;
    }
  }
}

TEST(LiteralFinderTest, EdgesOfTheText) {
  const std::string needle = "ERROR upstream";
  for (bool avx2 : {true, false}) {
    const LiteralFinder f(needle, avx2);
    for (size_t size = needle.size(); size < 200; ++size) {
      std::string text(size, 'x');
      // At the very start and the very end: both found, whatever the vector width.
      text.replace(0, needle.size(), needle);
      text.replace(size - needle.size(), needle.size(), needle);
      const auto want = reference(text, needle, 0);
      ASSERT_EQ(ours(f, text, 0), want) << size;
      // One byte shorter: the last one is cut, and not found past the end.
      const std::string_view cut(text.data(), size - 1);
      const auto in_cut = reference(cut, needle, 1);
      EXPECT_EQ(f.find(cut.data(), cut.size(), 1), in_cut.empty() ? cut.size() : in_cut[0]) << size;
    }
  }
  const LiteralFinder f(needle);
  EXPECT_EQ(f.find("short", 5, 0), 5u);
  EXPECT_EQ(f.find("", 0, 0), 0u);
  const LiteralFinder one("x");
  EXPECT_EQ(one.find("abcx", 4, 0), 3u);
  EXPECT_EQ(one.find("abcx", 4, 4), 4u);
  const LiteralFinder empty("");
  EXPECT_EQ(empty.find("abc", 3, 1), 1u);
  // Bytes above 0x7f and NULs are bytes like any other.
  const std::string bin("\x00\xff\xfe\x00\xff\xfe\x01", 7);
  const LiteralFinder b(std::string("\xfe\x00\xff", 3));
  EXPECT_EQ(b.find(bin.data(), bin.size(), 0), 2u);
  EXPECT_EQ(b.find(bin.data(), bin.size(), 3), 7u);
}

TEST(LiteralFinderTest, LongTextWithRareAndCommonNeedles) {
  std::string text;
  for (int i = 0; i < 20000; ++i) {
    text += "2026-11-22T10:00:00Z web-1 app[42]: request " + std::to_string(i) +
            (i % 97 == 0 ? " disk quota exceeded" : " ok") + "\n";
  }
  for (const char* needle : {"disk quota exceeded", "request 1999", "ok\n2026", "app[42]", "Z w",
                             "not there at all", "\n"}) {
    for (bool avx2 : {true, false}) {
      const LiteralFinder f(needle, avx2);
      ASSERT_EQ(ours(f, text, 0), reference(text, needle, 0)) << needle << " avx2 " << avx2;
    }
  }
}

}  // namespace
}  // namespace outpost::query
