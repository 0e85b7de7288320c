#pragma once

#include <netinet/in.h>
#include <sys/types.h>

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace outpost::testing {

// A fresh directory under $TMPDIR, removed with everything in it on destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::string& path() const { return path_; }
  std::string file(const std::string& rel) const { return path_ + "/" + rel; }
  // Writes `content` to `rel` (creating parent directories); returns the full path.
  std::string write(const std::string& rel, const std::string& content) const;

 private:
  std::string path_;
};

std::string readFile(const std::string& path);

// A loopback port nothing listens on right now (bound to port 0, read back, closed).
int freeTcpPort();
int freeUdpPort();
// One datagram to 127.0.0.1:port.
void sendUdp(int port, const std::string& datagram);
// 127.0.0.1:port as a socket address.
struct sockaddr_in loopbackAddress(int port);
// A connected stream socket (close-on-exec) to 127.0.0.1:port or a Unix socket path; -1 when
// it cannot connect.
int connectTcp(int port);
int connectUnix(const std::string& path);
// Sends `raw` on `fd`, reads until the peer closes (or `timeout_s` of silence), closes `fd`;
// the bytes read. An invalid fd gives "".
std::string exchange(int fd, const std::string& raw, int timeout_s = 30);

// A unix datagram socket standing in for systemd's NOTIFY_SOCKET.
class NotifySocket {
 public:
  explicit NotifySocket(const std::string& path);
  ~NotifySocket();
  const std::string& path() const { return path_; }
  // Next datagram, or nullopt after `timeout`.
  std::optional<std::string> receive(std::chrono::milliseconds timeout);
  // Reads datagrams until one contains `needle` (returned) or `timeout` passes (nullopt).
  // Every datagram read is appended to seen().
  std::optional<std::string> waitFor(const std::string& needle, std::chrono::milliseconds timeout);
  const std::vector<std::string>& seen() const { return seen_; }

 private:
  std::string path_;
  int fd_ = -1;
  std::vector<std::string> seen_;
};

// A child process running a real binary, with stdout and stderr captured to files.
class Process {
 public:
  // `env` entries are added to (or replace in) the inherited environment; a value of
  // std::nullopt removes the variable.
  Process(const std::vector<std::string>& argv,
          const std::map<std::string, std::optional<std::string>>& env, const TempDir& dir);
  ~Process();  // SIGKILLs the child if still running
  pid_t pid() const { return pid_; }
  void signal(int sig) const;
  // Exit code (or 128+signal) once the child exits, nullopt after `timeout`.
  std::optional<int> wait(std::chrono::milliseconds timeout);
  std::string out() const { return readFile(out_path_); }
  std::string err() const { return readFile(err_path_); }

 private:
  pid_t pid_ = -1;
  std::optional<int> status_;
  std::string out_path_;
  std::string err_path_;
};

// Runs a command to completion (with a timeout) and returns {exit code, stdout, stderr}.
struct RunResult {
  int code;
  std::string out;
  std::string err;
};
RunResult runCommand(const std::vector<std::string>& argv,
                     const std::map<std::string, std::optional<std::string>>& env = {},
                     std::chrono::milliseconds timeout = std::chrono::seconds(30));

}  // namespace outpost::testing
