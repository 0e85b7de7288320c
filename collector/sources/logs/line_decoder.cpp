#include "collector/sources/logs/line_decoder.h"

#include <iconv.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "collector/sources/logs/json_plain.h"

namespace outpost::logs {
namespace {

constexpr std::string_view kReplacement = "\xEF\xBF\xBD";  // U+FFFD

inline unsigned char byteAt(const char* p, size_t i) {
  return static_cast<unsigned char>(p[i]);
}

// Length of the valid UTF-8 sequence starting at p[0] (non-ASCII lead), or 0 when invalid.
// With `partial`, bytes beyond `avail` count as valid (the sequence may still complete).
inline size_t validSequence(const unsigned char* p, size_t avail, bool partial = false) {
  const unsigned char c = p[0];
  auto cont = [&](size_t i, unsigned char lo, unsigned char hi) {
    return i < avail ? p[i] >= lo && p[i] <= hi : partial;
  };
  if (c >= 0xC2 && c <= 0xDF) {
    return cont(1, 0x80, 0xBF) ? 2 : 0;
  }
  if (c >= 0xE0 && c <= 0xEF) {
    const unsigned char lo = c == 0xE0 ? 0xA0 : 0x80;
    const unsigned char hi = c == 0xED ? 0x9F : 0xBF;
    return cont(1, lo, hi) && cont(2, 0x80, 0xBF) ? 3 : 0;
  }
  if (c >= 0xF0 && c <= 0xF4) {
    const unsigned char lo = c == 0xF0 ? 0x90 : 0x80;
    const unsigned char hi = c == 0xF4 ? 0x8F : 0xBF;
    return cont(1, lo, hi) && cont(2, 0x80, 0xBF) && cont(3, 0x80, 0xBF) ? 4 : 0;
  }
  return 0;
}

inline bool asciiWord(const unsigned char* p) {
  uint64_t w;
  std::memcpy(&w, p, sizeof(w));
  return (w & 0x8080808080808080ULL) == 0;
}

// Length of the valid prefix of s.
size_t validPrefix(std::string_view s) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const size_t n = s.size();
  size_t i = 0;
  while (i < n) {
#if defined(__SSE2__)
    // 64, then 16 bytes at a time while they are ASCII (SSE2 is part of x86-64).
    auto load = [p](size_t at) {
      return _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + at));
    };
    while (i + 64 <= n &&
           _mm_movemask_epi8(_mm_or_si128(_mm_or_si128(load(i), load(i + 16)),
                                          _mm_or_si128(load(i + 32), load(i + 48)))) == 0) {
      i += 64;
    }
    while (i + 16 <= n && _mm_movemask_epi8(load(i)) == 0) {
      i += 16;
    }
#endif
    if (i + 8 <= n && asciiWord(p + i)) {
      i += 8;
      continue;
    }
    if (p[i] < 0x80) {
      ++i;
      continue;
    }
    const size_t len = validSequence(p + i, n - i);
    if (len == 0) {
      return i;
    }
    i += len;
  }
  return n;
}

void appendCodePoint(std::string& out, uint32_t cp) {
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

inline bool isShiftJisLead(unsigned char c) {
  return (c >= 0x81 && c <= 0x9F) || (c >= 0xE0 && c <= 0xFC);
}

}  // namespace

bool isValidUtf8Text(std::string_view s) {
  return validPrefix(s) == s.size();
}

void appendValidUtf8(std::string& out, std::string_view s) {
  while (!s.empty()) {
    const size_t ok = validPrefix(s);
    out.append(s.data(), ok);
    if (ok == s.size()) {
      return;
    }
    out.append(kReplacement);
    s.remove_prefix(ok + 1);
  }
}

size_t utf8CutLength(std::string_view s, size_t max) {
  const size_t m = std::min(s.size(), max);
  if (m == s.size() || m == 0) {
    return m;
  }
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  if ((p[m] & 0xC0) != 0x80) {
    return m;  // p[m] starts a character
  }
  for (size_t k = 1; k <= 3 && k <= m; ++k) {
    const unsigned char c = p[m - k];
    if ((c & 0xC0) == 0x80) {
      continue;
    }
    const size_t need = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 1;
    // Back up only over a sequence that would be split and is valid as far as s[m] (never
    // looking further, so the cut does not depend on where the feeds ended).
    if (need > k && m - k > 0 && validSequence(p + m - k, k + 1, true) == need) {
      return m - k;
    }
    break;
  }
  return m;
}

