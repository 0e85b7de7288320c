#pragma once

#include <cstdint>
#include <cstring>
#include <string_view>

namespace outpost {

// Fast 64-bit hashing over 8-byte words (wyhash-like multiply-xor folding), two independent
// lanes at once so callers can build 128-bit keys in one pass.
struct Hash128 {
  uint64_t hi = 0;
  uint64_t lo = 0;
  bool operator==(const Hash128&) const = default;
};

inline uint64_t foldMultiply(uint64_t a, uint64_t b) {
  const __uint128_t r = static_cast<__uint128_t>(a) * b;
  return static_cast<uint64_t>(r) ^ static_cast<uint64_t>(r >> 64);
}

inline Hash128 hashBytes128(std::string_view s) {
  constexpr uint64_t kP0 = 0xa0761d6478bd642full;
  constexpr uint64_t kP1 = 0xe7037ed1a0b428dbull;
  constexpr uint64_t kP2 = 0x8ebc6af09c88c6e3ull;
  constexpr uint64_t kP3 = 0x589965cc75374cc3ull;
  uint64_t a = 0x9e3779b97f4a7c15ull ^ (s.size() * kP0);
  uint64_t b = 0x2545f4914f6cdd1dull ^ (s.size() * kP2);
  size_t i = 0;
  for (; i + 8 <= s.size(); i += 8) {
    uint64_t w;
    std::memcpy(&w, s.data() + i, 8);
    a = foldMultiply(a ^ w, kP1);
    b = foldMultiply(b ^ w, kP3);
  }
  // The last 1-7 bytes, without a variable-length copy: two overlapping 4-byte loads, or bytes
  // 0, r/2 and r-1 of r < 4 (every byte covered either way; the length is in both lanes).
  uint64_t tail = 0;
  if (const size_t r = s.size() - i; r >= 4) {
    uint32_t first, last;
    std::memcpy(&first, s.data() + i, 4);
    std::memcpy(&last, s.data() + i + r - 4, 4);
    tail = first | (static_cast<uint64_t>(last) << 32);
  } else if (r > 0) {
    const auto* p = reinterpret_cast<const unsigned char*>(s.data() + i);
    tail = p[0] | (static_cast<uint64_t>(p[r / 2]) << 8) | (static_cast<uint64_t>(p[r - 1]) << 16);
  }
  return Hash128{foldMultiply(b ^ tail, kP0), foldMultiply(a ^ tail, kP2)};
}

}  // namespace outpost
