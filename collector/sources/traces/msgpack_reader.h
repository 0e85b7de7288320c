#pragma once

#include <cstddef>
#include <cstdint>
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

  bool readNil();                        // consumes and returns true only if the next value is nil
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
  bool readStringSlow(std::string_view* s);
  bool readInteger(bool* negative, uint64_t* magnitude_or_bits);
  bool skipDepth(int depth);
  bool readLength(uint8_t b, uint8_t fix_base, uint8_t fix_mask, uint8_t c8, uint8_t c16,
                  uint8_t c32, uint32_t* n);

  const uint8_t* p_;
  size_t size_;
  size_t pos_ = 0;
  std::string error_;
};

// A fixstr (up to 31 bytes: most keys and values) inline, the rest out of line.
inline bool MsgpackReader::readString(std::string_view* s) {
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

}  // namespace outpost::traces
