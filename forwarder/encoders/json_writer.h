#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

// A small streaming JSON writer for the intake payloads (check runs, events, ...): no DOM, no
// exceptions, always valid output. Strings are escaped as RFC 8259 asks: `"` and `\`, control
// characters as \b \f \n \r \t or \u00XX; invalid UTF-8 is replaced with U+FFFD (one per
// maximal invalid subpart, as Unicode recommends), so the intake never sees a bad byte.

namespace outpost {

// True when `s` is well-formed UTF-8 (no overlong forms, surrogates or code points past
// U+10FFFF).
bool isValidUtf8(std::string_view s);

// `s` with every maximal invalid UTF-8 subpart replaced by U+FFFD.
std::string toValidUtf8(std::string_view s);

// Escapes `s` as the inside of a JSON string (no quotes) onto `out`; plain runs are scanned
// eight bytes at a time (the logs encoder's hot path).
void appendJsonStringBody(std::string& out, std::string_view s);

// Appends `s` to `out` as a quoted, escaped JSON string.
void appendJsonString(std::string& out, std::string_view s);

// The quoted, escaped JSON string for `s`.
std::string jsonString(std::string_view s);

// Writes one JSON value into a string. Commas and colons are placed for the caller; writing a
// value where none may go (a value in an object without key(), an unbalanced end) is a bug and
// asserts.
class JsonWriter {
 public:
  JsonWriter& beginObject();
  JsonWriter& endObject();
  JsonWriter& beginArray();
  JsonWriter& endArray();
  JsonWriter& key(std::string_view name);
  JsonWriter& string(std::string_view value);
  JsonWriter& integer(int64_t value);
  JsonWriter& uinteger(uint64_t value);
  // Shortest form that reads back to the same double; NaN and infinities become null.
  JsonWriter& number(double value);
  JsonWriter& boolean(bool value);
  JsonWriter& null();
  // A value already encoded as JSON (e.g. a piece another JsonWriter wrote), copied as is.
  JsonWriter& raw(std::string_view json);
  // An array of strings.
  JsonWriter& stringArray(const std::vector<std::string>& values);

  const std::string& str() const { return out_; }
  // The text so far; the writer is left empty.
  std::string take();

 private:
  void beforeValue();

  std::string out_;
  // One entry per open container: true for an object; whether a member was written yet.
  struct Level {
    bool object;
    bool empty;
  };
  std::vector<Level> levels_;
  bool after_key_ = false;
};

}  // namespace outpost
