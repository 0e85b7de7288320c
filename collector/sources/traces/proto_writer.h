#pragma once

#include <algorithm>
#include <bit>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>

// The protobuf wire format, by hand, for the trace intake's AgentPayload (§5.2–§5.4): varints,
// fixed64 doubles and length-delimited fields. Small messages are written after their size is
// computed (the *Size functions next to each writer); spans and chunks, nearly all of a payload,
// in one pass by a GrowingWriter that writes each length after its message. Either way nothing
// is encoded twice and every varint is minimal, as protobuf libraries write them. Proto3: fields
// equal to their default are omitted.
namespace outpost::traces::proto {

enum WireType : uint32_t { kVarint = 0, kFixed64 = 1, kLengthDelimited = 2 };

// Bytes of `v` as a varint: 7 bits a byte, without a loop (ids and timestamps take 9-10).
inline size_t varintSize(uint64_t v) {
  const int bits = std::bit_width(v | 1);  // 1..64
  return static_cast<size_t>((bits + 6) / 7);
}

inline size_t tagSize(uint32_t field) {
  return varintSize(static_cast<uint64_t>(field) << 3);
}

// Size of a length-delimited field whose payload is `len` bytes.
inline size_t delimitedSize(uint32_t field, size_t len) {
  return tagSize(field) + varintSize(len) + len;
}
inline size_t stringSize(uint32_t field, std::string_view s) {
  return s.empty() ? 0 : delimitedSize(field, s.size());
}
inline size_t uint64Size(uint32_t field, uint64_t v) {
  return v == 0 ? 0 : tagSize(field) + varintSize(v);
}
// int32/int64 are varints of the two's complement 64-bit value (negative: 10 bytes).
inline size_t int64Size(uint32_t field, int64_t v) {
  return uint64Size(field, static_cast<uint64_t>(v));
}
inline size_t doubleSize(uint32_t field, double v) {
  return v == 0 ? 0 : tagSize(field) + 8;
}
inline size_t boolSize(uint32_t field, bool v) {
  return v ? tagSize(field) + 1 : 0;
}
// A map<string,string> entry's message size (both fields always written).
inline size_t stringEntrySize(std::string_view k, std::string_view v) {
  return delimitedSize(1, k.size()) + delimitedSize(2, v.size());
}
inline size_t doubleEntrySize(std::string_view k) {
  return delimitedSize(1, k.size()) + 1 + 8;
}
// Writes into memory the caller sized with the *Size functions (no bounds or capacity checks
// per field: the sizes are exact). `end()` is where the next byte goes.
//
// Each method works on a local copy of the write pointer (the static put* functions) and stores
// it back once: a byte stored through the member itself could alias the member, which would
// make the compiler reload it after every byte.
class Writer {
 public:
  explicit Writer(char* p) : p_(p) {}

  char* end() const { return p_; }

  void varint(uint64_t v) { p_ = putVarint(p_, v); }
  void tag(uint32_t field, WireType type) { p_ = putTag(p_, field, type); }
  // The header of a length-delimited field of `len` bytes; the caller writes them next.
  void header(uint32_t field, size_t len) {
    p_ = putVarint(putTag(p_, field, kLengthDelimited), len);
  }
  void raw(std::string_view s) { p_ = putRaw(p_, s); }
  void bytes(uint32_t field, std::string_view s) {
    p_ = putRaw(putVarint(putTag(p_, field, kLengthDelimited), s.size()), s);
  }
  void string(uint32_t field, std::string_view s) {
    if (!s.empty()) {
      bytes(field, s);
    }
  }
  void uint64(uint32_t field, uint64_t v) {
    if (v != 0) {
      p_ = putVarint(putTag(p_, field, kVarint), v);
    }
  }
  void int64(uint32_t field, int64_t v) { uint64(field, static_cast<uint64_t>(v)); }
  void boolean(uint32_t field, bool v) {
    if (v) {
      char* p = putTag(p_, field, kVarint);
      *p++ = 1;
      p_ = p;
    }
  }
  void fixed64(uint32_t field, uint64_t v) { p_ = putFixed64(putTag(p_, field, kFixed64), v); }
  void fixed64Raw(uint64_t v) { p_ = putFixed64(p_, v); }
  void float64(uint32_t field, double v) {
    if (v != 0) {
      uint64_t bits;
      std::memcpy(&bits, &v, sizeof bits);
      fixed64(field, bits);
    }
  }
  // map<string,string> entry as field `field`.
  void stringEntry(uint32_t field, std::string_view k, std::string_view v) {
    const size_t entry = 4 + k.size() + v.size();
    if (field < 16 && entry < 0x80) {  // nearly every tag: each tag and length one byte
      char* p = putSmallEntryKey(p_, field, entry, k);
      p[0] = (2 << 3) | kLengthDelimited;
      p[1] = static_cast<char>(v.size());
      p_ = putRaw(p + 2, v);
      return;
    }
    header(field, stringEntrySize(k, v));
    bytes(1, k);
    bytes(2, v);
  }
  // map<string,double> entry (the value always written, even 0).
  void doubleEntry(uint32_t field, std::string_view k, double v) {
    uint64_t bits;
    std::memcpy(&bits, &v, sizeof bits);
    const size_t entry = 2 + k.size() + 9;
    if (field < 16 && entry < 0x80) {
      char* p = putSmallEntryKey(p_, field, entry, k);
      *p++ = (2 << 3) | kFixed64;
      p_ = putFixed64(p, bits);
      return;
    }
    header(field, doubleEntrySize(k));
    bytes(1, k);
    fixed64(2, bits);
  }