void LineDecoder::IconvDeleter::operator()(void* cd) const {
  iconv_close(static_cast<iconv_t>(cd));
}

LineDecoder::LineDecoder(Options options, uint64_t start_offset)
    : options_(options), offset_(start_offset), consumed_(start_offset) {
  options_.max_message_size = std::max<size_t>(options_.max_message_size, 8);
  if (options_.encoding == TextEncoding::kUtf16Le || options_.encoding == TextEncoding::kUtf16Be) {
    unit_ = 2;
  }
  if (options_.encoding == TextEncoding::kShiftJis) {
    // CP932 (Windows-31J) is what "Shift-JIS" files almost always are; plain SJIS otherwise.
    for (const char* name : {"CP932", "SHIFT_JIS"}) {
      iconv_t cd = iconv_open("UTF-8", name);
      if (cd != reinterpret_cast<iconv_t>(-1)) {
        iconv_.reset(cd);
        break;
      }
    }
  }
}

LineDecoder::~LineDecoder() = default;
LineDecoder::LineDecoder(LineDecoder&&) noexcept = default;
LineDecoder& LineDecoder::operator=(LineDecoder&&) noexcept = default;

void LineDecoder::feedTo(std::string_view bytes, LineSink emit) {
  // offset_ moves first, so offset() is already up to date inside the callbacks.
  uint64_t base = offset_;
  offset_ += bytes.size();
  if (unit_ == 1) {
    processAligned(bytes.data(), bytes.size(), base, emit);
    return;
  }
  // UTF-16: process whole code units only; an odd byte waits in carry_.
  if (bytes.empty()) {
    return;
  }
  if (has_carry_) {
    const char unit[2] = {carry_, bytes[0]};
    has_carry_ = false;
    processAligned(unit, 2, base - 1, emit);
    bytes.remove_prefix(1);
    base += 1;
  }
  const size_t even = bytes.size() & ~size_t{1};
  processAligned(bytes.data(), even, base, emit);
  if (even < bytes.size()) {
    carry_ = bytes.back();
    has_carry_ = true;
  }
}

void LineDecoder::flushPartialTo(LineSink emit) {
  if (has_carry_) {
    pending_.push_back(carry_);
    has_carry_ = false;
  }
  if (!pending_.empty()) {
    size_t len = pending_.size();
    if (endsWithCr(pending_.data(), len)) {
      len -= unit_;
    }
    emitPiece(pending_.data(), len, offset_, false, emit);
    pending_.clear();
  }
  continued_ = false;
}

bool LineDecoder::endsWithCr(const char* p, size_t len) const {
  switch (options_.encoding) {
    case TextEncoding::kUtf16Le:
      return len >= 2 && p[len - 2] == '\r' && p[len - 1] == 0;
    case TextEncoding::kUtf16Be:
      return len >= 2 && p[len - 2] == 0 && p[len - 1] == '\r';
    default:
      return len >= 1 && p[len - 1] == '\r';
  }
}

// How many bytes of p[0, len) go into the next cut piece: at most max_message_size, ending at a
// character boundary when that is possible.
size_t LineDecoder::cutLength(const char* p, size_t len) const {
  const size_t max = options_.max_message_size;
  switch (options_.encoding) {
    case TextEncoding::kUtf8:
      return utf8CutLength(std::string_view(p, len), max);
    case TextEncoding::kUtf16Le:
    case TextEncoding::kUtf16Be: {
      size_t m = std::min(len, max) & ~size_t{1};
      const bool le = options_.encoding == TextEncoding::kUtf16Le;
      const unsigned hi = le ? byteAt(p, m - 1) : byteAt(p, m - 2);
      if (hi >= 0xD8 && hi <= 0xDB && m > 2) {
        m -= 2;  // keep a surrogate pair together
      }
      return m;
    }
    case TextEncoding::kShiftJis: {
      const size_t m = std::min(len, max);
      size_t i = 0;
      while (i < m) {
        if (isShiftJisLead(byteAt(p, i))) {
          if (i + 1 >= m) {
            break;
          }
          i += 2;
        } else {
          ++i;
        }
      }
      return i > 0 ? i : m;
    }
  }
  return std::min(len, max);
}

