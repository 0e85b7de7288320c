// outpost-bench-mcp: what outpost-mcp adds to a tool call over calling the query socket
// directly, and its memory, against a real `outpost run` in local mode.
//
//   outpost-bench-mcp [--calls N]        (default 300)
//
// Two calls, each N times, alternating direct and through the shim, medians: /v1/status
// (agent_status) and a log search over a 20,000-line file (search_logs, limit 50). The shim
// runs on pipes as an MCP client runs it; its peak RSS (VmHWM) is read from /proc at the end.
// The last line is `RESULT key=value ...`.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "collector/query/query_client.h"

namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
using nlohmann::json;

[[noreturn]] void die(const std::string& why) {
  std::fprintf(stderr, "outpost-bench-mcp: %s\n", why.c_str());
  std::exit(1);
}

double ms(Clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

long vmKib(pid_t pid, const char* key) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(key, 0) == 0) {
      return std::strtol(line.c_str() + std::strlen(key), nullptr, 10);
    }
  }
  return -1;
}

}  // namespace

int main(int argc, char** argv) {
  int calls = 300;
  const fs::path bin = fs::path(argv[0]).parent_path();
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--calls" && i + 1 < argc) {
      calls = std::max(1, std::atoi(argv[++i]));
    } else {
      std::fprintf(stderr, "usage: outpost-bench-mcp [--calls N]\n");
      return 2;
    }
  }
  char tmpl[] = "/tmp/outpost-bench-mcp-XXXXXX";
  const std::string root = ::mkdtemp(tmpl);
  {
    std::ofstream log(root + "/app.log");
    for (int i = 0; i < 20000; ++i) {
      log << "worker " << i << (i % 100 == 0 ? " ERROR db timeout" : " request ok") << "\n";
    }
  }
  fs::create_directories(root + "/conf.d/app.d");
  std::ofstream(root + "/outpost.yaml")
      << "hostname: bench-host\nuse_dogstatsd: false\n"
      << "apm_config:\n  enabled: false\nrun_path: " << root << "/run\nquery:\n  cache_ttl: 0\n";
  std::ofstream(root + "/conf.d/app.d/conf.yaml")
      << "logs:\n  - type: file\n    path: " << root << "/app.log\n    service: app\n";
  const pid_t daemon = ::fork();
  if (daemon == 0) {
    std::freopen("/dev/null", "w", stdout);
    std::freopen((root + "/outpost.err").c_str(), "w", stderr);
    const std::string outpost = (bin / "outpost").string();
    ::execl(outpost.c_str(), outpost.c_str(), "run", "-c", root.c_str(), nullptr);
    ::_exit(127);
  }
  const std::string socket = root + "/run/query.sock";
  for (int i = 0; i < 100 && !fs::exists(socket); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  // The shim on pipes.
  int in[2], out[2];
  if (::pipe(in) != 0 || ::pipe(out) != 0) {
    die("pipe");
  }
  const pid_t shim = ::fork();
  if (shim == 0) {
    ::dup2(in[0], 0);
    ::dup2(out[1], 1);
    ::close(in[1]);
    ::close(out[0]);
    const std::string mcp = (bin / "outpost-mcp").string();
    ::execl(mcp.c_str(), mcp.c_str(), "--socket", socket.c_str(), "--log-level", "off", nullptr);
    ::_exit(127);
  }
  ::close(in[0]);
  ::close(out[1]);
  FILE* to = ::fdopen(in[1], "w");
  FILE* from = ::fdopen(out[0], "r");
  char* line = nullptr;
  size_t cap = 0;
  int id = 0;
  auto rpc = [&](const std::string& method, const json& params) {
    const std::string msg =
        json{{"jsonrpc", "2.0"}, {"id", ++id}, {"method", method}, {"params", params}}.dump() +
        "\n";
    std::fwrite(msg.data(), 1, msg.size(), to);
    std::fflush(to);
    if (::getline(&line, &cap, from) <= 0) {
      die("the shim did not answer");
    }
    const json j = json::parse(line);
    if (!j.contains("result") || (j["result"].contains("isError") && j["result"]["isError"])) {
      die("the shim answered an error: " + j.dump());
    }
  };
  rpc("initialize", {{"protocolVersion", "2025-11-25"}, {"capabilities", json::object()}});
  struct Case {
    const char* name;
    const char* key;
    std::string method, target, body;
    std::string tool;
    json args;
  };
  const std::vector<Case> cases = {
      {"status (agent_status)", "status", "GET", "/v1/status", "", "agent_status", json::object()},
      {"log search (search_logs, limit 50)",
       "search",
       "POST",
       "/v1/logs/search",
       R"({"query":"ERROR","limit":50,"from":"-15m"})",
       "search_logs",
       {{"query", "ERROR"}, {"limit", 50}}},
  };
  std::printf("outpost-bench-mcp: %d calls of each, medians\n\n", calls);
  std::printf("%-38s %12s %12s %12s\n", "call", "socket ms", "via shim ms", "added ms");
  std::string result = "RESULT calls=" + std::to_string(calls);
  for (const auto& c : cases) {
    std::vector<double> direct, via;
    for (int i = 0; i < calls; ++i) {
      auto t0 = Clock::now();
      const auto r = outpost::query::queryRequest(socket, c.method, c.target, c.body,
                                                  std::chrono::seconds(30));
      direct.push_back(ms(t0));
      if (!r.ok || r.status != 200) {
        die("direct call failed: " + r.error + " " + r.body);
      }
      t0 = Clock::now();
      rpc("tools/call", {{"name", c.tool}, {"arguments", c.args}});
      via.push_back(ms(t0));
    }
    const double d = median(direct), v = median(via);
    std::printf("%-38s %12.3f %12.3f %12.3f\n", c.name, d, v, v - d);
    result += std::string(" ") + c.key + "_added_ms=" + std::to_string(v - d);
  }
  const long hwm = vmKib(shim, "VmHWM:");
  std::printf("\nshim peak RSS (VmHWM): %.1f MiB (target <= 10 MiB; added time target <= 5 ms)\n\n",
              static_cast<double>(hwm) / 1024.0);
  result += " shim_rss_mib=" + std::to_string(static_cast<double>(hwm) / 1024.0);
  std::printf("%s\n", result.c_str());
  std::fclose(to);
  ::waitpid(shim, nullptr, 0);
  std::fclose(from);
  std::free(line);
  ::kill(daemon, SIGTERM);
  ::waitpid(daemon, nullptr, 0);
  fs::remove_all(root);
  return 0;
}
