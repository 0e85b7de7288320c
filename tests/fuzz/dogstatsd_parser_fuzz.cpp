// libFuzzer target for the DogStatsD parser: any bytes must parse without a crash, a sanitizer
// report or a view escaping the datagram (or the parser's scratch for unescaped event/check text).

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "collector/sources/dogstatsd/parser.h"

namespace {

using outpost::dogstatsd::Event;
using outpost::dogstatsd::Metadata;
using outpost::dogstatsd::ParseError;
using outpost::dogstatsd::Parser;
using outpost::dogstatsd::ParserOptions;
using outpost::dogstatsd::Sample;
using outpost::dogstatsd::ServiceCheck;

class Checker : public outpost::dogstatsd::Handler {
 public:
  explicit Checker(std::string_view datagram) : datagram_(datagram) {}

  void onSample(const Sample& s) override {
    inside(s.name);
    inside(s.set_value);
    checkMetadata(s);
    if (s.name.empty() || !(s.sample_rate > 0 && s.sample_rate <= 1) || s.timestamp < 0) {
      std::abort();
    }
    ++calls;
  }
  void onEvent(const Event& e) override {
    touch(e.title);  // may be unescaped into scratch: only read it
    touch(e.text);
    if (e.title.empty()) {
      std::abort();
    }
    checkMetadata(e);
    ++calls;
  }
  void onServiceCheck(const ServiceCheck& c) override {
    inside(c.name);
    touch(c.message);
    if (c.status > 3) {
      std::abort();
    }
    checkMetadata(c);
    ++calls;
  }
  void onError(ParseError error, std::string_view line) override {
    inside(line);
    if (error >= ParseError::kCount) {
      std::abort();
    }
  }

  size_t calls = 0;

 private:
  void inside(std::string_view v) {
    if (!v.empty() && (v.data() < datagram_.data() ||
                       v.data() + v.size() > datagram_.data() + datagram_.size())) {
      std::abort();
    }
  }
  void touch(std::string_view v) {
    volatile char sink = 0;
    for (char ch : v) {
      sink = static_cast<char>(sink ^ ch);
    }
  }
  void checkMetadata(const Metadata& m) {
    for (std::string_view t : m.tags) {
      if (t.empty()) {
        std::abort();
      }
      inside(t);
    }
    inside(m.host);
    inside(m.container_id);
    inside(m.cgroup_inode);
    inside(m.external_data);
    inside(m.cardinality);
    inside(m.entity_id);
  }

  std::string_view datagram_;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view datagram(reinterpret_cast<const char*>(data), size);
  for (bool eol_required : {false, true}) {
    Parser parser(ParserOptions{.eol_required = eol_required});
    Checker checker(datagram);
    size_t accepted = parser.parse(datagram, checker);
    // Twice with one parser: reused internal buffers must not leak state between datagrams.
    accepted += parser.parse(datagram, checker);
    if (accepted > 2 * (size + 1) ||
        parser.samples() + parser.events() + parser.serviceChecks() != checker.calls) {
      std::abort();
    }
  }
  return 0;
}
