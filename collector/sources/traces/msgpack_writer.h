#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

// A msgpack writer appending to a std::string (the msgpack spec's smallest encodings, as every
// msgpack library emits them). Used for the APM stats payload (§5.6) and tests' bodies.
namespace outpost::traces {

class MsgpackWriter {
 public:
  explicit MsgpackWriter(std::string& out) : out_(out) {}

  void nil() { out_.push_back(static_cast<char>(0xc0)); }
  void boolean(bool b) { out_.push_back(static_cast<char>(b ? 0xc3 : 0xc2)); }

  void uint(uint64_t v) {
    if (v < 0x80) {
      out_.push_back(static_cast<char>(v));
    } else if (v <= 0xff) {
      out_.push_back(static_cast<char>(0xcc));
      be(v, 1);
    } else if (v <= 0xffff) {
      out_.push_back(static_cast<char>(0xcd));
      be(v, 2);
    } else if (v <= 0xffffffffULL) {
      out_.push_back(static_cast<char>(0xce));
      be(v, 4);
    } else {
      out_.push_back(static_cast<char>(0xcf));
      be(v, 8);
    }
  }

  void integer(int64_t v) {
    if (v >= 0) {
      uint(static_cast<uint64_t>(v));
    } else if (v >= -32) {
      out_.push_back(static_cast<char>(v));
    } else if (v >= INT8_MIN) {
      out_.push_back(static_cast<char>(0xd0));
      be(static_cast<uint64_t>(v), 1);
    } else if (v >= INT16_MIN) {
      out_.push_back(static_cast<char>(0xd1));
      be(static_cast<uint64_t>(v), 2);
    } else if (v >= INT32_MIN) {
      out_.push_back(static_cast<char>(0xd2));
      be(static_cast<uint64_t>(v), 4);
    } else {
      out_.push_back(static_cast<char>(0xd3));
      be(static_cast<uint64_t>(v), 8);
    }
  }

  void float64(double d) {
    uint64_t bits;
    std::memcpy(&bits, &d, sizeof bits);
    out_.push_back(static_cast<char>(0xcb));
    be(bits, 8);
  }

  void str(std::string_view s) {
    const size_t n = s.size();
    if (n < 32) {
      out_.push_back(static_cast<char>(0xa0 | n));
    } else if (n <= 0xff) {
      out_.push_back(static_cast<char>(0xd9));
      be(n, 1);
    } else if (n <= 0xffff) {
      out_.push_back(static_cast<char>(0xda));
      be(n, 2);
    } else {
      out_.push_back(static_cast<char>(0xdb));
      be(n, 4);
    }
    out_.append(s);
  }

  void bin(std::string_view b) {
    const size_t n = b.size();
    if (n <= 0xff) {
      out_.push_back(static_cast<char>(0xc4));
      be(n, 1);
    } else if (n <= 0xffff) {
      out_.push_back(static_cast<char>(0xc5));
      be(n, 2);
    } else {
      out_.push_back(static_cast<char>(0xc6));
      be(n, 4);
    }
    out_.append(b);
  }

  void arrayHeader(uint32_t n) { header(n, 0x90, 0xdc, 0xdd); }
  void mapHeader(uint32_t n) { header(n, 0x80, 0xde, 0xdf); }

  // A map key followed by its value, the common case for the stats payload.
  void key(std::string_view k) { str(k); }

 private:
  void header(uint32_t n, uint8_t fix, uint8_t b16, uint8_t b32) {
    if (n < 16) {
      out_.push_back(static_cast<char>(fix | n));
    } else if (n <= 0xffff) {
      out_.push_back(static_cast<char>(b16));
      be(n, 2);
    } else {
      out_.push_back(static_cast<char>(b32));
      be(n, 4);
    }
  }
  void be(uint64_t v, int bytes) {
    for (int i = bytes - 1; i >= 0; --i) {
      out_.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
    }
  }

  std::string& out_;
};

}  // namespace outpost::traces
