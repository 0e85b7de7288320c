#pragma once

#include <string_view>

namespace outpost::logs {

// The severity of one log line, as sent in the intake's "status" field: "emergency", "alert",
// "critical", "error", "warning", "notice", "info" or "debug" (a static string).
//
//   - A syslog "<PRI>" prefix (RFC 3164 / 5424, PRI 0..191): severity = PRI % 8, in the order
//     emergency, alert, critical, error, warning, notice, info, debug.
//   - Else, for a line that is a JSON object: its top-level "status", "level" or "severity"
//     member (first found in that order of preference) when it is a string naming a severity,
//     case-insensitively: emerg/emergency/panic, alert, crit/critical/fatal, err/error,
//     warn/warning, notice, info/information/informational, debug/trace.
//   - Else "info".
// Cheap: only the first bytes are looked at unless the line starts with '{'; nested values are
// skipped, never parsed into anything. Malformed JSON ends the search ("info").
std::string_view detectStatus(std::string_view content);

// `value` normalised to one of the eight statuses above, or empty when it names none.
std::string_view normalizeStatus(std::string_view value);

}  // namespace outpost::logs
