// libFuzzer target for configuration loading: any outpost.yaml text, conf.d check configuration
// and DD_* environment must load or be refused with errors, never crash, hang, trip a sanitizer
// or let an exception escape loadConfig(). Asserted: a result is loaded iff it has no errors;
// every message has a text, and one about a file names a line inside that file; a loaded
// configuration has an origin for every schema key and renders every key.
//
// Input layout: the outpost.yaml text, then optionally a line "#%conf.d" followed by the text of
// conf.d/check.d/conf.yaml, then optionally a line "#%env" followed by NAME=value lines. The
// files are rewritten in one temporary directory per process; conf.d is pinned there (the
// environment's DD_CONFD_PATH wins over the file) so no input reads elsewhere.

#include <unistd.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "core/config.h"
#include "core/config_schema.h"
#include "core/log.h"

namespace {

namespace fs = std::filesystem;

void check(bool ok) {
  if (!ok) {
    std::abort();
  }
}

struct Dirs {
  std::string root;
  std::string confd;
  std::string check_file;
  std::string main_file;
};

// This process's directory, on tmpfs where there is one (every iteration rewrites the files),
// removed at exit.
std::string makeTempDir() {
  static std::string root;
  root = std::string(::access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp") +
         "/outpost-fuzz-config-XXXXXX";
  check(::mkdtemp(root.data()) != nullptr);
  std::atexit([] {
    std::error_code ec;
    fs::remove_all(root, ec);
  });
  return root;
}

const Dirs& dirs() {
  static const Dirs d = [] {
    const std::string root = makeTempDir();
    Dirs out;
    out.root = root;
    out.confd = out.root + "/conf.d";
    out.check_file = out.confd + "/check.d/conf.yaml";
    out.main_file = out.root + "/outpost.yaml";
    fs::create_directories(out.confd + "/check.d");
    outpost::Logger::instance().setLevel(outpost::LogLevel::kOff);
    return out;
  }();
  return d;
}

void writeFile(const std::string& path, std::string_view text) {
  FILE* f = std::fopen(path.c_str(), "wb");
  check(f != nullptr);
  check(std::fwrite(text.data(), 1, text.size(), f) == text.size());
  check(std::fclose(f) == 0);
}

// Splits `text` at the first line that is exactly `marker`: (before, after); after is nullopt
// without one.
std::pair<std::string_view, std::optional<std::string_view>> splitAt(std::string_view text,
                                                                     std::string_view marker) {
  const std::string needle = "\n" + std::string(marker) + "\n";
  const size_t at = text.find(needle);
  if (at == std::string_view::npos) {
    return {text, std::nullopt};
  }
  return {text.substr(0, at + 1), text.substr(at + needle.size())};
}

size_t lineCount(std::string_view text) {
  return static_cast<size_t>(std::count(text.begin(), text.end(), '\n')) + 1;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const Dirs& d = dirs();
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  auto [main_and_confd, env_text] = splitAt(input, "#%env");
  auto [main_text, confd_text] = splitAt(main_and_confd, "#%conf.d");

  writeFile(d.main_file, main_text);
  std::error_code ec;
  fs::remove(d.check_file, ec);
  if (confd_text) {
    writeFile(d.check_file, *confd_text);
  }
  std::map<std::string, std::string> env;
  if (env_text) {
    std::string_view rest = *env_text;
    while (!rest.empty()) {
      const size_t nl = rest.find('\n');
      const std::string_view line = rest.substr(0, nl);
      rest = nl == std::string_view::npos ? std::string_view() : rest.substr(nl + 1);
      const size_t eq = line.find('=');
      if (eq != std::string_view::npos && line.starts_with("DD_")) {
        env[std::string(line.substr(0, eq))] = std::string(line.substr(eq + 1));
      }
    }
  }
  env["DD_CONFD_PATH"] = d.confd;
  const outpost::EnvLookup lookup = [&env](const std::string& name) {
    auto it = env.find(name);
    return it == env.end() ? std::nullopt : std::optional<std::string>(it->second);
  };

  const outpost::ConfigResult result = outpost::loadConfig(d.root, lookup);

  check(result.loaded.has_value() == result.errors.empty());
  const size_t main_lines = lineCount(main_text);
  const size_t confd_lines = confd_text ? lineCount(*confd_text) : 0;
  for (const auto* list : {&result.errors, &result.warnings}) {
    for (const outpost::ConfigMessage& m : *list) {
      check(!m.text.empty() && m.line >= 0 && m.column >= 0);
      if (m.file == d.main_file) {
        check(static_cast<size_t>(m.line) <= main_lines);
      } else if (m.file == d.check_file) {
        check(static_cast<size_t>(m.line) <= confd_lines);
      }
      check(!m.format().empty());
    }
  }
  if (result.loaded) {
    const outpost::LoadedConfig& loaded = *result.loaded;
    for (const auto& def : outpost::configSchema()) {
      check(loaded.origins.count(std::string(def.key)) == 1);
      (void)outpost::renderValue(def, loaded.config);
    }
    check(loaded.config.confd_path == d.confd);
    for (const auto& entry : loaded.confd) {
      check(entry.file == d.check_file && entry.name == "check");
    }
  }
  return 0;
}
