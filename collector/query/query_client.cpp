#include "collector/query/query_client.h"

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>

namespace outpost::query {

namespace {

ClientResult failure(const std::string& what, int err) {
  ClientResult r;
  r.error = what + ": " + std::strerror(err);
  r.error_number = err;
  return r;
}

}  // namespace

namespace {

ClientResult exchange(const std::string& socket_path, const std::string& request,
                      std::chrono::milliseconds timeout, const std::atomic<bool>* cancel = nullptr);

}  // namespace

ClientResult queryRequest(const std::string& socket_path, std::string_view method,
                          const std::string& target, const std::string& body,
                          std::chrono::milliseconds timeout, const std::atomic<bool>* cancel) {
  std::string request = std::string(method) + " " + target +
                        " HTTP/1.1\r\nHost: outpost\r\nAccept: application/json\r\n";
  if (!body.empty()) {
    request +=
        "Content-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) + "\r\n";
  }
  request += "Connection: close\r\n\r\n" + body;
  return exchange(socket_path, request, timeout, cancel);
}

std::string urlEncode(std::string_view s) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
  return out;
}

ClientResult queryGet(const std::string& socket_path, const std::string& target,
                      std::chrono::milliseconds timeout) {
  return exchange(socket_path,
                  "GET " + target +
                      " HTTP/1.1\r\nHost: outpost\r\nAccept: application/json\r\n"
                      "Connection: close\r\n\r\n",
                  timeout);
}

ClientResult queryPost(const std::string& socket_path, const std::string& target,
                       const std::string& json_body, std::chrono::milliseconds timeout) {
  return exchange(socket_path,
                  "POST " + target +
                      " HTTP/1.1\r\nHost: outpost\r\nAccept: application/json\r\n"
                      "Content-Type: application/json\r\nContent-Length: " +
                      std::to_string(json_body.size()) + "\r\nConnection: close\r\n\r\n" +
                      json_body,
                  timeout);
}

namespace {

ClientResult exchange(const std::string& socket_path, const std::string& request,
                      std::chrono::milliseconds timeout, const std::atomic<bool>* cancel) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (socket_path.size() >= sizeof addr.sun_path) {
    return failure("socket path too long: " + socket_path, ENAMETOOLONG);
  }
  std::memcpy(addr.sun_path, socket_path.c_str(), socket_path.size() + 1);
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    return failure("socket", errno);
  }
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    const int err = errno;
    ::close(fd);
    return failure("connect " + socket_path, err);
  }
  size_t sent = 0;
  while (sent < request.size()) {
    const ssize_t n = ::send(fd, request.data() + sent, request.size() - sent, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n <= 0) {
      const int err = errno;
      ::close(fd);
      return failure("send", err);
    }
    sent += static_cast<size_t>(n);
  }
  std::string response;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  char buf[65536];
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      ::close(fd);
      return failure("no complete answer within the timeout", ETIMEDOUT);
    }
    if (cancel != nullptr && cancel->load()) {
      ::close(fd);
      return failure("cancelled", ECANCELED);
    }
    pollfd p{fd, POLLIN, 0};
    // With a cancel flag, look at it ten times a second.
    const int wait_ms =
        static_cast<int>(cancel != nullptr ? std::min<int64_t>(left.count(), 100) : left.count());
    const int pr = ::poll(&p, 1, wait_ms);
    if (pr < 0 && errno == EINTR) {
      continue;
    }
    if (pr <= 0) {
      continue;  // the deadline check above ends it
    }
    const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n < 0) {
      const int err = errno;
      ::close(fd);
      return failure("recv", err);
    }
    if (n == 0) {
      break;
    }
    response.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  ClientResult r;
  const size_t head_end = response.find("\r\n\r\n");
  if (response.rfind("HTTP/1.1 ", 0) != 0 || head_end == std::string::npos) {
    r.error = "not an HTTP response";
    return r;
  }
  r.status = std::atoi(response.c_str() + 9);
  r.body = response.substr(head_end + 4);
  r.ok = true;
  return r;
}

}  // namespace

}  // namespace outpost::query