 private:
  static char* putVarint(char* p, uint64_t v) {
    if (std::endian::native == std::endian::little && v >= (uint64_t{1} << 49)) {
      return putWideVarint(p, v);  // ids and nanosecond times: 8-10 bytes
    }
    while (v >= 0x80) {
      *p++ = static_cast<char>((v & 0x7f) | 0x80);
      v >>= 7;
    }
    *p++ = static_cast<char>(v);
    return p;
  }
  static char* putTag(char* p, uint32_t field, WireType type) {
    if (field < 16) {  // every field here: a one-byte tag
      *p++ = static_cast<char>((field << 3) | type);
      return p;
    }
    return putVarint(p, (static_cast<uint64_t>(field) << 3) | type);
  }
  static char* putRaw(char* p, std::string_view s) {
    // Most strings here are a few bytes (tag keys and values): copied by two overlapping loads
    // and stores rather than a call to memcpy.
    const char* from = s.data();
    const size_t n = s.size();
    if (n >= 8 && n <= 16) {
      copyWord<uint64_t>(p, from);
      copyWord<uint64_t>(p + n - 8, from + n - 8);
    } else if (n >= 4 && n < 8) {
      copyWord<uint32_t>(p, from);
      copyWord<uint32_t>(p + n - 4, from + n - 4);
    } else if (n < 4) {
      for (size_t i = 0; i < n; ++i) {
        p[i] = from[i];
      }
    } else {
      std::memcpy(p, from, n);
    }
    return p + n;
  }
  static char* putFixed64(char* p, uint64_t v) {
    if constexpr (std::endian::native == std::endian::little) {
      std::memcpy(p, &v, 8);
      return p + 8;
    } else {
      for (int i = 0; i < 8; ++i) {
        *p++ = static_cast<char>((v >> (8 * i)) & 0xff);
      }
      return p;
    }
  }
  // A map entry of `entry` bytes as field `field` (< 16, entry < 128: one-byte tag and length),
  // up to its key field, `k`, included.
  static char* putSmallEntryKey(char* p, uint32_t field, size_t entry, std::string_view k) {
    p[0] = static_cast<char>((field << 3) | kLengthDelimited);
    p[1] = static_cast<char>(entry);
    p[2] = (1 << 3) | kLengthDelimited;
    p[3] = static_cast<char>(k.size());
    return putRaw(p + 4, k);
  }
  // A varint of 8 to 10 bytes (v >= 2^49): the low 56 bits' eight 7-bit groups spread into the
  // bytes of one word (halves, then quarters, then bytes) and stored at once, then the one or
  // two bytes left.
  static char* putWideVarint(char* p, uint64_t v) {
    uint64_t word = v & ((uint64_t{1} << 56) - 1);
    word = (word & 0x000000000FFFFFFFULL) | ((word & 0x00FFFFFFF0000000ULL) << 4);
    word = (word & 0x00003FFF00003FFFULL) | ((word & 0x0FFFC0000FFFC000ULL) << 2);
    word = (word & 0x007F007F007F007FULL) | ((word & 0x3F803F803F803F80ULL) << 1);
    const bool more = v >= (uint64_t{1} << 56);
    word |= more ? 0x8080808080808080ULL : 0x0080808080808080ULL;
    std::memcpy(p, &word, sizeof word);
    p += 8;
    if (more) {
      v >>= 56;
      if (v >= 0x80) {
        *p++ = static_cast<char>(v | 0x80);
        v >>= 7;
      }
      *p++ = static_cast<char>(v);
    }
    return p;
  }
  template <typename Word>
  static void copyWord(char* to, const char* from) {
    Word w;
    std::memcpy(&w, from, sizeof w);
    std::memcpy(to, &w, sizeof w);
  }

