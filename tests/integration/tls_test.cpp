// The transport against a real TLS server (openssl s_server with a self-signed certificate made
// for the test): certificate verification is on unless skip_ssl_validation turns it off.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/loop.h"
#include "forwarder/transport/http_client.h"
#include "tests/support/test_support.h"

namespace outpost {
namespace {

using namespace std::chrono_literals;

bool accepting(int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  const bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  ::close(fd);
  return ok;
}

HttpResult get(const std::string& url, bool verify) {
  Loop loop;
  HttpClient::Options options;
  options.verify_tls = verify;
  options.timeout_ms = 5000;
  HttpClient client(loop.get(), options);
  HttpResult result;
  OutgoingRequest req;
  req.method = "GET";
  req.url = url;
  client.send(std::move(req), [&](HttpResult r) { result = std::move(r); });
  loop.run();
  return result;
}

TEST(TlsTest, CertificatesAreVerifiedUnlessSkipSslValidation) {
  testing::TempDir dir;
  auto made = testing::runCommand({"/usr/bin/openssl", "req", "-x509", "-newkey", "rsa:2048",
                                   "-nodes", "-keyout", dir.file("key.pem"), "-out",
                                   dir.file("cert.pem"), "-days", "1", "-subj", "/CN=127.0.0.1"});
  ASSERT_EQ(made.code, 0) << made.err;
  const int port = testing::freeTcpPort();
  testing::Process server({"/usr/bin/openssl", "s_server", "-accept", std::to_string(port), "-4",
                           "-cert", dir.file("cert.pem"), "-key", dir.file("key.pem"), "-www"},
                          {}, dir);
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (!accepting(port) && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(20ms);  // waiting for another process to listen
  }
  ASSERT_TRUE(accepting(port)) << server.err();
  const std::string url = "https://127.0.0.1:" + std::to_string(port) + "/";

  const HttpResult verified = get(url, true);
  EXPECT_EQ(verified.status, 0);
  EXPECT_EQ(verified.transport_error, "tls") << verified.error_detail;

  const HttpResult skipped = get(url, false);
  EXPECT_EQ(skipped.status, 200) << skipped.transport_error << " " << skipped.error_detail;
  server.signal(SIGTERM);
}

}  // namespace
}  // namespace outpost
