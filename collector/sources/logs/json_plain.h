#pragma once

#include <cstddef>
#include <string_view>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

// "JSON-plain" text: ASCII with no '"', no '\\' and no control character below 0x20. Its bytes
// are a JSON string's body as they are, so the logs encoder copies them without looking at
// them again. The file decoder finds this out for every line in the pass it makes anyway (the
// UTF-8 check) and says so in DecodedLine::json_plain / LogMessage::json_plain; whoever changes
// a message's content clears the flag unless the change keeps the text plain. Header-only:
// the decoder (built alone for the fuzz project), the processing rules and the encoder share it.
namespace outpost::logs {

enum class TextClass {
  kJsonPlain,  // ASCII, nothing JSON escapes
  kAscii,      // ASCII (so valid UTF-8), with a byte JSON escapes
  kOther,      // a byte >= 0x80: valid UTF-8 or not, the caller checks
};

inline bool jsonPlainByte(unsigned char c) {
  return c >= 0x20 && c < 0x80 && c != '"' && c != '\\';
}

inline TextClass classifyText(std::string_view s) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const size_t n = s.size();
#if defined(__SSE2__)
  if (n >= 16) {
    // Every 16 bytes, the last 16 overlapping the ones before; one test at the end. Kept apart
    // are the OR of all bytes (a high bit: not ASCII), their unsigned minimum (below 0x20: a
    // control character) and the quotes and backslashes found.
    const __m128i quote = _mm_set1_epi8('"');
    const __m128i backslash = _mm_set1_epi8('\\');
    const auto* at = reinterpret_cast<const __m128i*>(p);
    const __m128i last = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + n - 16));
    __m128i high = last;
    __m128i low = last;
    __m128i found = _mm_or_si128(_mm_cmpeq_epi8(last, quote), _mm_cmpeq_epi8(last, backslash));
    for (size_t i = 0; i + 16 <= n; i += 16, ++at) {
      const __m128i v = _mm_loadu_si128(at);
      high = _mm_or_si128(high, v);
      low = _mm_min_epu8(low, v);
      found =
          _mm_or_si128(found, _mm_or_si128(_mm_cmpeq_epi8(v, quote), _mm_cmpeq_epi8(v, backslash)));
    }
    if (_mm_movemask_epi8(high) != 0) {
      return TextClass::kOther;
    }
    const __m128i control = _mm_cmpeq_epi8(_mm_max_epu8(low, _mm_set1_epi8(0x1F)),
                                           _mm_set1_epi8(0x1F));  // low <= 0x1F
    return _mm_movemask_epi8(_mm_or_si128(found, control)) == 0 ? TextClass::kJsonPlain
                                                                : TextClass::kAscii;
  }
#endif
  bool plain = true;
  bool ascii = true;
  for (size_t i = 0; i < n; ++i) {
    plain = plain && jsonPlainByte(p[i]);
    ascii = ascii && p[i] < 0x80;
  }
  if (plain) {
    return TextClass::kJsonPlain;
  }
  return ascii ? TextClass::kAscii : TextClass::kOther;
}

inline bool isJsonPlain(std::string_view s) {
  return classifyText(s) == TextClass::kJsonPlain;
}

}  // namespace outpost::logs
