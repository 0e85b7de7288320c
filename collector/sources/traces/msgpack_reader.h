#pragma once

#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

// A zero-copy msgpack reader over one buffer: strings come back as views into it. Every read
// checks the bytes left first, so a truncated or lying body (an array header claiming more
// elements than bytes remain) is an error, never an overread or a huge allocation. After the
// first error every read fails and error() says what and where ("truncated str at byte 17").
namespace outpost::traces {

class MsgpackReader {
 public:
  enum class Type {
    kNil,
    kBool,
    kInt,
    kUint,
    kFloat,
    kStr,
    kBin,
    kArray,
    kMap,
    kExt,
    kInvalid,
    kEnd
  };

  MsgpackReader(const char* data, size_t size)
      : p_(reinterpret_cast<const uint8_t*>(data)), size_(size) {}
  explicit MsgpackReader(std::string_view data) : MsgpackReader(data.data(), data.size()) {}

  bool ok() const { return error_.empty(); }
  const std::string& error() const { return error_; }
  size_t position() const { return pos_; }
  bool atEnd() const { return pos_ >= size_; }
  Type peek() const;
  // peek() == kNil / kMap / kArray, inline (a span's checks).
  bool nextIsNil() const { return ok() && pos_ < size_ && p_[pos_] == 0xc0; }
  bool nextIsMap() const {
    return ok() && pos_ < size_ &&
           ((p_[pos_] & 0xf0) == 0x80 || p_[pos_] == 0xde || p_[pos_] == 0xdf);
  }
  bool nextIsArray() const {
    return ok() && pos_ < size_ &&
           ((p_[pos_] & 0xf0) == 0x90 || p_[pos_] == 0xdc || p_[pos_] == 0xdd);
  }

  // A positive fixint, uint8 or uint16 (v0.5 string indices), inline; false, with nothing
  // consumed, for anything else (and when fewer than 3 bytes remain): then use readUint64.
  [[gnu::always_inline]] bool readSmallUint(uint32_t* v) {
    if (size_ - pos_ < 3 || !ok()) [[unlikely]] {
      return false;
    }
    const uint8_t* p = p_ + pos_;
    if (p[0] <= 0x7f) {
      *v = p[0];
      pos_ += 1;
      return true;
    }
    if (p[0] == 0xcc) {
      *v = p[1];
      pos_ += 2;
      return true;
    }
    if (p[0] == 0xcd) {
      *v = (uint32_t{p[1]} << 8) | p[2];
      pos_ += 3;
      return true;
    }
    return false;
  }
  bool readNil();  // consumes and returns true only if the next value is nil
  // The common encodings of these (fixarray, fixmap, fixstr, fixint, uint8-64, int8-64, float64)
  // are read inline; the rest out of line.
  bool readArrayHeader(uint32_t* n);     // nil -> 0; fails if n > bytes remaining
  bool readMapHeader(uint32_t* n);       // nil -> 0; fails if 2n > bytes remaining
  bool readString(std::string_view* s);  // str or bin; nil -> ""
  bool readUint64(uint64_t* v);          // any int (negative ones cast); nil -> 0
  bool readInt64(int64_t* v);            // any int (uint above INT64_MAX fails); nil -> 0
  bool readDouble(double* v);            // float32/64 or any int; nil -> 0
  bool readBool(bool* v);                // bool; nil -> false
  bool skip();                           // one value of any type; nesting depth limit 64
  void fail(std::string reason);         // records a decoder's own error (the first one wins)

 private:
  bool need(size_t n, const char* what) {
    if (ok() && size_ - pos_ >= n) [[likely]] {
      return true;
    }
    return needFailed(n, what);
  }
  bool needFailed(size_t n, const char* what);
  uint64_t be(size_t n) {  // big-endian unsigned of n bytes at pos_ (need() checked)
    uint64_t v = 0;
    for (size_t i = 0; i < n; ++i) {
      v = (v << 8) | p_[pos_ + i];
    }
    pos_ += n;
    return v;
  }
  bool typeError(const char* expected);
  bool readArrayHeaderSlow(uint32_t* n);
  bool readMapHeaderSlow(uint32_t* n);
  bool readDoubleSlow(double* v);
  bool readStringSlow(std::string_view* s);
  bool fastInteger(uint64_t* bits, bool* is_signed);
  bool readUint64Slow(uint64_t* v);
  bool readInt64Slow(int64_t* v);
  bool readInteger(bool* negative, uint64_t* magnitude_or_bits);
  bool skipDepth(int depth);
  bool readLength(uint8_t b, uint8_t fix_base, uint8_t fix_mask, uint8_t c8, uint8_t c16,
                  uint8_t c32, uint32_t* n);