void LineDecoder::processAligned(const char* data, size_t n, uint64_t base, LineSink& emit) {
  const size_t max = options_.max_message_size;
  const TextEncoding enc = options_.encoding;
  size_t pos = 0;
  while (pos < n) {
    // Find the next newline code unit.
    size_t term = n;
    size_t from = pos;
    while (from < n) {
      const void* hit = std::memchr(data + from, '\n', n - from);
      if (hit == nullptr) {
        break;
      }
      const size_t i = static_cast<size_t>(static_cast<const char*>(hit) - data);
      if (enc == TextEncoding::kUtf16Le) {
        if (i % 2 == 0 && i + 1 < n && data[i + 1] == 0) {
          term = i;
          break;
        }
      } else if (enc == TextEncoding::kUtf16Be) {
        if (i % 2 == 1 && data[i - 1] == 0) {
          term = i - 1;
          break;
        }
      } else {
        term = i;
        break;
      }
      from = i + 1;
    }
    const bool found = term < n;
    size_t seg_end = term;
    if (found) {
      if (seg_end - pos >= unit_ && endsWithCr(data + pos, seg_end - pos)) {
        seg_end -= unit_;
      } else if (seg_end == pos && endsWithCr(pending_.data(), pending_.size())) {
        pending_.resize(pending_.size() - unit_);
      }
    }
    const size_t next = found ? term + unit_ : n;
    // Without a newline yet, hold one more code unit: it may be the '\r' of a "\r\n".
    const size_t limit = found ? max : max + unit_;
    size_t s = pos;
    // A partial line from earlier chunks: complete it in pending_ (cutting pieces on the way).
    // cutLength() looks at one byte past the cut, so fill to max + 1.
    while (!pending_.empty() && pending_.size() + (seg_end - s) > limit) {
      const size_t take = std::min(seg_end - s, max + 1 - std::min(max + 1, pending_.size()));
      pending_.append(data + s, take);
      s += take;
      const size_t cut = cutLength(pending_.data(), pending_.size());
      const size_t left = pending_.size() - cut;
      emitPiece(pending_.data(), cut, base + s - left, true, emit);
      if (left <= take) {
        s -= left;  // the rest came from this chunk: go on without copying
        pending_.clear();
      } else {
        pending_.erase(0, cut);
      }
    }
    if (!pending_.empty()) {
      pending_.append(data + s, seg_end - s);
      if (found) {
        emitPiece(pending_.data(), pending_.size(), base + next, false, emit);
        pending_.clear();
      }
    } else {
      // The common case: the line is whole in this chunk and handed out as a view.
      while (seg_end - s > limit) {
        const size_t cut = cutLength(data + s, seg_end - s);
        emitPiece(data + s, cut, base + s + cut, true, emit);
        s += cut;
      }
      if (found) {
        emitPiece(data + s, seg_end - s, base + next, false, emit);
      } else {
        pending_.assign(data + s, seg_end - s);
      }
    }
    pos = next;
  }
}

