#include "forwarder/encoders/json_writer.h"

#include <fmt/format.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include <array>
#include <cassert>
#include <cmath>
#include <cstdint>
#include <cstring>

namespace outpost {

namespace {

constexpr std::string_view kReplacement = "\xEF\xBF\xBD";  // U+FFFD

bool isCont(unsigned char c) {
  return (c & 0xC0) == 0x80;
}

// Length of the well-formed UTF-8 sequence starting at s[i], or 0 when s[i] starts an
// invalid one; then *bad is the length of its maximal invalid subpart (at least 1).
size_t sequenceLength(std::string_view s, size_t i, size_t* bad) {
  auto b0 = static_cast<unsigned char>(s[i]);
  if (b0 < 0x80) {
    return 1;
  }
  size_t need;
  unsigned char lo = 0x80;
  unsigned char hi = 0xBF;
  if (b0 >= 0xC2 && b0 <= 0xDF) {
    need = 1;
  } else if (b0 >= 0xE0 && b0 <= 0xEF) {
    need = 2;
    if (b0 == 0xE0) {
      lo = 0xA0;  // no overlong forms
    } else if (b0 == 0xED) {
      hi = 0x9F;  // no surrogates
    }
  } else if (b0 >= 0xF0 && b0 <= 0xF4) {
    need = 3;
    if (b0 == 0xF0) {
      lo = 0x90;  // no overlong forms
    } else if (b0 == 0xF4) {
      hi = 0x8F;  // nothing past U+10FFFF
    }
  } else {
    *bad = 1;
    return 0;
  }
  for (size_t k = 1; k <= need; ++k) {
    if (i + k >= s.size()) {
      *bad = k;
      return 0;
    }
    auto c = static_cast<unsigned char>(s[i + k]);
    bool ok = k == 1 ? (c >= lo && c <= hi) : isCont(c);
    if (!ok) {
      *bad = k;
      return 0;
    }
  }
  return need + 1;
}

constexpr uint64_t kOnes = 0x0101010101010101ULL;
constexpr uint64_t kHighBits = 0x8080808080808080ULL;

// Whether any byte of `w` is < 0x20, '"', '\\' or >= 0x80. Never a false negative (a false
// positive only costs a byte-wise look at the word).
inline bool wordNeedsCare(uint64_t w) {
  const uint64_t below_space = (w - kOnes * 0x20) & ~w;
  const uint64_t q = w ^ (kOnes * '"');
  const uint64_t b = w ^ (kOnes * '\\');
  const uint64_t quote = (q - kOnes) & ~q;
  const uint64_t backslash = (b - kOnes) & ~b;
  return ((w | below_space | quote | backslash) & kHighBits) != 0;
}

constexpr std::array<bool, 256> makeSpecial() {
  std::array<bool, 256> t{};
  for (size_t c = 0; c < 256; ++c) {
    t[c] = c < 0x20 || c == '"' || c == '\\' || c >= 0x80;
  }
  return t;
}
constexpr std::array<bool, 256> kSpecial = makeSpecial();

// The index of the first byte at or after i that needs care (kSpecial), looking 16 bytes at a
// time (SSE2, part of x86-64), or the first index from which fewer than 16 bytes are left.
inline size_t skipPlain16(const unsigned char* p, size_t i, size_t n) {
#if defined(__SSE2__)
  const __m128i space = _mm_set1_epi8(0x20);
  const __m128i quote = _mm_set1_epi8('"');
  const __m128i backslash = _mm_set1_epi8('\\');
  // A signed compare puts bytes >= 0x80 (negative) below 0x20 too.
  auto care = [&](size_t at) {
    const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + at));
    return _mm_or_si128(_mm_cmplt_epi8(v, space),
                        _mm_or_si128(_mm_cmpeq_epi8(v, quote), _mm_cmpeq_epi8(v, backslash)));
  };
  // 32 bytes a step (one test for both halves), then the 16 left.
  while (i + 32 <= n) {
    const __m128i lo = care(i);
    const __m128i hi = care(i + 16);
    if (_mm_movemask_epi8(_mm_or_si128(lo, hi)) != 0) {
      const unsigned mask = static_cast<unsigned>(_mm_movemask_epi8(lo)) |
                            (static_cast<unsigned>(_mm_movemask_epi8(hi)) << 16);
      return i + static_cast<size_t>(__builtin_ctz(mask));
    }
    i += 32;
  }
  if (i + 16 <= n) {
    const int mask = _mm_movemask_epi8(care(i));
    if (mask != 0) {
      return i + static_cast<size_t>(__builtin_ctz(static_cast<unsigned>(mask)));
    }
    i += 16;
  }
#else
  (void)p;
  (void)n;
#endif
  return i;
}

void appendEscape(std::string& out, unsigned char c) {
  static constexpr char kHex[] = "0123456789abcdef";
  switch (c) {
    case '"':
      out.append("\\\"");
      break;
    case '\\':
      out.append("\\\\");
      break;
    case '\b':
      out.append("\\b");
      break;
    case '\f':
      out.append("\\f");
      break;
    case '\n':
      out.append("\\n");
      break;
    case '\r':
      out.append("\\r");
      break;
    case '\t':
      out.append("\\t");
      break;
    default: {
      const char esc[6] = {'\\', 'u', '0', '0', kHex[c >> 4], kHex[c & 0xF]};
      out.append(esc, sizeof(esc));
      break;
    }
  }
}

}  // namespace

