#include "core/version.h"

#include <curl/curl.h>
#include <fmt/format.h>
#include <uv.h>
#include <zstd.h>

#include "core/build_info.h"

namespace outpost {

const char* versionString() {
  return build::kVersion;
}

std::string versionReport() {
  const curl_version_info_data* curl = curl_version_info(CURLVERSION_NOW);
  std::string out;
  out += fmt::format("outpost {}\n", build::kVersion);
  out += fmt::format("commit: {}\n", build::kGitCommit);
  out += fmt::format("build: {}\n", build::kBuildType);
  out += fmt::format("compiler: {}\n", __VERSION__);
  out += "libraries:\n";
  out += fmt::format("  libuv: {}\n", uv_version_string());
  out += fmt::format("  libcurl: {} ({})\n", curl->version,
                     curl->ssl_version ? curl->ssl_version : "no TLS");
  out += fmt::format("  zstd: {}\n", ZSTD_versionString());
  out += fmt::format("  yaml-cpp: {}\n", build::kYamlCppVersion);
  out += fmt::format("  libsystemd: {}\n", build::kSystemdVersion);
  out += fmt::format("  fmt: {}.{}.{}\n", FMT_VERSION / 10000, FMT_VERSION / 100 % 100,
                     FMT_VERSION % 100);
  return out;
}

}  // namespace outpost
