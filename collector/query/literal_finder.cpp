#include "collector/query/literal_finder.h"

#include <immintrin.h>

#include <cstring>

namespace outpost::query {
namespace {

// How common a byte is in log text, roughly (higher: more common). Lower-case letters, digits,
// space and the usual separators are everywhere; upper case and rare punctuation are not.
int commonness(unsigned char c) {
  if (c == ' ' || c == 'e' || c == 't' || c == 'a' || c == 'o' || c == 'i' || c == 'n' ||
      c == 's' || c == 'r') {
    return 10;
  }
  if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')) {
    return 8;
  }
  if (c == '.' || c == ':' || c == '/' || c == '-' || c == '=' || c == '_' || c == ',' ||
      c == '\n') {
    return 7;
  }
  if (c >= 'A' && c <= 'Z') {
    return 4;
  }
  return 2;
}

bool haveAvx2() {
  static const bool have = __builtin_cpu_supports("avx2");
  return have;
}

__attribute__((target("avx2"))) size_t findAvx2(const char* text, size_t n, size_t from,
                                                const std::string& needle, size_t i1, size_t i2) {
  const size_t len = needle.size();
  const __m256i b1 = _mm256_set1_epi8(needle[i1]);
  const __m256i b2 = _mm256_set1_epi8(needle[i2]);
  size_t pos = from;
  // Loads at pos+i1 and pos+i2 of 32 bytes each stay inside text while pos + len + 31 <= n.
  while (pos + len + 31 <= n) {
    const __m256i v1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(text + pos + i1));
    const __m256i v2 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(text + pos + i2));
    auto mask = static_cast<uint32_t>(_mm256_movemask_epi8(
        _mm256_and_si256(_mm256_cmpeq_epi8(v1, b1), _mm256_cmpeq_epi8(v2, b2))));
    while (mask != 0) {
      const size_t at = pos + static_cast<size_t>(__builtin_ctz(mask));
      if (std::memcmp(text + at, needle.data(), len) == 0) {
        return at;
      }
      mask &= mask - 1;
    }
    pos += 32;
  }
  return pos;  // the rest is for the caller
}

size_t findSse2(const char* text, size_t n, size_t from, const std::string& needle, size_t i1,
                size_t i2) {
  const size_t len = needle.size();
  const __m128i b1 = _mm_set1_epi8(needle[i1]);
  const __m128i b2 = _mm_set1_epi8(needle[i2]);
  size_t pos = from;
  while (pos + len + 15 <= n) {
    const __m128i v1 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(text + pos + i1));
    const __m128i v2 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(text + pos + i2));
    auto mask = static_cast<uint32_t>(
        _mm_movemask_epi8(_mm_and_si128(_mm_cmpeq_epi8(v1, b1), _mm_cmpeq_epi8(v2, b2))));
    while (mask != 0) {
      const size_t at = pos + static_cast<size_t>(__builtin_ctz(mask));
      if (std::memcmp(text + at, needle.data(), len) == 0) {
        return at;
      }
      mask &= mask - 1;
    }
    pos += 16;
  }
  return pos;
}

}  // namespace

LiteralFinder::LiteralFinder(std::string needle, bool avx2)
    : needle_(std::move(needle)), avx2_(avx2 && haveAvx2()) {
  if (needle_.size() < 2) {
    return;
  }
  // The least common byte, then the least common other one; ties: the later position (the end
  // of a word varies more than its start).
  auto rarest = [&](size_t skip) {
    size_t best = skip == 0 ? 1 : 0;
    for (size_t i = 0; i < needle_.size(); ++i) {
      if (i != skip && commonness(static_cast<unsigned char>(needle_[i])) <=
                           commonness(static_cast<unsigned char>(needle_[best]))) {
        best = i;
      }
    }
    return best;
  };
  const size_t a = rarest(SIZE_MAX);
  const size_t b = rarest(a);
  i1_ = std::min(a, b);
  i2_ = std::max(a, b);
}

size_t LiteralFinder::find(const char* text, size_t n, size_t from) const {
  const size_t len = needle_.size();
  if (from > n || len > n - from) {
    return n;
  }
  if (len == 0) {
    return from;
  }
  if (len == 1) {
    const void* p = std::memchr(text + from, needle_[0], n - from);
    return p == nullptr ? n : static_cast<size_t>(static_cast<const char*>(p) - text);
  }
  // The vector loop stops at a match or where too little text is left for a whole vector:
  // every start before `pos` is ruled out either way.
  const size_t pos = avx2_ ? findAvx2(text, n, from, needle_, i1_, i2_)
                           : findSse2(text, n, from, needle_, i1_, i2_);
  if (pos + len > n) {
    return n;
  }
  if (std::memcmp(text + pos, needle_.data(), len) == 0) {
    return pos;
  }
  const void* p = ::memmem(text + pos, n - pos, needle_.data(), len);
  return p == nullptr ? n : static_cast<size_t>(static_cast<const char*>(p) - text);
}

}  // namespace outpost::query
