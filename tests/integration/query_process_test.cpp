// The query socket through a real `outpost run`: the socket file and its mode, /v1/status and
// its sections, errors as JSON with a status code, `outpost status` (text, JSON, and when the
// daemon is not running), and the API key never in what it answers.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <nlohmann/json.hpp>

#include "collector/query/query_client.h"
#include "tests/fakeintake/fake_intake.h"
#include "tests/support/test_support.h"

namespace outpost {
namespace {

using namespace std::chrono_literals;
using fakeintake::FakeIntakeThread;
using testing::NotifySocket;
using testing::Process;
using testing::TempDir;

constexpr const char* kPlantedKey = "feedfacecafebeef0123456789abcdef";

// Sends `raw` as is and returns the whole answer.
std::string rawRequest(const std::string& socket, const std::string& raw) {
  const int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, socket.c_str(), sizeof addr.sun_path - 1);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    return {};
  }
  (void)::send(fd, raw.data(), raw.size(), MSG_NOSIGNAL);
  std::string out;
  char buf[4096];
  ssize_t n;
  while ((n = ::recv(fd, buf, sizeof buf, 0)) > 0) {
    out.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  return out;
}

TEST(QueryProcessTest, StatusOverTheSocket) {
  FakeIntakeThread intake;
  ASSERT_TRUE(intake.start());
  TempDir dir;
  dir.write("conf.d/uptime.d/conf.yaml",
            "init_config:\ninstances:\n  - min_collection_interval: 1\n");
  dir.write("outpost.yaml", std::string("api_key: ") + kPlantedKey +
                                "\nhostname: query-test-host\n"
                                "use_dogstatsd: false\napm_config:\n  enabled: false\n"
                                "dd_url: " +
                                intake.url() + "\nrun_path: " + dir.file("run") +
                                "\nquery_socket: query.sock\n");
  NotifySocket notify(dir.file("notify.sock"));
  Process p({OUTPOST_BIN, "run", "-c", dir.path()}, {{"NOTIFY_SOCKET", notify.path()}}, dir);
  ASSERT_TRUE(notify.waitFor("READY=1", 5s)) << p.err();
  const std::string socket = dir.file("run/query.sock");

  struct stat st {};
  ASSERT_EQ(::stat(socket.c_str(), &st), 0) << p.err();
  EXPECT_TRUE(S_ISSOCK(st.st_mode));
  EXPECT_EQ(st.st_mode & 0777, 0660u);

  std::this_thread::sleep_for(1500ms);  // a check run or two
  auto r = query::queryGet(socket, "/v1/status");
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_EQ(r.status, 200);
  const auto j = nlohmann::json::parse(r.body);
  EXPECT_EQ(j["hostname"], "query-test-host");
  EXPECT_EQ(j["forwarding"], "on");
  EXPECT_EQ(j["pid"], p.pid());
  EXPECT_FALSE(j["version"].get<std::string>().empty());
  ASSERT_EQ(j["checks"]["instances"].size(), 1u);
  EXPECT_EQ(j["checks"]["instances"][0]["check"], "uptime");
  EXPECT_EQ(j["checks"]["instances"][0]["status"], "OK");
  EXPECT_GE(j["checks"]["instances"][0]["runs"].get<int>(), 1);
  EXPECT_TRUE(j["forwarder"]["endpoints"].is_array());
  EXPECT_TRUE(j["telemetry"].contains("outpost.checks.runs"));
  EXPECT_EQ(r.body.find(kPlantedKey), std::string::npos);

  r = query::queryGet(socket, "/v1/status?section=checks");
  ASSERT_TRUE(r.ok);
  EXPECT_EQ(r.status, 200);
  EXPECT_TRUE(nlohmann::json::parse(r.body).contains("instances"));
  r = query::queryGet(socket, "/v1/checks");
  EXPECT_EQ(r.status, 200);

  // Errors: JSON {error, detail} with the right status.
  for (const auto& [target, status] : std::vector<std::pair<std::string, int>>{
           {"/v1/status?section=nope", 404}, {"/v1/status?x=1", 400}, {"/v1/unknown", 404}}) {
    r = query::queryGet(socket, target);
    ASSERT_TRUE(r.ok) << target;
    EXPECT_EQ(r.status, status) << target;
    const auto e = nlohmann::json::parse(r.body, nullptr, false);
    ASSERT_TRUE(e.is_object()) << r.body;
    EXPECT_TRUE(e["error"].is_string()) << r.body;
    EXPECT_TRUE(e["detail"].is_string()) << r.body;
  }
  const std::string post = rawRequest(
      socket,
      "POST /v1/status HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}");
  EXPECT_EQ(post.rfind("HTTP/1.1 405", 0), 0u) << post;
  const std::string garbage = rawRequest(socket, "NOT HTTP AT ALL\r\n\r\n");
  EXPECT_EQ(garbage.rfind("HTTP/1.1 400", 0), 0u) << garbage;

  // `outpost status`, as text and as JSON.
  auto text = testing::runCommand({OUTPOST_BIN, "status", "-c", dir.path()});
  EXPECT_EQ(text.code, 0) << text.err;
  EXPECT_NE(text.out.find("Outpost (v"), std::string::npos) << text.out;
  EXPECT_NE(text.out.find("query-test-host"), std::string::npos);
  EXPECT_NE(text.out.find("uptime"), std::string::npos);
  EXPECT_NE(text.out.find("Forwarder"), std::string::npos);
  EXPECT_EQ(text.out.find(kPlantedKey), std::string::npos);
  auto json = testing::runCommand({OUTPOST_BIN, "status", "-c", dir.path(), "--json"});
  EXPECT_EQ(json.code, 0);
  EXPECT_EQ(nlohmann::json::parse(json.out)["hostname"], "query-test-host");

  // Every request is logged with the peer's credentials.
  EXPECT_NE(p.err().find("GET /v1/status from pid "), std::string::npos);
  EXPECT_EQ(p.err().find(kPlantedKey), std::string::npos);

  p.signal(SIGTERM);
  EXPECT_EQ(p.wait(10s), 0) << p.err();
  EXPECT_NE(::access(socket.c_str(), F_OK), 0);  // removed at stop
  auto down = testing::runCommand({OUTPOST_BIN, "status", "-c", dir.path()});
  EXPECT_EQ(down.code, 1);
  EXPECT_NE(down.err.find("outpost is not running"), std::string::npos) << down.err;
}

// In local mode the default socket is run_path/query.sock, and status says forwarding is off.
TEST(QueryProcessTest, LocalModeSocketUnderRunPath) {
  TempDir dir;
  dir.write("outpost.yaml",
            "hostname: local-host\nuse_dogstatsd: false\napm_config:\n  "
            "enabled: false\nrun_path: " +
                dir.file("run") + "\n");
  NotifySocket notify(dir.file("notify.sock"));
  Process p({OUTPOST_BIN, "run", "-c", dir.path()}, {{"NOTIFY_SOCKET", notify.path()}}, dir);
  ASSERT_TRUE(notify.waitFor("READY=1", 5s)) << p.err();
  auto r = query::queryGet(dir.file("run/query.sock"), "/v1/status");
  ASSERT_TRUE(r.ok) << r.error << "\n" << p.err();
  const auto j = nlohmann::json::parse(r.body);
  EXPECT_EQ(j["forwarding"], "off: local mode (no api_key)");
  EXPECT_FALSE(j.contains("forwarder"));
  p.signal(SIGTERM);
  EXPECT_EQ(p.wait(10s), 0) << p.err();
}

}  // namespace
}  // namespace outpost
