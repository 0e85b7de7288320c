// outpost-mcp: the MCP stdio server over Outpost's query socket (docs/mcp.md).
//
//   outpost-mcp [--socket PATH] [--max-result-bytes N] [--log-level LEVEL]
//
// JSON-RPC messages one a line on stdin, answers on stdout, logs on stderr; exits when stdin
// closes.
#include <sys/stat.h>
#include <unistd.h>
#include <yaml-cpp/yaml.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <string>

#include "core/build_info.h"
#include "mcp/server.h"

namespace {

constexpr const char* kUsage =
    "usage: outpost-mcp [--socket PATH] [--max-result-bytes N] [--log-level LEVEL]\n"
    "\n"
    "The MCP server (stdio) that lets AI agents ask this host's Outpost agent about its logs,\n"
    "metrics, traces and status, through the query socket. Read-only.\n"
    "\n"
    "  --socket PATH           the query socket (default: $OUTPOST_QUERY_SOCKET, else\n"
    "                          query_socket of /etc/outpost/outpost.yaml, else\n"
    "                          /run/outpost/query.sock)\n"
    "  --max-result-bytes N    at most this much JSON per tool result (default 65536)\n"
    "  --log-level LEVEL       stderr: debug, info, warn, error, off (default warn)\n"
    "  --version, --help\n";

bool exists(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0;
}

// Where the daemon's socket is: the environment, then outpost.yaml as the daemon reads it.
std::string defaultSocket() {
  if (const char* env = std::getenv("OUTPOST_QUERY_SOCKET"); env != nullptr && *env != '\0') {
    return env;
  }
  std::string socket = "/run/outpost/query.sock";
  try {
    const YAML::Node cfg = YAML::LoadFile("/etc/outpost/outpost.yaml");
    std::string run_path = "/var/lib/outpost";
    if (cfg["run_path"] && cfg["run_path"].IsScalar()) {
      run_path = cfg["run_path"].as<std::string>();
    }
    if (cfg["query_socket"] && cfg["query_socket"].IsScalar()) {
      socket = cfg["query_socket"].as<std::string>();
      if (!socket.empty() && socket[0] != '/') {
        socket = run_path + "/" + socket;
      }
    } else if (!exists(socket) && exists(run_path + "/query.sock")) {
      socket = run_path + "/query.sock";  // local mode (no api_key): under run_path
    }
  } catch (const std::exception&) {
    // No readable configuration: the default.
  }
  return socket;
}

}  // namespace

int main(int argc, char** argv) {
  outpost::mcp::Server::Options options;
  options.socket_path.clear();
  std::string log_level = "warn";
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&](const char* name) -> std::string {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "outpost-mcp: %s needs a value\n%s", name, kUsage);
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--socket") {
      options.socket_path = value("--socket");
    } else if (a == "--max-result-bytes") {
      const std::string v = value("--max-result-bytes");
      char* end = nullptr;
      const unsigned long long n = std::strtoull(v.c_str(), &end, 10);
      if (end == v.c_str() || *end != '\0' || n < 1024 || n > (64ull << 20)) {
        std::fprintf(stderr, "outpost-mcp: --max-result-bytes must be from 1024 to 67108864\n");
        return 2;
      }
      options.max_result_bytes = static_cast<size_t>(n);
    } else if (a == "--log-level") {
      log_level = value("--log-level");
      if (log_level != "debug" && log_level != "info" && log_level != "warn" &&
          log_level != "error" && log_level != "off") {
        std::fprintf(stderr, "outpost-mcp: --log-level: debug, info, warn, error or off\n");
        return 2;
      }
    } else if (a == "--version") {
      std::printf("outpost-mcp %s (%s)\n", outpost::build::kVersion, outpost::build::kGitCommit);
      return 0;
    } else if (a == "--help" || a == "-h") {
      std::fputs(kUsage, stdout);
      return 0;
    } else {
      std::fprintf(stderr, "outpost-mcp: unknown argument '%s'\n%s", a.c_str(), kUsage);
      return 2;
    }
  }
  if (options.socket_path.empty()) {
    options.socket_path = defaultSocket();
  }
  const bool info = log_level == "debug" || log_level == "info";
  if (info) {
    std::fprintf(stderr, "outpost-mcp: serving MCP on stdio over %s\n",
                 options.socket_path.c_str());
  }
  {
    outpost::mcp::Server server(options, [](const std::string& line) {
      std::fwrite(line.data(), 1, line.size(), stdout);
      std::fflush(stdout);
    });
    std::string line;
    while (std::getline(std::cin, line)) {
      if (log_level == "debug") {
        std::fprintf(stderr, "outpost-mcp: <- %.200s\n", line.c_str());
      }
      server.handleLine(line);
    }
    server.finish();  // answers still being worked on go out before we exit
  }
  if (info) {
    std::fprintf(stderr, "outpost-mcp: stdin closed, exiting\n");
  }
  return 0;
}
