// outpost-mcp as an AI agent's client runs it: the real binary on pipes, over a real daemon's
// query socket. The handshake, a log search that finds lines in a file, the recent lines, the
// status and checks, a tool's bad arguments, the daemon stopped (an actionable error, not a
// crash), and the exit when stdin closes.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>

#include "tests/support/test_support.h"

namespace outpost {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;
using testing::NotifySocket;
using testing::Process;
using testing::TempDir;

// outpost-mcp on two pipes.
class Shim {
 public:
  explicit Shim(const std::string& socket) {
    int in[2], out[2];
    EXPECT_EQ(::pipe(in), 0);
    EXPECT_EQ(::pipe(out), 0);
    pid_ = ::fork();
    if (pid_ == 0) {
      ::dup2(in[0], 0);
      ::dup2(out[1], 1);
      ::close(in[1]);
      ::close(out[0]);
      ::execl(OUTPOST_MCP_BIN, OUTPOST_MCP_BIN, "--socket", socket.c_str(), "--log-level", "off",
              nullptr);
      ::_exit(127);
    }
    ::close(in[0]);
    ::close(out[1]);
    to_ = ::fdopen(in[1], "w");
    from_ = ::fdopen(out[0], "r");
  }
  ~Shim() {
    closeInput();
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
    if (from_ != nullptr) {
      std::fclose(from_);
    }
  }
  json call(const json& message) {
    const std::string line = message.dump() + "\n";
    std::fwrite(line.data(), 1, line.size(), to_);
    std::fflush(to_);
    return read();
  }
  json read() {
    char* buf = nullptr;
    size_t cap = 0;
    const ssize_t n = ::getline(&buf, &cap, from_);
    json j = n > 0 ? json::parse(std::string(buf, static_cast<size_t>(n)), nullptr, false) : json();
    std::free(buf);
    return j;
  }
  json tool(int id, const std::string& name, json args = json::object()) {
    return call({{"jsonrpc", "2.0"},
                 {"id", id},
                 {"method", "tools/call"},
                 {"params", {{"name", name}, {"arguments", std::move(args)}}}});
  }
  void closeInput() {
    if (to_ != nullptr) {
      std::fclose(to_);
      to_ = nullptr;
    }
  }
  // Exit code once the shim has exited, -1 after 5 s.
  int wait() {
    for (int i = 0; i < 250; ++i) {
      int status = 0;
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      }
      std::this_thread::sleep_for(20ms);  // polling another process
    }
    return -1;
  }

 private:
  pid_t pid_ = -1;
  FILE* to_ = nullptr;
  FILE* from_ = nullptr;
};