bool isValidUtf8(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    if (static_cast<unsigned char>(s[i]) < 0x80) {
      ++i;
      continue;
    }
    size_t bad = 0;
    size_t len = sequenceLength(s, i, &bad);
    if (len == 0) {
      return false;
    }
    i += len;
  }
  return true;
}

std::string toValidUtf8(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  size_t i = 0;
  while (i < s.size()) {
    size_t bad = 0;
    size_t len = sequenceLength(s, i, &bad);
    if (len == 0) {
      out.append(kReplacement);
      i += bad;
    } else {
      out.append(s.substr(i, len));
      i += len;
    }
  }
  return out;
}

void appendJsonStringBody(std::string& out, std::string_view s) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const size_t n = s.size();
  size_t i = 0;
  size_t run = 0;  // start of the bytes not yet copied
  while (i < n) {
    i = skipPlain16(p, i, n);
    while (i + 8 <= n) {
      uint64_t w;
      std::memcpy(&w, p + i, sizeof(w));
      if (wordNeedsCare(w)) {
        break;
      }
      i += 8;
    }
    const size_t stop = std::min(n, i + 8);
    while (i < stop && !kSpecial[p[i]]) {
      ++i;
    }
    if (i == stop) {
      continue;
    }
    const unsigned char c = p[i];
    if (c >= 0x80) {
      size_t bad = 0;
      const size_t len = sequenceLength(s, i, &bad);
      if (len != 0) {
        i += len;  // well-formed: stays in the run
        continue;
      }
      out.append(s.data() + run, i - run);
      out.append(kReplacement);
      i += bad;
      run = i;
      continue;
    }
    out.append(s.data() + run, i - run);
    appendEscape(out, c);
    ++i;
    run = i;
  }
  out.append(s.data() + run, n - run);
}

void appendJsonString(std::string& out, std::string_view s) {
  out.reserve(out.size() + s.size() + 2);
  out.push_back('"');
  appendJsonStringBody(out, s);
  out.push_back('"');
}

std::string jsonString(std::string_view s) {
  std::string out;
  appendJsonString(out, s);
  return out;
}

void JsonWriter::beforeValue() {
  if (levels_.empty()) {
    assert(out_.empty() && "JsonWriter: only one top-level value");
    return;
  }
  Level& level = levels_.back();
  if (level.object) {
    assert(after_key_ && "JsonWriter: a value in an object needs a key");
    after_key_ = false;
    return;
  }
  if (!level.empty) {
    out_.push_back(',');
  }
  level.empty = false;
}

JsonWriter& JsonWriter::beginObject() {
  beforeValue();
  out_.push_back('{');
  levels_.push_back({true, true});
  return *this;
}

JsonWriter& JsonWriter::endObject() {
  assert(!levels_.empty() && levels_.back().object && !after_key_);
  levels_.pop_back();
  out_.push_back('}');
  return *this;
}

JsonWriter& JsonWriter::beginArray() {
  beforeValue();
  out_.push_back('[');
  levels_.push_back({false, true});
  return *this;
}

JsonWriter& JsonWriter::endArray() {
  assert(!levels_.empty() && !levels_.back().object);
  levels_.pop_back();
  out_.push_back(']');
  return *this;
}

JsonWriter& JsonWriter::key(std::string_view name) {
  assert(!levels_.empty() && levels_.back().object && !after_key_);
  Level& level = levels_.back();
  if (!level.empty) {
    out_.push_back(',');
  }
  level.empty = false;
  appendJsonString(out_, name);
  out_.push_back(':');
  after_key_ = true;
  return *this;
}

JsonWriter& JsonWriter::string(std::string_view value) {
  beforeValue();
  appendJsonString(out_, value);
  return *this;
}

JsonWriter& JsonWriter::integer(int64_t value) {
  beforeValue();
  fmt::format_to(std::back_inserter(out_), "{}", value);
  return *this;
}

JsonWriter& JsonWriter::uinteger(uint64_t value) {
  beforeValue();
  fmt::format_to(std::back_inserter(out_), "{}", value);
  return *this;
}

JsonWriter& JsonWriter::number(double value) {
  beforeValue();
  if (!std::isfinite(value)) {
    out_.append("null");
  } else {
    fmt::format_to(std::back_inserter(out_), "{}", value);
  }
  return *this;
}

JsonWriter& JsonWriter::boolean(bool value) {
  beforeValue();
  out_.append(value ? "true" : "false");
  return *this;
}

JsonWriter& JsonWriter::null() {
  beforeValue();
  out_.append("null");
  return *this;
}

JsonWriter& JsonWriter::raw(std::string_view json) {
  beforeValue();
  out_.append(json);
  return *this;
}

JsonWriter& JsonWriter::stringArray(const std::vector<std::string>& values) {
  beginArray();
  for (const auto& v : values) {
    string(v);
  }
  return endArray();
}

std::string JsonWriter::take() {
  std::string out = std::move(out_);
  out_.clear();
  levels_.clear();
  after_key_ = false;
  return out;
}

}  // namespace outpost
