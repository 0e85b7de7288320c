#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

// The protobuf wire format, by hand, for the trace intake's AgentPayload (§5.2–§5.4): varints,
// fixed64 doubles and length-delimited fields. Messages are written after their size is
// computed (the sizeOf* functions next to each writer), so nothing is encoded twice and every
// varint is minimal, as protobuf libraries write them. Proto3: fields equal to their default
// are omitted.
namespace outpost::traces::proto {

enum WireType : uint32_t { kVarint = 0, kFixed64 = 1, kLengthDelimited = 2 };

inline size_t varintSize(uint64_t v) {
  size_t n = 1;
  while (v >= 0x80) {
    v >>= 7;
    ++n;
  }
  return n;
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

// Writes into memory the caller sized with the sizeOf* functions (no bounds or capacity checks
// per field: the sizes are exact). `end()` is where the next byte goes.
class Writer {
 public:
  explicit Writer(char* p) : p_(p) {}

  char* end() const { return p_; }

  void varint(uint64_t v) {
    while (v >= 0x80) {
      *p_++ = static_cast<char>((v & 0x7f) | 0x80);
      v >>= 7;
    }
    *p_++ = static_cast<char>(v);
  }
  void tag(uint32_t field, WireType type) { varint((static_cast<uint64_t>(field) << 3) | type); }
  // The header of a length-delimited field of `len` bytes; the caller writes them next.
  void header(uint32_t field, size_t len) {
    tag(field, kLengthDelimited);
    varint(len);
  }
  void raw(std::string_view s) {
    if (!s.empty()) {
      std::memcpy(p_, s.data(), s.size());
      p_ += s.size();
    }
  }
  void bytes(uint32_t field, std::string_view s) {
    header(field, s.size());
    raw(s);
  }
  void string(uint32_t field, std::string_view s) {
    if (!s.empty()) {
      bytes(field, s);
    }
  }
  void uint64(uint32_t field, uint64_t v) {
    if (v != 0) {
      tag(field, kVarint);
      varint(v);
    }
  }
  void int64(uint32_t field, int64_t v) { uint64(field, static_cast<uint64_t>(v)); }
  void boolean(uint32_t field, bool v) {
    if (v) {
      tag(field, kVarint);
      *p_++ = 1;
    }
  }
  void fixed64(uint32_t field, uint64_t v) {
    tag(field, kFixed64);
    fixed64Raw(v);
  }
  void fixed64Raw(uint64_t v) {
    for (int i = 0; i < 8; ++i) {
      *p_++ = static_cast<char>((v >> (8 * i)) & 0xff);
    }
  }
  void float64(uint32_t field, double v) {
    if (v != 0) {
      uint64_t bits;
      std::memcpy(&bits, &v, sizeof bits);
      fixed64(field, bits);
    }
  }
  // map<string,string> entry as field `field`.
  void stringEntry(uint32_t field, std::string_view k, std::string_view v) {
    header(field, stringEntrySize(k, v));
    bytes(1, k);
    bytes(2, v);
  }
  // map<string,double> entry (the value always written, even 0).
  void doubleEntry(uint32_t field, std::string_view k, double v) {
    header(field, doubleEntrySize(k));
    bytes(1, k);
    uint64_t bits;
    std::memcpy(&bits, &v, sizeof bits);
    fixed64(2, bits);
  }

 private:
  char* p_;
};

// Grows `out` by `n` bytes (geometrically, as appends do) and returns a writer at the old end.
inline Writer extend(std::string& out, size_t n) {
  const size_t old = out.size();
  out.resize(old + n);
  return Writer(out.data() + old);
}

}  // namespace outpost::traces::proto
