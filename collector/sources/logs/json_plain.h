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
    // Every 16 bytes, the last 16 overlapping the ones before; one test at the end. A signed
    // compare puts bytes >= 0x80 (negative) below 0x20 too, so `care` holds them as well.
    const __m128i space = _mm_set1_epi8(0x20);
    const __m128i quote = _mm_set1_epi8('"');
    const __m128i backslash = _mm_set1_epi8('\\');
    __m128i care = _mm_setzero_si128();
    __m128i high = _mm_setzero_si128();
    auto add = [&](const unsigned char* at) {
      const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(at));
      high = _mm_or_si128(high, v);
      care = _mm_or_si128(
          care, _mm_or_si128(_mm_cmplt_epi8(v, space),
                             _mm_or_si128(_mm_cmpeq_epi8(v, quote), _mm_cmpeq_epi8(v, backslash))));
    };
    size_t i = 0;
    for (; i + 32 <= n; i += 32) {
      add(p + i);
      add(p + i + 16);
    }
    if (i + 16 <= n) {
      add(p + i);
    }
    add(p + n - 16);
    if (_mm_movemask_epi8(care) == 0) {
      return TextClass::kJsonPlain;
    }
    return _mm_movemask_epi8(high) == 0 ? TextClass::kAscii : TextClass::kOther;
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
