#include "collector/sources/traces/msgpack_reader.h"

#include <cstring>

namespace outpost::traces {

namespace {

const char* typeName(uint8_t b) {
  if (b <= 0x7f || b >= 0xe0 || (b >= 0xcc && b <= 0xd3)) {
    return "int";
  }
  if ((b & 0xf0) == 0x80 || b == 0xde || b == 0xdf) {
    return "map";
  }
  if ((b & 0xf0) == 0x90 || b == 0xdc || b == 0xdd) {
    return "array";
  }
  if ((b & 0xe0) == 0xa0 || (b >= 0xd9 && b <= 0xdb)) {
    return "str";
  }
  switch (b) {
    case 0xc0:
      return "nil";
    case 0xc2:
    case 0xc3:
      return "bool";
    case 0xc4:
    case 0xc5:
    case 0xc6:
      return "bin";
    case 0xca:
    case 0xcb:
      return "float";
    case 0xc1:
      return "invalid byte 0xc1";
    default:
      return "ext";
  }
}

}  // namespace

void MsgpackReader::fail(std::string reason) {
  if (error_.empty()) {
    error_ = std::move(reason);
    if (error_.empty()) {
      error_ = "error";
    }
  }
}

bool MsgpackReader::needFailed(size_t n, const char* what) {
  if (!ok()) {
    return false;
  }
  (void)n;
  fail(std::string("truncated ") + what + " at byte " + std::to_string(pos_));
  return false;
}

bool MsgpackReader::typeError(const char* expected) {
  if (ok()) {
    if (atEnd()) {
      fail(std::string("expected ") + expected + ", got the end of the body at byte " +
           std::to_string(pos_));
    } else {
      fail(std::string("expected ") + expected + ", got " + typeName(p_[pos_]) + " at byte " +
           std::to_string(pos_));
    }
  }
  return false;
}

MsgpackReader::Type MsgpackReader::peek() const {
  if (!ok()) {
    return Type::kInvalid;
  }
  if (atEnd()) {
    return Type::kEnd;
  }
  const uint8_t b = p_[pos_];
  if (b <= 0x7f || (b >= 0xcc && b <= 0xcf)) {
    return Type::kUint;
  }
  if (b >= 0xe0 || (b >= 0xd0 && b <= 0xd3)) {
    return Type::kInt;
  }
  if ((b & 0xf0) == 0x80 || b == 0xde || b == 0xdf) {
    return Type::kMap;
  }
  if ((b & 0xf0) == 0x90 || b == 0xdc || b == 0xdd) {
    return Type::kArray;
  }
  if ((b & 0xe0) == 0xa0 || (b >= 0xd9 && b <= 0xdb)) {
    return Type::kStr;
  }
  switch (b) {
    case 0xc0:
      return Type::kNil;
    case 0xc2:
    case 0xc3:
      return Type::kBool;
    case 0xc4:
    case 0xc5:
    case 0xc6:
      return Type::kBin;
    case 0xca:
    case 0xcb:
      return Type::kFloat;
    case 0xc1:
      return Type::kInvalid;
    default:
      return Type::kExt;
  }
}

bool MsgpackReader::readNil() {
  if (ok() && !atEnd() && p_[pos_] == 0xc0) {
    ++pos_;
    return true;
  }
  return false;
}

bool MsgpackReader::readLength(uint8_t b, uint8_t fix_base, uint8_t fix_mask, uint8_t c8,
                               uint8_t c16, uint8_t c32, uint32_t* n) {
  if ((b & ~fix_mask) == fix_base) {
    ++pos_;
    *n = b & fix_mask;
    return true;
  }
  size_t width = 0;
  if (c8 != 0 && b == c8) {
    width = 1;
  } else if (b == c16) {
    width = 2;
  } else if (b == c32) {
    width = 4;
  } else {
    return false;
  }
  if (!need(1 + width, "length")) {
    return false;
  }
  ++pos_;
  *n = static_cast<uint32_t>(be(width));
  return true;
}

bool MsgpackReader::readArrayHeaderSlow(uint32_t* n) {
  if (!need(1, "array")) {
    return false;
  }
  if (readNil()) {
    *n = 0;
    return true;
  }
  const size_t at = pos_;
  if (!readLength(p_[pos_], 0x90, 0x0f, 0, 0xdc, 0xdd, n)) {
    return ok() ? typeError("array") : false;
  }
  if (*n > size_ - pos_) {
    fail("array of " + std::to_string(*n) + " elements at byte " + std::to_string(at) +
         " is longer than the body");
    *n = 0;
    return false;
  }
  return true;
}

bool MsgpackReader::readMapHeaderSlow(uint32_t* n) {
  if (!need(1, "map")) {
    return false;
  }
  if (readNil()) {
    *n = 0;
    return true;
  }
  const size_t at = pos_;
  if (!readLength(p_[pos_], 0x80, 0x0f, 0, 0xde, 0xdf, n)) {
    return ok() ? typeError("map") : false;
  }
  if (static_cast<uint64_t>(*n) * 2 > size_ - pos_) {
    fail("map of " + std::to_string(*n) + " entries at byte " + std::to_string(at) +
         " is longer than the body");
    *n = 0;
    return false;
  }
  return true;
}

bool MsgpackReader::readStringSlow(std::string_view* s) {
  if (!need(1, "str")) {
    return false;
  }
  const uint8_t b = p_[pos_];
  uint32_t n = 0;
  if (b == 0xc0) {
    ++pos_;
    *s = {};
    return true;
  }
  if ((b & 0xe0) == 0xa0) {
    n = b & 0x1f;
    ++pos_;
  } else {
    size_t width = 0;
    if (b == 0xd9 || b == 0xc4) {
      width = 1;
    } else if (b == 0xda || b == 0xc5) {
      width = 2;
    } else if (b == 0xdb || b == 0xc6) {
      width = 4;
    } else {
      return typeError("str");
    }
    if (!need(1 + width, "str length")) {
      return false;
    }
    ++pos_;
    n = static_cast<uint32_t>(be(width));
  }
  if (!need(n, "str")) {
    return false;
  }
  *s = std::string_view(reinterpret_cast<const char*>(p_ + pos_), n);
  pos_ += n;
  return true;
}

// Any msgpack integer: its sign and magnitude (two's complement bits for negatives).
bool MsgpackReader::readInteger(bool* negative, uint64_t* bits) {
  const uint8_t b = p_[pos_];
  *negative = false;
  if (b <= 0x7f) {
    ++pos_;
    *bits = b;
    return true;
  }
  if (b >= 0xe0) {
    ++pos_;
    *negative = true;
    *bits = static_cast<uint64_t>(static_cast<int64_t>(static_cast<int8_t>(b)));
    return true;
  }
  size_t width = 0;
  bool is_signed = false;
  switch (b) {
    case 0xcc:
      width = 1;
      break;
    case 0xcd:
      width = 2;
      break;
    case 0xce:
      width = 4;
      break;
    case 0xcf:
      width = 8;
      break;
    case 0xd0:
      width = 1;
      is_signed = true;
      break;
    case 0xd1:
      width = 2;
      is_signed = true;
      break;
    case 0xd2:
      width = 4;
      is_signed = true;
      break;
    case 0xd3:
      width = 8;
      is_signed = true;
      break;
    default:
      return false;
  }
  if (!need(1 + width, "int")) {
    return false;
  }
  ++pos_;
  uint64_t v = be(width);
  if (is_signed) {
    const int shift = static_cast<int>(64 - 8 * width);
    const int64_t sv = static_cast<int64_t>(v << shift) >> shift;  // sign-extend
    *negative = sv < 0;
    v = static_cast<uint64_t>(sv);
  }
  *bits = v;
  return true;
}

bool MsgpackReader::readUint64Slow(uint64_t* v) {
  if (!need(1, "int")) {
    return false;
  }
  if (readNil()) {
    *v = 0;
    return true;
  }
  bool negative = false;
  if (!readInteger(&negative, v)) {
    return ok() ? typeError("int") : false;
  }
  return true;
}

bool MsgpackReader::readInt64Slow(int64_t* v) {
  if (!need(1, "int")) {
    return false;
  }
  if (readNil()) {
    *v = 0;
    return true;
  }
  bool negative = false;
  uint64_t bits = 0;
  const size_t at = pos_;
  if (!readInteger(&negative, &bits)) {
    return ok() ? typeError("int") : false;
  }
  if (!negative && bits > static_cast<uint64_t>(INT64_MAX)) {
    fail("int at byte " + std::to_string(at) + " is above the int64 range");
    return false;
  }
  *v = static_cast<int64_t>(bits);
  return true;
}

bool MsgpackReader::readDoubleSlow(double* v) {
  if (!need(1, "float")) {
    return false;
  }
  const uint8_t b = p_[pos_];
  if (b == 0xcb) {
    if (!need(9, "float64")) {
      return false;
    }
    ++pos_;
    const uint64_t bits = be(8);
    std::memcpy(v, &bits, sizeof *v);
    return true;
  }
  if (b == 0xca) {
    if (!need(5, "float32")) {
      return false;
    }
    ++pos_;
    const uint32_t bits = static_cast<uint32_t>(be(4));
    float f;
    std::memcpy(&f, &bits, sizeof f);
    *v = f;
    return true;
  }
  if (readNil()) {
    *v = 0;
    return true;
  }
  bool negative = false;
  uint64_t bits = 0;
  if (!readInteger(&negative, &bits)) {
    return ok() ? typeError("float") : false;
  }
  *v = negative ? static_cast<double>(static_cast<int64_t>(bits)) : static_cast<double>(bits);
  return true;
}

bool MsgpackReader::readBool(bool* v) {
  if (!need(1, "bool")) {
    return false;
  }
  const uint8_t b = p_[pos_];
  if (b == 0xc2 || b == 0xc3) {
    ++pos_;
    *v = b == 0xc3;
    return true;
  }
  if (readNil()) {
    *v = false;
    return true;
  }
  return typeError("bool");
}

bool MsgpackReader::skip() {
  return skipDepth(0);
}

bool MsgpackReader::skipDepth(int depth) {
  if (depth > 64) {
    fail("nesting deeper than 64 at byte " + std::to_string(pos_));
    return false;
  }
  if (!need(1, "value")) {
    return false;
  }
  const uint8_t b = p_[pos_];
  switch (peek()) {
    case Type::kNil:
    case Type::kBool:
      ++pos_;
      return true;
    case Type::kInt:
    case Type::kUint: {
      bool negative;
      uint64_t bits;
      return readInteger(&negative, &bits);
    }
    case Type::kFloat: {
      double d;
      return readDouble(&d);
    }
    case Type::kStr:
    case Type::kBin: {
      std::string_view s;
      return readString(&s);
    }
    case Type::kArray: {
      uint32_t n = 0;
      if (!readArrayHeader(&n)) {
        return false;
      }
      for (uint32_t i = 0; i < n; ++i) {
        if (!skipDepth(depth + 1)) {
          return false;
        }
      }
      return true;
    }
    case Type::kMap: {
      uint32_t n = 0;
      if (!readMapHeader(&n)) {
        return false;
      }
      for (uint32_t i = 0; i < 2 * n; ++i) {
        if (!skipDepth(depth + 1)) {
          return false;
        }
      }
      return true;
    }
    case Type::kExt: {
      size_t len = 0;
      size_t header = 0;
      switch (b) {
        case 0xd4:
          len = 1;
          header = 2;
          break;
        case 0xd5:
          len = 2;
          header = 2;
          break;
        case 0xd6:
          len = 4;
          header = 2;
          break;
        case 0xd7:
          len = 8;
          header = 2;
          break;
        case 0xd8:
          len = 16;
          header = 2;
          break;
        case 0xc7:
        case 0xc8:
        case 0xc9: {
          const size_t width = b == 0xc7 ? 1 : b == 0xc8 ? 2 : 4;
          if (!need(1 + width, "ext")) {
            return false;
          }
          ++pos_;
          len = static_cast<size_t>(be(width));
          pos_ -= width + 1;
          header = 2 + width;
          break;
        }
        default:
          fail("invalid byte at " + std::to_string(pos_));
          return false;
      }
      if (!need(header + len, "ext")) {
        return false;
      }
      pos_ += header + len;
      return true;
    }
    default:
      fail("invalid byte 0xc1 at byte " + std::to_string(pos_));
      return false;
  }
}

}  // namespace outpost::traces