 protected:
  char* p_;
};

// Grows `out` by `n` bytes (geometrically, as appends do) and returns a writer at the old end.
inline Writer extend(std::string& out, size_t n) {
  const size_t old = out.size();
  out.resize(old + n);
  return Writer(out.data() + old);
}

// A growable byte buffer whose growth does not zero-fill the new bytes (std::string::resize
// does: a pass over every byte the Writer is about to overwrite anyway). Its capacity stays
// across clear().
class Buffer {
 public:
  std::string_view view() const { return {data_.get(), size_}; }
  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  void clear() { size_ = 0; }

  // For a GrowingWriter: room for `n` more bytes past size() (written before setSize()).
  void reserveMore(size_t n) {
    if (capacity_ - size_ < n) {
      grow(n);
    }
  }
  char* data() { return data_.get(); }
  size_t capacity() const { return capacity_; }
  void setSize(size_t n) { size_ = n; }

 private:
  void grow(size_t n) {
    size_t capacity = std::max<size_t>({capacity_ * 2, size_ + n, 4096});
    auto data = std::make_unique_for_overwrite<char[]>(capacity);
    if (size_ != 0) {
      std::memcpy(data.get(), data_.get(), size_);
    }
    data_ = std::move(data);
    capacity_ = capacity;
  }

  std::unique_ptr<char[]> data_;
  size_t size_ = 0;
  size_t capacity_ = 0;
};

// A Writer that appends to a Buffer in one pass, without sizing the message first: the caller
// asks for room() before each write (a bound, not the exact size), and a length-delimited field
// is open()ed, written, then close()d, which writes its length. close() leaves every varint
// minimal: two bytes are kept for the length (128 bytes to 16 KiB: nearly every span and
// chunk), and the contents move back one byte or forward when the length needs one byte or
// more than two. finish() sets the buffer's size.
class GrowingWriter : public Writer {
 public:
  explicit GrowingWriter(Buffer& out) : Writer(nullptr), out_(out) {
    out_.reserveMore(0);
    p_ = out_.data() + out_.size();
    limit_ = out_.data() + out_.capacity();
  }

  // At least `n` bytes writable at end().
  void room(size_t n) {
    if (static_cast<size_t>(limit_ - p_) < n) [[unlikely]] {
      grow(n);
    }
  }
  size_t open(uint32_t field) {
    room(kTagRoom + 2);
    tag(field, kLengthDelimited);
    const size_t at = static_cast<size_t>(p_ - out_.data());
    p_ += 2;
    return at;
  }
  void close(size_t at) {
    char* length = out_.data() + at;
    const size_t n = static_cast<size_t>(p_ - (length + 2));
    if (n >= 0x80 && n < 0x4000) [[likely]] {
      length[0] = static_cast<char>((n & 0x7f) | 0x80);
      length[1] = static_cast<char>(n >> 7);
      return;
    }
    closeOther(at, n);
  }
  void finish() { out_.setSize(static_cast<size_t>(p_ - out_.data())); }

  static constexpr size_t kTagRoom = 5;  // a tag of any field number

 private:
  [[gnu::noinline]] void grow(size_t n) {
    finish();
    out_.reserveMore(n);
    p_ = out_.data() + out_.size();
    limit_ = out_.data() + out_.capacity();
  }
  // A length under 128 (one byte) or of 16 KiB or more (three or more).
  [[gnu::noinline]] void closeOther(size_t at, size_t n) {
    const size_t bytes = varintSize(n);
    if (bytes > 2) {
      room(bytes - 2);
    }
    char* length = out_.data() + at;
    std::memmove(length + bytes, length + 2, n);
    Writer w(length);
    w.varint(n);
    p_ = length + bytes + n;
  }

  Buffer& out_;
  char* limit_;
};

}  // namespace outpost::traces::proto
