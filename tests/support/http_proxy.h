#pragma once

#include <atomic>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace outpost::testing {

// A minimal forward proxy on 127.0.0.1 for tests: `CONNECT host:port` tunnels, and absolute-form
// requests (`POST http://host:port/path HTTP/1.1`) are forwarded in origin form. Blocking
// sockets, one thread per connection; records each request line it saw.
class HttpProxy {
 public:
  HttpProxy();
  ~HttpProxy();
  int port() const { return port_; }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  std::vector<std::string> requestLines() const;

 private:
  void acceptLoop();
  void serve(int client);

  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stopping_{false};
  std::thread acceptor_;
  mutable std::mutex mu_;
  std::vector<std::string> lines_;
  std::vector<std::thread> workers_;
  std::vector<int> open_fds_;
};

}  // namespace outpost::testing