std::string_view LineDecoder::convert(const char* p, size_t len) {
  switch (options_.encoding) {
    case TextEncoding::kUtf8: {
      const std::string_view raw(p, len);
      // One pass tells plain ASCII (the common case: nothing more to check, here or in the
      // JSON encoder) from ASCII JSON must escape, and from text with other bytes.
      const TextClass c = classifyText(raw);
      plain_ = c == TextClass::kJsonPlain;
      if (c != TextClass::kOther || isValidUtf8Text(raw)) {
        return raw;
      }
      scratch_.clear();
      appendValidUtf8(scratch_, raw);
      return scratch_;
    }
    case TextEncoding::kUtf16Le:
    case TextEncoding::kUtf16Be: {
      const bool le = options_.encoding == TextEncoding::kUtf16Le;
      auto unitAt = [&](size_t i) -> uint32_t {
        return le ? (byteAt(p, i) | (byteAt(p, i + 1) << 8))
                  : ((byteAt(p, i) << 8) | byteAt(p, i + 1));
      };
      scratch_.clear();
      size_t i = 0;
      while (i + 1 < len) {
        const uint32_t u = unitAt(i);
        i += 2;
        if (u < 0x80) {
          scratch_.push_back(static_cast<char>(u));
        } else if (u >= 0xD800 && u <= 0xDBFF) {
          if (i + 1 < len) {
            const uint32_t lo = unitAt(i);
            if (lo >= 0xDC00 && lo <= 0xDFFF) {
              i += 2;
              appendCodePoint(scratch_, 0x10000 + ((u - 0xD800) << 10) + (lo - 0xDC00));
              continue;
            }
          }
          scratch_.append(kReplacement);
        } else if (u >= 0xDC00 && u <= 0xDFFF) {
          scratch_.append(kReplacement);
        } else {
          appendCodePoint(scratch_, u);
        }
      }
      if (i < len) {
        scratch_.append(kReplacement);  // half a code unit
      }
      return scratch_;
    }
    case TextEncoding::kShiftJis: {
      scratch_.clear();
      if (!iconv_) {
        // No converter in this libc: keep ASCII, replace every other character.
        for (size_t i = 0; i < len; ++i) {
          const unsigned char c = byteAt(p, i);
          if (c < 0x80) {
            scratch_.push_back(static_cast<char>(c));
          } else {
            scratch_.append(kReplacement);
            if (isShiftJisLead(c)) {
              ++i;
            }
          }
        }
        return scratch_;
      }
      auto cd = static_cast<iconv_t>(iconv_.get());
      iconv(cd, nullptr, nullptr, nullptr, nullptr);
      scratch_.resize(len * 3 + 8);
      char* in = const_cast<char*>(p);
      size_t in_left = len;
      char* out = scratch_.data();
      size_t out_left = scratch_.size();
      while (in_left > 0) {
        if (iconv(cd, &in, &in_left, &out, &out_left) != static_cast<size_t>(-1)) {
          break;
        }
        if (errno == E2BIG || out_left < kReplacement.size()) {
          break;  // cannot happen: every input byte yields at most 3 output bytes
        }
        std::memcpy(out, kReplacement.data(), kReplacement.size());
        out += kReplacement.size();
        out_left -= kReplacement.size();
        ++in;
        --in_left;
      }
      scratch_.resize(static_cast<size_t>(out - scratch_.data()));
      return scratch_;
    }
  }
  return {};
}

void LineDecoder::emitPiece(const char* p, size_t len, uint64_t end_offset, bool cut,
                            LineSink& emit) {
  if (consumed_ == 0) {
    // A byte order mark at the very start of the stream is not content.
    std::string_view bom;
    switch (options_.encoding) {
      case TextEncoding::kUtf8:
        bom = "\xEF\xBB\xBF";
        break;
      case TextEncoding::kUtf16Le:
        bom = "\xFF\xFE";
        break;
      case TextEncoding::kUtf16Be:
        bom = "\xFE\xFF";
        break;
      case TextEncoding::kShiftJis:
        break;
    }
    if (!bom.empty() && std::string_view(p, len).starts_with(bom)) {
      p += bom.size();
      len -= bom.size();
    }
  }
  plain_ = false;
  std::string_view content = convert(p, len);
  const bool continued = continued_;
  if (continued || cut) {
    marked_.clear();
    if (continued) {
      marked_.append(kTruncatedMarker);
    }
    marked_.append(content);
    if (cut) {
      marked_.append(kTruncatedMarker);
    }
    content = marked_;
  }
  continued_ = cut;
  consumed_ = end_offset;
  // The markers are plain: they keep plain text plain.
  emit(DecodedLine{content, end_offset, continued || cut, plain_});
}

}  // namespace outpost::logs
