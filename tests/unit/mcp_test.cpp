// The MCP layer of outpost-mcp without a daemon: JSON-RPC framing and errors, ids, version
// negotiation, tools/list, argument checking, the result budget, and cancellation of a call
// whose socket never answers (a real Unix socket that accepts and stays silent).
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <cstring>
#include <filesystem>
#include <mutex>
#include <thread>

#include "mcp/jsonrpc.h"
#include "mcp/server.h"
#include "mcp/tools.h"

namespace outpost::mcp {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;

// A server whose output lines are collected.
struct Harness {
  std::mutex mu;
  std::condition_variable cv;
  std::vector<json> out;
  Server server;

  explicit Harness(std::string socket = "/nonexistent/query.sock",
                   std::chrono::milliseconds progress = 1000ms)
      : server(Server::Options{std::move(socket), 64 << 10, 10'000ms, progress},
               [this](const std::string& line) {
                 EXPECT_EQ(line.back(), '\n');
                 EXPECT_EQ(line.find('\n'), line.size() - 1);  // one message, one line
                 std::lock_guard<std::mutex> lock(mu);
                 out.push_back(json::parse(line));
                 cv.notify_all();
               }) {}

  // Sends a line, returns the messages written since (waiting for `expect` of them).
  std::vector<json> send(const std::string& line, size_t expect = 1) {
    size_t before;
    {
      std::lock_guard<std::mutex> lock(mu);
      before = out.size();
    }
    server.handleLine(line);
    std::unique_lock<std::mutex> lock(mu);
    cv.wait_for(lock, 10s, [&] { return out.size() >= before + expect; });
    return std::vector<json>(out.begin() + static_cast<std::ptrdiff_t>(before), out.end());
  }
  json one(const std::string& line) {
    auto v = send(line);
    EXPECT_EQ(v.size(), 1u) << line;
    return v.empty() ? json() : v[0];
  }
};

std::string request(const json& id, const std::string& method, json params = json::object()) {
  return json{{"jsonrpc", "2.0"}, {"id", id}, {"method", method}, {"params", params}}.dump();
}

TEST(McpJsonRpcTest, ErrorsAndIds) {
  Harness h;
  EXPECT_EQ(h.one("{not json")["error"]["code"], -32700);
  EXPECT_TRUE(h.one("{not json")["id"].is_null());
  EXPECT_EQ(h.one("[1,2]")["error"]["code"], -32600);  // batches
  EXPECT_EQ(h.one("42")["error"]["code"], -32600);
  EXPECT_EQ(h.one(R"({"jsonrpc":"1.0","id":1,"method":"ping"})")["error"]["code"], -32600);
  EXPECT_EQ(h.one(R"({"jsonrpc":"2.0","id":1.5,"method":"ping"})")["error"]["code"], -32600);
  EXPECT_EQ(h.one(R"({"jsonrpc":"2.0","id":7,"method":5})")["error"]["code"], -32600);
  EXPECT_EQ(h.one(R"({"jsonrpc":"2.0","id":7,"method":"ping","params":3})")["error"]["code"],
            -32600);
  // Unknown methods, including newer clients' probes, at once.
  auto r = h.one(request("abc", "server/discover"));
  EXPECT_EQ(r["error"]["code"], -32601);
  EXPECT_EQ(r["id"], "abc");
  // ids come back as they came: strings and numbers.
  EXPECT_EQ(h.one(request(12345678901LL, "ping"))["id"], 12345678901LL);
  EXPECT_EQ(h.one(request("p-1", "ping"))["result"], json::object());
  // Notifications (unknown ones too) and stray responses get no answer; blank lines are nothing.
  EXPECT_TRUE(h.send(R"({"jsonrpc":"2.0","method":"notifications/whatever"})", 0).empty());
  EXPECT_TRUE(h.send(R"({"jsonrpc":"2.0","id":9,"result":{}})", 0).empty());
  EXPECT_TRUE(h.send("   ", 0).empty());
  // Invalid params.
  EXPECT_EQ(h.one(request(1, "tools/call", {{"arguments", json::object()}}))["error"]["code"],
            -32602);
  EXPECT_EQ(h.one(request(1, "tools/call", {{"name", "rm_rf"}}))["error"]["code"], -32602);
  EXPECT_EQ(
      h.one(request(1, "tools/call", {{"name", "search_logs"}, {"arguments", 3}}))["error"]["code"],
      -32602);
  EXPECT_EQ(h.one(request(1, "logging/setLevel", {{"level", "loud"}}))["error"]["code"], -32602);
  EXPECT_EQ(h.one(request(1, "logging/setLevel", {{"level", "debug"}}))["result"], json::object());
  EXPECT_EQ(h.one(request(1, "tools/list", {{"cursor", "zz"}}))["error"]["code"], -32602);
  EXPECT_EQ(h.one(request(1, "resources/read", {{"uri", "file:///etc/passwd"}}))["error"]["code"],
            -32602);
}

TEST(McpJsonRpcTest, VersionNegotiation) {
  for (const char* v : {"2025-11-25", "2025-06-18", "2025-03-26"}) {
    Harness h;
    auto r = h.one(request(1, "initialize", {{"protocolVersion", v}}));
    EXPECT_EQ(r["result"]["protocolVersion"], v);
    EXPECT_EQ(r["result"]["serverInfo"]["name"], "outpost-mcp");
    EXPECT_TRUE(r["result"]["capabilities"].contains("tools"));
    EXPECT_TRUE(r["result"]["capabilities"].contains("resources"));
    EXPECT_TRUE(r["result"]["capabilities"].contains("logging"));
  }
  Harness h;  // one we do not know: the newest we do
  EXPECT_EQ(h.one(request(1, "initialize",
                          {{"protocolVersion", "2024-11-05"}}))["result"]["protocolVersion"],
            "2025-11-25");
  EXPECT_EQ(h.one(request(2, "initialize", json::object()))["result"]["protocolVersion"],
            "2025-11-25");
}

TEST(McpToolsTest, ListedReadOnlyWithStrictSchemas) {
  Harness h;
  auto r = h.one(request(1, "tools/list"));
  const auto& list = r["result"]["tools"];
  ASSERT_GE(list.size(), 10u);
  EXPECT_FALSE(r["result"].contains("nextCursor"));  // one page
  std::set<std::string> names;
  for (const auto& t : list) {
    names.insert(t["name"]);
    EXPECT_EQ(t["annotations"]["readOnlyHint"], true) << t["name"];
    EXPECT_EQ(t["annotations"]["idempotentHint"], true);
    EXPECT_EQ(t["annotations"]["openWorldHint"], false);
    EXPECT_EQ(t["inputSchema"]["type"], "object");
    EXPECT_EQ(t["inputSchema"]["additionalProperties"], false);
    EXPECT_EQ(t["outputSchema"]["type"], "object");
    for (const auto& [k, p] : t["inputSchema"]["properties"].items()) {
      EXPECT_TRUE(p["type"].is_string()) << t["name"] << "." << k << ": no union types";
    }
  }
  for (const char* n : {"search_logs", "aggregate_logs", "read_search_results", "tail_logs",
                        "list_log_sources", "query_metrics", "list_metrics", "search_traces",
                        "get_trace", "agent_status", "list_checks"}) {
    EXPECT_TRUE(names.count(n)) << n;
  }
  EXPECT_EQ(h.one(request(2, "resources/list"))["result"]["resources"].size(), 3u);
  EXPECT_EQ(h.one(request(
                3, "resources/templates/list"))["result"]["resourceTemplates"][0]["uriTemplate"],
            "outpost://trace/{trace_id}");
}

TEST(McpToolsTest, ArgumentsCheckedAgainstTheSchema) {
  const Tool* t = findTool("search_logs");
  ASSERT_NE(t, nullptr);
  std::string why;
  EXPECT_TRUE(validateArgs({{"query", "x"}, {"limit", 10}}, t->input_schema, &why)) << why;
  EXPECT_FALSE(validateArgs(json::object(), t->input_schema, &why));
  EXPECT_NE(why.find("'query' is required"), std::string::npos);
  EXPECT_FALSE(validateArgs({{"query", "x"}, {"limit", 501}}, t->input_schema, &why));
  EXPECT_NE(why.find("from 1 to 500"), std::string::npos);
  EXPECT_FALSE(validateArgs({{"query", 3}}, t->input_schema, &why));
  EXPECT_NE(why.find("must be a string"), std::string::npos);
  EXPECT_FALSE(validateArgs({{"query", "x"}, {"sort", "asc"}}, t->input_schema, &why));
  EXPECT_NE(why.find("unknown argument 'sort'"), std::string::npos);
  EXPECT_TRUE(
      validateArgs({{"query", ""}, {"order", "desc"}, {"status", "error"}}, t->input_schema, &why))
      << why;
  EXPECT_FALSE(validateArgs({{"query", "x"}, {"order", "newest"}}, t->input_schema, &why));
  EXPECT_NE(why.find("must be one of"), std::string::npos);
  EXPECT_FALSE(validateArgs({{"query", "x"}, {"status", "warn"}}, t->input_schema, &why));
  EXPECT_FALSE(validateArgs({{"sort", "random"}}, findTool("search_traces")->input_schema, &why));
  EXPECT_NE(why.find("one of"), std::string::npos);
  // Through tools/call: an error result (the model can correct itself), not a protocol error.
  Harness h;
  auto r = h.one(request(1, "tools/call", {{"name", "search_logs"}, {"arguments", {{"q", 1}}}}));
  EXPECT_EQ(r["result"]["isError"], true);
  EXPECT_NE(r["result"]["content"][0]["text"].get<std::string>().find("unknown argument 'q'"),
            std::string::npos);
}

TEST(McpToolsTest, DaemonNotRunningIsAnActionableError) {
  Harness h("/nonexistent/outpost/query.sock");
  auto r = h.one(request(1, "tools/call", {{"name", "agent_status"}}));
  EXPECT_EQ(r["result"]["isError"], true);
  const std::string text = r["result"]["content"][0]["text"];
  EXPECT_NE(text.find("is outpost running? try `systemctl status outpost`"), std::string::npos)
      << text;
  EXPECT_NE(text.find("/nonexistent/outpost/query.sock"), std::string::npos);
}

TEST(McpToolsTest, ResultsFitTheByteBudget) {
  json r = {{"results", json::array()}, {"truncated", false}, {"next_cursor", "c1.x"}};
  for (int i = 0; i < 1000; ++i) {
    r["results"].push_back({{"line", std::string(100, 'a' + i % 26)}, {"n", i}});
  }
  fitBudget(r, 8192);
  EXPECT_LE(r.dump().size(), 8192u);
  EXPECT_EQ(r["truncated"], true);
  EXPECT_GT(r["results"].size(), 10u);
  EXPECT_EQ(r["results"][0]["n"], 0);  // the first ones kept
  EXPECT_EQ(r["shown"], r["results"].size());
  EXPECT_NE(r["hints"][0].get<std::string>().find("--max-result-bytes"), std::string::npos);
  json small = {{"results", json::array({1, 2})}};
  fitBudget(small, 8192);
  EXPECT_FALSE(small.contains("truncated"));
}

// A Unix socket that accepts and never answers; counts the connections that were closed.
class SilentSocket {
 public:
  SilentSocket() {
    path_ = (std::filesystem::temp_directory_path() /
             ("outpost-mcp-test-" + std::to_string(::getpid()) + ".sock"))
                .string();
    ::unlink(path_.c_str());
    fd_ = ::socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    std::strncpy(a.sun_path, path_.c_str(), sizeof a.sun_path - 1);
    EXPECT_EQ(::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    EXPECT_EQ(::listen(fd_, 8), 0);
    thread_ = std::thread([this] {
      const int c = ::accept(fd_, nullptr, nullptr);
      if (c < 0) {
        return;
      }
      char buf[4096];
      // Read the request, then wait for the client to close.
      while (::recv(c, buf, sizeof buf, 0) > 0) {
      }
      closed_ = true;
      ::close(c);
    });
  }
  ~SilentSocket() {
    ::shutdown(fd_, SHUT_RDWR);
    ::close(fd_);
    thread_.join();
    ::unlink(path_.c_str());
  }
  const std::string& path() const { return path_; }
  bool closed() const { return closed_; }

 private:
  std::string path_;
  int fd_ = -1;
  std::thread thread_;
  std::atomic<bool> closed_{false};
};

TEST(McpServerTest, CancelledCallClosesItsSocketAndIsNotAnswered) {
  SilentSocket silent;
  Harness h(silent.path(), 100ms);
  // With a progress token: progress notifications while it runs.
  auto progress = h.send(json{{"jsonrpc", "2.0"},
                              {"id", "slow"},
                              {"method", "tools/call"},
                              {"params",
                               {{"name", "search_logs"},
                                {"arguments", {{"query", "x"}}},
                                {"_meta", {{"progressToken", "tok"}}}}}}
                             .dump(),
                         2);
  ASSERT_GE(progress.size(), 2u);
  EXPECT_EQ(progress[0]["method"], "notifications/progress");
  EXPECT_EQ(progress[0]["params"]["progressToken"], "tok");
  EXPECT_GT(progress[1]["params"]["progress"].get<double>(),
            progress[0]["params"]["progress"].get<double>());
  h.send(R"({"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":"slow"}})",
         0);
  for (int i = 0; i < 50 && !silent.closed(); ++i) {
    std::this_thread::sleep_for(20ms);  // polling the other thread
  }
  EXPECT_TRUE(silent.closed());
  h.server.finish();
  std::lock_guard<std::mutex> lock(h.mu);
  for (const auto& m : h.out) {
    EXPECT_FALSE(m.contains("id") && m["id"] == "slow") << m.dump();
  }
}

}  // namespace
}  // namespace outpost::mcp
