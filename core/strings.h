#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace outpost {

std::string toLower(std::string_view s);
std::string toUpper(std::string_view s);
std::string_view trim(std::string_view s);
bool startsWith(std::string_view s, std::string_view prefix);
bool endsWith(std::string_view s, std::string_view suffix);

// Splits on any run of ASCII whitespace; no empty fields (like Go's strings.Fields).
std::vector<std::string> splitFields(std::string_view s);
// Splits on every `sep`, keeping empty fields.
std::vector<std::string> split(std::string_view s, char sep);
std::string join(const std::vector<std::string>& parts, std::string_view sep);

// Levenshtein distance, for "did you mean" suggestions.
size_t editDistance(std::string_view a, std::string_view b);

// Escapes control and non-ASCII bytes as \xNN, so untrusted bytes are safe to log.
std::string escapeBytes(std::string_view s, size_t max_len = 256);

// "a=1&b=x%20y" → {{"a","1"},{"b","x y"}}: percent-escapes and '+' decoded; a malformed
// escape is kept as it is.
std::vector<std::pair<std::string, std::string>> parseQueryString(std::string_view s);

}  // namespace outpost
