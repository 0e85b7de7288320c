#pragma once

#include <cstddef>
#include <string>

// Finds a literal byte string in text faster than glibc's memmem (a generic two-way/shift-table
// search, about 1-2 GB/s): two bytes of the needle, chosen as the least common in log text, are
// compared at once against 32 (AVX2) or 16 (SSE2) positions of the text, and only where both
// agree is the whole needle compared. The idea is the "packed pair" prefilter of ripgrep's
// memchr crate; the code is ours.
namespace outpost::query {

class LiteralFinder {
 public:
  // `avx2`: use AVX2 when the CPU has it (false: SSE2 only, for tests of that path).
  explicit LiteralFinder(std::string needle, bool avx2 = true);

  // First occurrence at or after `from` in text[0, n); n when none.
  size_t find(const char* text, size_t n, size_t from) const;
  const std::string& needle() const { return needle_; }

 private:
  std::string needle_;
  size_t i1_ = 0;  // the two positions compared first (i1_ < i2_ unless the needle is 1 byte)
  size_t i2_ = 0;
  bool avx2_ = false;
};

}  // namespace outpost::query
