#pragma once

#include <string>
#include <string_view>

#include <yaml-cpp/yaml.h>

namespace outpost {

// What replaces a secret wherever it would be shown. Never reveals any part of the secret.
inline constexpr std::string_view kRedacted = "********";

// True for key names whose values are secrets: api_key, app_key, *_key, password, passwd,
// *secret*, *token* (case-insensitive), as the Datadog Agent's scrubber treats them.
bool isSecretKeyName(std::string_view key);

std::string redactSecret(std::string_view value);
// Hides the password of a URL's user-info: http://user:pass@host -> http://user:********@host.
std::string redactUrl(std::string_view url);
// A deep copy of `node` with the values of secret keys redacted (conf.d instances).
YAML::Node redactNode(const YAML::Node& node);

}  // namespace outpost