TEST(McpProcessTest, ToolsOverARealDaemon) {
  TempDir dir;
  std::string text;
  for (int i = 1; i <= 200; ++i) {
    text += "worker " + std::to_string(i) + (i % 50 == 0 ? " ERROR auth timeout" : " ok") + "\n";
  }
  dir.write("logs/auth.log", text);
  dir.write("conf.d/auth.d/conf.yaml",
            "logs:\n  - type: file\n    path: " + dir.file("logs/auth.log") +
                "\n    service: auth\n    source: auth\n"
                "    start_position: beginning\n");
  dir.write("outpost.yaml",
            "hostname: h\nuse_dogstatsd: false\napm_config:\n  enabled: false\n"
            "logs_enabled: true\nrun_path: " +
                dir.file("run") + "\n");
  NotifySocket notify(dir.file("notify.sock"));
  auto daemon = std::make_unique<Process>(
      std::vector<std::string>{OUTPOST_BIN, "run", "-c", dir.path()},
      std::map<std::string, std::optional<std::string>>{{"NOTIFY_SOCKET", notify.path()}}, dir);
  ASSERT_TRUE(notify.waitFor("READY=1", 5s)) << daemon->err();
  Shim shim(dir.file("run/query.sock"));

  auto init = shim.call({{"jsonrpc", "2.0"},
                         {"id", 0},
                         {"method", "initialize"},
                         {"params",
                          {{"protocolVersion", "2025-06-18"},
                           {"capabilities", json::object()},
                           {"clientInfo", {{"name", "test"}, {"version", "1"}}}}}});
  ASSERT_EQ(init["result"]["protocolVersion"], "2025-06-18") << init.dump();
  EXPECT_EQ(shim.call({{"jsonrpc", "2.0"}, {"id", 1}, {"method", "ping"}})["result"],
            json::object());

  // A search through the file (no timestamps in it: read whole, said so).
  auto r = shim.tool(2, "search_logs", {{"query", "error"}, {"case_insensitive", true}});
  ASSERT_EQ(r["result"]["isError"], false) << r.dump();
  const json& s = r["result"]["structuredContent"];
  ASSERT_EQ(s["results"].size(), 4u) << s.dump();
  EXPECT_EQ(s["results"][0]["line"], "worker 50 ERROR auth timeout");
  EXPECT_EQ(s["results"][0]["line_number"], 50);
  EXPECT_EQ(s["truncated"], false);
  EXPECT_TRUE(s["next_cursor"].is_null());
  EXPECT_EQ(json::parse(r["result"]["content"][0]["text"].get<std::string>()), s);
  // Paging with limit.
  r = shim.tool(3, "search_logs", {{"query", "ERROR"}, {"limit", 3}});
  EXPECT_EQ(r["result"]["structuredContent"]["results"].size(), 3u);
  EXPECT_EQ(r["result"]["structuredContent"]["truncated"], true);
  EXPECT_TRUE(r["result"]["structuredContent"]["next_cursor"].is_string());
  // The newest first, and its cursor going on to older ones.
  r = shim.tool(21, "search_logs", {{"query", "ERROR"}, {"order", "desc"}, {"limit", 3}});
  ASSERT_EQ(r["result"]["isError"], false) << r.dump();
  {
    const json& d = r["result"]["structuredContent"];
    ASSERT_EQ(d["results"].size(), 3u) << d.dump();
    EXPECT_GT(d["results"][0]["line_number"], d["results"][1]["line_number"]);
    EXPECT_GT(d["results"][1]["line_number"], d["results"][2]["line_number"]);
    r = shim.tool(22, "search_logs",
                  {{"query", "ERROR"}, {"order", "desc"}, {"cursor", d["next_cursor"]}});
    const json& older = r["result"]["structuredContent"];
    ASSERT_EQ(older["results"].size(), 1u) << older.dump();
    EXPECT_EQ(older["results"][0]["line"], "worker 50 ERROR auth timeout");
  }
  // By status: nothing here has a syslog priority or a JSON level, so all are info.
  r = shim.tool(23, "search_logs", {{"query", "ERROR"}, {"status", "error"}});
  EXPECT_TRUE(r["result"]["structuredContent"]["results"].empty()) << r.dump();
  r = shim.tool(24, "search_logs", {{"query", "ERROR"}, {"status", "info"}});
  EXPECT_EQ(r["result"]["structuredContent"]["results"].size(), 4u) << r.dump();
  r = shim.tool(25, "search_logs", {{"query", "ERROR"}, {"status", "loud"}});
  EXPECT_EQ(r["result"]["isError"], true) << r.dump();
  // Counts over time, by service.
  r = shim.tool(20, "aggregate_logs", {{"query", "ERROR"}, {"interval_s", 60}});
  ASSERT_EQ(r["result"]["isError"], false) << r.dump();
  EXPECT_EQ(r["result"]["structuredContent"]["total"], 4) << r.dump();
  EXPECT_EQ(r["result"]["structuredContent"]["groups"][0]["key"], "auth");
  EXPECT_EQ(r["result"]["structuredContent"]["groups"][0]["without_timestamp"], 4);
  // Nothing found: hints.
  r = shim.tool(4, "search_logs", {{"query", "no such text"}});
  EXPECT_FALSE(r["result"]["structuredContent"]["hints"].empty()) << r.dump();

  // The recent lines (once the pipeline read them).
  json lines;
  for (int i = 0; i < 50; ++i) {
    r = shim.tool(5, "tail_logs", {{"service", "auth"}, {"lines", 3}});
    lines = r["result"]["structuredContent"]["lines"];
    if (lines.size() == 3u) {
      break;
    }
    std::this_thread::sleep_for(100ms);  // polling another process
  }
  ASSERT_EQ(lines.size(), 3u) << r.dump();
  EXPECT_EQ(lines[2]["message"], "worker 200 ERROR auth timeout");

  r = shim.tool(6, "agent_status");
  EXPECT_EQ(r["result"]["structuredContent"]["forwarding"], "off: local mode (no api_key)");
  r = shim.tool(7, "agent_status", {{"section", "searches"}});
  EXPECT_EQ(r["result"]["structuredContent"]["max_concurrent"], 4) << r.dump();
  r = shim.tool(8, "list_log_sources");
  EXPECT_EQ(r["result"]["structuredContent"]["sources"][0]["service"], "auth");
  r = shim.tool(9, "list_checks");
  EXPECT_EQ(r["result"]["isError"], false) << r.dump();
  // A bad query is the daemon's reason, as an error result.
  r = shim.tool(10, "query_metrics", {{"query", "avg:"}});
  EXPECT_EQ(r["result"]["isError"], true) << r.dump();
  EXPECT_NE(r["result"]["content"][0]["text"].get<std::string>().find("400"), std::string::npos);
  // A resource.
  r = shim.call({{"jsonrpc", "2.0"},
                 {"id", 11},
                 {"method", "resources/read"},
                 {"params", {{"uri", "outpost://status"}}}});
  EXPECT_NE(r["result"]["contents"][0]["text"].get<std::string>().find("\"uptime_s\""),
            std::string::npos)
      << r.dump();

  r = shim.call({{"jsonrpc", "2.0"},
                 {"id", 14},
                 {"method", "resources/read"},
                 {"params", {{"uri", "outpost://config"}}}});
  EXPECT_NE(r["result"]["contents"][0]["text"].get<std::string>().find("logs_enabled"),
            std::string::npos)
      << r.dump();

  // The daemon stops: the shim says what to do, and keeps serving.
  daemon->signal(SIGTERM);
  EXPECT_EQ(daemon->wait(10s), 0);
  r = shim.tool(12, "search_logs", {{"query", "x"}});
  EXPECT_EQ(r["result"]["isError"], true);
  EXPECT_NE(r["result"]["content"][0]["text"].get<std::string>().find("is outpost running?"),
            std::string::npos)
      << r.dump();
  EXPECT_EQ(shim.call({{"jsonrpc", "2.0"}, {"id", 13}, {"method", "ping"}})["id"], 13);

  // stdin closes: it exits.
  shim.closeInput();
  EXPECT_EQ(shim.wait(), 0);
}

}  // namespace
}  // namespace outpost
