#include "core/redact.h"

#include "core/strings.h"

namespace outpost {

bool isSecretKeyName(std::string_view key) {
  const std::string k = toLower(key);
  return k == "api_key" || k == "app_key" || k.ends_with("_key") || k == "password" ||
         k == "passwd" || k == "pwd" || k.find("secret") != std::string::npos ||
         k.find("token") != std::string::npos || k.ends_with("_password");
}

std::string redactSecret(std::string_view value) {
  return value.empty() ? std::string() : std::string(kRedacted);
}

std::string redactUrl(std::string_view url) {
  const size_t scheme = url.find("://");
  const size_t start = scheme == std::string_view::npos ? 0 : scheme + 3;
  const size_t at = url.find('@', start);
  if (at == std::string_view::npos) {
    return std::string(url);
  }
  const size_t colon = url.find(':', start);
  std::string out(url.substr(0, start));
  if (colon != std::string_view::npos && colon < at) {
    out += url.substr(start, colon - start);
    out += ':';
  }
  out += kRedacted;
  out += url.substr(at);
  return out;
}

YAML::Node redactNode(const YAML::Node& node) {
  if (node.IsMap()) {
    YAML::Node out(YAML::NodeType::Map);
    for (const auto& kv : node) {
      const std::string key = kv.first.Scalar();
      if (kv.second.IsScalar() && isSecretKeyName(key)) {
        out[key] = redactSecret(kv.second.Scalar());
      } else {
        out[key] = redactNode(kv.second);
      }
    }
    return out;
  }
  if (node.IsSequence()) {
    YAML::Node out(YAML::NodeType::Sequence);
    for (const auto& item : node) {
      out.push_back(redactNode(item));
    }
    return out;
  }
  return YAML::Clone(node);
}

}  // namespace outpost
