#include "tests/support/http_proxy.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <stdexcept>

namespace outpost::testing {
namespace {

int connectTo(const std::string& host, int port) {
  addrinfo hints{};
  hints.ai_family = AF_INET;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  if (getaddrinfo(host.c_str(), std::to_string(port).c_str(), &hints, &res) != 0) {
    return -1;
  }
  const int fd = ::socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd >= 0 && ::connect(fd, res->ai_addr, res->ai_addrlen) != 0) {
    ::close(fd);
    freeaddrinfo(res);
    return -1;
  }
  freeaddrinfo(res);
  return fd;
}

bool writeAll(int fd, const char* data, size_t n) {
  while (n > 0) {
    const ssize_t w = ::send(fd, data, n, MSG_NOSIGNAL);
    if (w <= 0) {
      return false;
    }
    data += w;
    n -= static_cast<size_t>(w);
  }
  return true;
}

// Copies bytes both ways until either side closes.
void relay(int a, int b) {
  char buf[65536];
  pollfd fds[2] = {{a, POLLIN, 0}, {b, POLLIN, 0}};
  while (::poll(fds, 2, 10000) > 0) {
    for (int i = 0; i < 2; ++i) {
      if (fds[i].revents & (POLLIN | POLLHUP | POLLERR)) {
        const ssize_t n = ::recv(fds[i].fd, buf, sizeof buf, 0);
        if (n <= 0 || !writeAll(fds[1 - i].fd, buf, static_cast<size_t>(n))) {
          return;
        }
      }
    }
  }
}

// host:port from "host:port" (default 80).
void splitHostPort(const std::string& hp, std::string& host, int& port) {
  const size_t colon = hp.rfind(':');
  host = colon == std::string::npos ? hp : hp.substr(0, colon);
  port = colon == std::string::npos ? 80 : std::stoi(hp.substr(colon + 1));
}

}  // namespace

HttpProxy::HttpProxy() {
  listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  if (::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::listen(listen_fd_, 64) != 0 ||
      ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    throw std::runtime_error("proxy: cannot listen");
  }
  port_ = ntohs(addr.sin_port);
  acceptor_ = std::thread([this] { acceptLoop(); });
}

HttpProxy::~HttpProxy() {
  stopping_ = true;
  ::shutdown(listen_fd_, SHUT_RDWR);
  ::close(listen_fd_);
  acceptor_.join();
  {
    std::lock_guard lock(mu_);
    for (int fd : open_fds_) {
      ::shutdown(fd, SHUT_RDWR);
    }
  }
  for (auto& t : workers_) {
    t.join();
  }
}

std::vector<std::string> HttpProxy::requestLines() const {
  std::lock_guard lock(mu_);
  return lines_;
}

void HttpProxy::acceptLoop() {
  while (!stopping_) {
    const int client = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (client < 0) {
      return;
    }
    std::lock_guard lock(mu_);
    open_fds_.push_back(client);
    workers_.emplace_back([this, client] { serve(client); });
  }
}

void HttpProxy::serve(int client) {
  // Read the request head.
  std::string head;
  char c;
  while (head.find("\r\n\r\n") == std::string::npos && head.size() < 65536) {
    if (::recv(client, &c, 1, 0) != 1) {
      ::close(client);
      return;
    }
    head += c;
  }
  const std::string line = head.substr(0, head.find("\r\n"));
  {
    std::lock_guard lock(mu_);
    lines_.push_back(line);
  }
  const size_t sp1 = line.find(' ');
  const size_t sp2 = line.rfind(' ');
  const std::string method = line.substr(0, sp1);
  const std::string target = line.substr(sp1 + 1, sp2 - sp1 - 1);
  std::string host;
  int port = 80;
  int upstream = -1;
  if (method == "CONNECT") {
    splitHostPort(target, host, port);
    upstream = connectTo(host, port);
    const char* answer = upstream >= 0 ? "HTTP/1.1 200 Connection established\r\n\r\n"
                                       : "HTTP/1.1 502 Bad Gateway\r\n\r\n";
    writeAll(client, answer, std::strlen(answer));
  } else if (target.starts_with("http://")) {
    const size_t path_start = target.find('/', 7);
    splitHostPort(target.substr(7, path_start - 7), host, port);
    upstream = connectTo(host, port);
    if (upstream >= 0) {
      // Origin form upstream; the rest of the head unchanged.
      std::string rewritten = method + " " +
                              (path_start == std::string::npos ? "/" : target.substr(path_start)) +
                              line.substr(sp2) + head.substr(line.size());
      writeAll(upstream, rewritten.data(), rewritten.size());
    } else {
      const char* answer = "HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n";
      writeAll(client, answer, std::strlen(answer));
    }
  }
  if (upstream >= 0) {
    relay(client, upstream);
    ::close(upstream);
  }
  ::close(client);
}

}  // namespace outpost::testing
