#pragma once

// DogStatsD wire parser (spec: wire-formats.md §1.2–§1.5).
//
// One Parser per receiving thread. parse() takes one datagram, splits it into lines, and calls the
// Handler once per accepted sample (a multi-value line gives one call per value), event or service
// check. Every string_view handed to the handler points into the datagram or into parser-owned
// scratch space and is valid only during that call. A malformed line is rejected with one
// ParseError, counted in errorCounts(), reported to Handler::onError, and the rest of the datagram
// is still parsed.
//
// Choices where the Agent's behaviour is unspecified or unsafe (all counted, none throw):
// - Values and sample rates are parsed like Go's strconv.ParseFloat (decimal or exponent form, an
//   optional leading '+'), but NaN and ±Inf are rejected (kBadValue / kBadSampleRate): the Agent
//   accepts them and a single NaN poisons a counter or a sketch for the whole flush. Hexadecimal
//   floats and out-of-range values are rejected, as ParseFloat does for the latter.
// - A sample rate must be in (0, 1]; anything else is kBadSampleRate (the Agent would divide by 0).
// - A set value containing ':' is kSetMultiValue (the Agent keeps the raw string "a:b").
// - A value list with only empty entries ("a::|c") is kNoValue (the Agent silently drops it).
// - Empty tags (",," or a trailing ',') are skipped; tags are otherwise kept byte for byte.
// - When a line carries several "|#" fields, the last one wins (as in the Agent).
// - Events: the byte after the title must be '|', and the text must be followed by '|' or the end
//   of the line; otherwise the declared lengths are wrong (kEventTitleLength / kEventTextLength).
// - Service checks: "m:" is an ordinary '|'-separated field (as in the Agent), so a message cannot
//   contain '|'.
// - eol_required: a final line without '\n' is dropped and counted as kMissingEol.

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace outpost::dogstatsd {

enum class MetricType : uint8_t { kCounter, kGauge, kHistogram, kTiming, kDistribution, kSet };

std::string_view metricTypeName(MetricType type);  // the wire string: "c", "g", "h", "ms", "d", "s"

// Tags and origin fields every message kind carries. Special tags (§1.3) are removed from `tags`
// and exposed here: host:<h>, dd.internal.entity_id:<uid>, dd.internal.card:<c>,
// dd.internal.jmx_check_name:<n>.
struct Metadata {
  std::span<const std::string_view> tags;  // deduplicated (first occurrence kept), order kept
  std::string_view host;                   // from "host:" (or an event's/check's non-empty "h:")
  bool has_host = false;                   // a host was given (possibly empty: "host:")
  std::string_view local_data;             // raw "c:" field
  std::string_view container_id;           // from c: "ci-<id>", "cid-<id>" or a bare id
  std::string_view cgroup_inode;           // from c: "in-<inode>"
  std::string_view external_data;          // raw "e:" field
  std::string_view cardinality;            // "card:" field, else the dd.internal.card tag
  std::string_view entity_id;              // dd.internal.entity_id tag
  std::string_view jmx_check_name;         // dd.internal.jmx_check_name tag
};

struct Sample : Metadata {
  std::string_view name;
  MetricType type = MetricType::kGauge;
  double value = 0;            // unused for sets
  std::string_view set_value;  // sets only: the raw value
  double sample_rate = 1;      // in (0, 1]
  int64_t timestamp = 0;       // "|T": > 0 when present, 0 when absent
};

enum class EventPriority : uint8_t { kNormal, kLow };
enum class AlertType : uint8_t { kInfo, kError, kWarning, kSuccess };

struct Event : Metadata {
  std::string_view title;            // "\\n" unescaped to a newline (may point into parser scratch)
  std::string_view text;             // same
  int64_t timestamp = 0;             // "d:"; 0 when absent or invalid
  std::string_view aggregation_key;  // "k:"
  EventPriority priority = EventPriority::kNormal;  // "p:normal|low"; invalid values ignored
  std::string_view source_type_name;                // "s:"
  AlertType alert_type = AlertType::kInfo;  // "t:error|warning|info|success"; invalid ignored
};

struct ServiceCheck : Metadata {
  std::string_view name;
  uint8_t status = 0;        // 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN
  int64_t timestamp = 0;     // "d:"; 0 when absent or invalid
  std::string_view message;  // "m:", with "m\:" -> "m:" and "\\n" -> newline
};

// One reason per way a line can be rejected. parseErrorName() gives the counter tag value.
enum class ParseError : uint8_t {
  kNoType,                 // metric line without '|'
  kNoValue,                // no ':' in name:values, empty values, or only empty entries
  kEmptyName,              // empty metric name
  kUnknownType,            // type not one of c g h d s ms
  kBadValue,               // a value is not a finite float64
  kSetMultiValue,          // a set value containing ':'
  kBadSampleRate,          // "@" not a float in (0, 1]
  kBadTimestamp,           // "T" not a positive int64
  kEventTooShort,          // event line shorter than 7 bytes
  kEventHeader,            // "_e{N,M}:" malformed
  kEventTitleLength,       // title length 0, past the end, or not followed by '|'
  kEventTextLength,        // text past the end, or not followed by '|' or the end
  kServiceCheckTooShort,   // fewer than 2 '|', shorter than 4 bytes, or no "_sc|"
  kServiceCheckEmptyName,  // "_sc||0"
  kServiceCheckBadStatus,  // status not an integer 0..3
  kMissingEol,             // eol_required and the datagram's last line has no '\n'
  kCount,
};

std::string_view parseErrorName(ParseError error);  // snake_case, e.g. "unknown_type"

class Handler {
 public:
  virtual ~Handler() = default;
  virtual void onSample(const Sample& sample) = 0;
  virtual void onEvent(const Event& event) = 0;
  virtual void onServiceCheck(const ServiceCheck& check) = 0;
  // `line` is the rejected line (without its '\n' and trailing '\r').
  virtual void onError(ParseError /*error*/, std::string_view /*line*/) {}
};

struct ParserOptions {
  bool eol_required = false;  // dogstatsd_eol_required lists this parser's transport
};

class Parser {
 public:
  explicit Parser(ParserOptions options = {});

  // Parses one datagram; returns the number of lines (messages) accepted.
  size_t parse(std::string_view datagram, Handler& handler);

  using ErrorCounts = std::array<uint64_t, static_cast<size_t>(ParseError::kCount)>;
  const ErrorCounts& errorCounts() const { return error_counts_; }
  uint64_t errorCount(ParseError error) const { return error_counts_[static_cast<size_t>(error)]; }
  uint64_t errors() const;
  uint64_t samples() const { return samples_; }  // one per value
  uint64_t metricMessages() const { return metric_messages_; }
  uint64_t events() const { return events_; }
  uint64_t serviceChecks() const { return service_checks_; }

 private:
  bool parseLine(std::string_view line, Handler& handler);
  bool parseMetric(std::string_view line, Handler& handler);
  bool parseEvent(std::string_view line, Handler& handler);
  bool parseServiceCheck(std::string_view line, Handler& handler);
  bool reject(ParseError error, std::string_view line, Handler& handler);
  // Fills tags_ from a raw "#" field and moves special tags into `meta`.
  void applyTags(std::string_view raw, Metadata& meta);
  static void applyLocalData(std::string_view raw, Metadata& meta);

  ParserOptions options_;
  ErrorCounts error_counts_{};
  uint64_t samples_ = 0;
  uint64_t metric_messages_ = 0;
  uint64_t events_ = 0;
  uint64_t service_checks_ = 0;
  // Reused across lines so the steady state allocates nothing.
  std::vector<std::string_view> tags_;
  std::vector<double> values_;
  std::string scratch_;
};

}  // namespace outpost::dogstatsd