  const uint8_t* p_;
  size_t size_;
  size_t pos_ = 0;
  std::string error_;
};

[[gnu::always_inline]] inline bool MsgpackReader::readArrayHeader(uint32_t* n) {
  if (pos_ < size_ && ok()) [[likely]] {
    const uint8_t b = p_[pos_];
    if ((b & 0xf0) == 0x90 && (b & 0x0fu) <= size_ - pos_ - 1) [[likely]] {
      *n = b & 0x0f;
      pos_ += 1;
      return true;
    }
  }
  return readArrayHeaderSlow(n);
}

[[gnu::always_inline]] inline bool MsgpackReader::readMapHeader(uint32_t* n) {
  if (pos_ < size_ && ok()) [[likely]] {
    const uint8_t b = p_[pos_];
    if ((b & 0xf0) == 0x80 && (b & 0x0fu) * 2 <= size_ - pos_ - 1) [[likely]] {
      *n = b & 0x0f;
      pos_ += 1;
      return true;
    }
  }
  return readMapHeaderSlow(n);
}

// A float64 (metrics) or a positive fixint, when nine bytes remain to load from.
[[gnu::always_inline]] inline bool MsgpackReader::readDouble(double* v) {
  if (size_ - pos_ >= 9 && ok()) [[likely]] {
    const uint8_t b = p_[pos_];
    if (b == 0xcb) {
      uint64_t big;
      std::memcpy(&big, p_ + pos_ + 1, sizeof big);
      const uint64_t bits =
          std::endian::native == std::endian::little ? __builtin_bswap64(big) : big;
      std::memcpy(v, &bits, sizeof *v);
      pos_ += 9;
      return true;
    }
    if (b <= 0x7f) {
      *v = b;
      pos_ += 1;
      return true;
    }
  }
  return readDoubleSlow(v);
}

// A fixstr (up to 31 bytes: most keys and values) inline, the rest out of line.
[[gnu::always_inline]] inline bool MsgpackReader::readString(std::string_view* s) {
  if (pos_ < size_ && ok()) [[likely]] {
    const uint8_t b = p_[pos_];
    const size_t n = b & 0x1f;
    if ((b & 0xe0) == 0xa0 && size_ - pos_ - 1 >= n) [[likely]] {
      *s = std::string_view(reinterpret_cast<const char*>(p_ + pos_ + 1), n);
      pos_ += 1 + n;
      return true;
    }
  }
  return readStringSlow(s);
}

// The common integer encodings inline (a positive fixint: v0.5 string indices, flags, small
// counts; uint8-64 and int8-64: ids, start, duration), when nine bytes remain to load from.
// `bits` gets the value's bits (two's complement for signed encodings); false: not one of them.
[[gnu::always_inline]] inline bool MsgpackReader::fastInteger(uint64_t* bits, bool* is_signed) {
  if (size_ - pos_ < 9 || !ok()) [[unlikely]] {
    return false;
  }
  const uint8_t b = p_[pos_];
  if (b <= 0x7f) {
    *bits = b;
    *is_signed = false;
    pos_ += 1;
    return true;
  }
  if (b < 0xcc || b > 0xd3) {
    return false;
  }
  const unsigned width = 1u << (b & 3);  // cc/d0: 1 byte, cd/d1: 2, ce/d2: 4, cf/d3: 8
  uint64_t big;
  std::memcpy(&big, p_ + pos_ + 1, sizeof big);
  const uint64_t word = std::endian::native == std::endian::little ? __builtin_bswap64(big) : big;
  const unsigned shift = 64 - 8 * width;
  *is_signed = b >= 0xd0;
  *bits = *is_signed ? static_cast<uint64_t>(static_cast<int64_t>(word) >> shift) : word >> shift;
  pos_ += 1 + width;
  return true;
}

[[gnu::always_inline]] inline bool MsgpackReader::readUint64(uint64_t* v) {
  bool is_signed = false;
  return fastInteger(v, &is_signed) || readUint64Slow(v);
}

[[gnu::always_inline]] inline bool MsgpackReader::readInt64(int64_t* v) {
  uint64_t bits = 0;
  bool is_signed = false;
  const size_t at = pos_;
  if (fastInteger(&bits, &is_signed)) [[likely]] {
    if (is_signed || bits <= static_cast<uint64_t>(INT64_MAX)) {
      *v = static_cast<int64_t>(bits);
      return true;
    }
    pos_ = at;  // a uint64 above INT64_MAX: the slow path reports it
  }
  return readInt64Slow(v);
}

}  // namespace outpost::traces
