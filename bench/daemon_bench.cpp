// outpost-bench-daemon: start-to-READY latency, idle memory and idle CPU of `outpost run`,
// each beside a reference measured the same way in the same run (spawning /bin/true, the RSS of
// `sleep 30`), since on a noisy machine the ratios say more than the absolute figures.
//
// usage: outpost-bench-daemon [--outpost PATH] [--runs N] [--idle-seconds S]

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

extern char** environ;

namespace {

// A UDP port nothing listens on right now (bind port 0, read it, close).
int freeUdpPort() {
  const int fd = ::socket(AF_INET, SOCK_DGRAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(fd);
  return ntohs(addr.sin_port);
}

namespace fs = std::filesystem;

constexpr double kReadyTimeoutSeconds = 5.0;
constexpr double kStopTimeoutSeconds = 10.0;
constexpr double kSettleSeconds = 1.0;
constexpr double kTargetStartupMs = 50.0;
constexpr double kTargetIdleRssMib = 15.0;
constexpr double kTargetIdleCpuPct = 0.1;

constexpr const char* kUsage =
    "usage: outpost-bench-daemon [--outpost PATH] [--runs N] [--idle-seconds S]\n"
    "\n"
    "Measures `outpost run`: start-to-READY latency (against spawning /bin/true), idle RSS\n"
    "(against `sleep 30`) and idle CPU. Prints a table and one `RESULT key=value ...` line.\n"
    "\n"
    "options:\n"
    "  --outpost PATH     the outpost binary (default: `outpost` beside this program)\n"
    "  --runs N           start-to-READY runs, after one discarded warm-up (default 20)\n"
    "  --idle-seconds S   how long idle CPU is measured (default 10)\n"
    "  -h, --help         this text\n";

// Set by SIGINT/SIGTERM/SIGHUP; every wait checks it so the cleanup below runs on Ctrl-C too.
volatile sig_atomic_t g_interrupted = 0;

void onSignal(int) {
  g_interrupted = 1;
}

void checkInterrupted() {
  if (g_interrupted) {
    throw std::runtime_error("interrupted");
  }
}

[[noreturn]] void throwErrno(const std::string& what) {
  throw std::runtime_error(what + ": " + std::strerror(errno));
}

double monotonicSeconds() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

void sleepSeconds(double seconds) {
  const double end = monotonicSeconds() + seconds;
  timespec until{};
  until.tv_sec = static_cast<time_t>(end);
  until.tv_nsec = static_cast<long>((end - std::floor(end)) * 1e9);
  while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &until, nullptr) == EINTR) {
    checkInterrupted();
  }
  checkInterrupted();
}

// Milliseconds left before `deadline` (a monotonicSeconds() value), for poll().
int msUntil(double deadline) {
  const double left = deadline - monotonicSeconds();
  return left <= 0 ? 0 : static_cast<int>(std::ceil(left * 1000));
}

class Fd {
 public:
  Fd() = default;
  explicit Fd(int fd) : fd_(fd) {}
  Fd(Fd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  Fd& operator=(Fd&& other) noexcept {
    if (this != &other) {
      reset();
      fd_ = std::exchange(other.fd_, -1);
    }
    return *this;
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() { reset(); }

  int get() const { return fd_; }
  void reset() {
    if (fd_ >= 0) {
      ::close(fd_);
      fd_ = -1;
    }
  }

 private:
  int fd_ = -1;
};

// A directory under $TMPDIR (or /tmp), removed with everything in it on destruction.
class TempDir {
 public:
  TempDir() {
    const char* base = std::getenv("TMPDIR");
    std::string tmpl =
        std::string(base != nullptr && base[0] != '\0' ? base : "/tmp") + "/outpost-bench.XXXXXX";
    if (::mkdtemp(tmpl.data()) == nullptr) {
      throwErrno("mkdtemp " + tmpl);
    }
    path_ = tmpl;
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }

  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

// A child process, killed (SIGKILL) and reaped on destruction unless already reaped.
class Child {
 public:
  // fork+exec of argv with env and stdin, stdout and stderr on /dev/null. Throws when the exec
  // fails. The child gets SIGKILL if this program dies first.
  static Child spawn(const std::vector<std::string>& argv, const std::vector<std::string>& env,
                     const Fd& dev_null) {
    std::vector<char*> c_argv;
    for (const auto& a : argv) {
      c_argv.push_back(const_cast<char*>(a.c_str()));
    }
    c_argv.push_back(nullptr);
    std::vector<char*> c_env;
    for (const auto& e : env) {
      c_env.push_back(const_cast<char*>(e.c_str()));
    }
    c_env.push_back(nullptr);

    // The child writes errno here when the exec fails; EOF (close-on-exec) means it succeeded.
    int exec_pipe[2];
    if (::pipe2(exec_pipe, O_CLOEXEC) != 0) {
      throwErrno("pipe2");
    }
    Fd read_end(exec_pipe[0]);
    Fd write_end(exec_pipe[1]);
    const pid_t parent = ::getpid();

    const pid_t pid = ::fork();
    if (pid < 0) {
      throwErrno("fork");
    }
    if (pid == 0) {
      // Only async-signal-safe calls from here on.
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (::getppid() != parent) {
        ::_exit(127);
      }
      ::dup2(dev_null.get(), STDIN_FILENO);
      ::dup2(dev_null.get(), STDOUT_FILENO);
      ::dup2(dev_null.get(), STDERR_FILENO);
      ::execve(c_argv[0], c_argv.data(), c_env.data());
      const int err = errno;
      (void)!::write(write_end.get(), &err, sizeof err);
      ::_exit(127);
    }

    Child child(pid);
    write_end.reset();
    int err = 0;
    ssize_t n;
    do {
      n = ::read(read_end.get(), &err, sizeof err);
    } while (n < 0 && errno == EINTR);
    if (n > 0) {
      child.waitBlocking();
      throw std::runtime_error("cannot execute " + argv[0] + ": " + std::strerror(err));
    }
    return child;
  }

  Child(Child&& other) noexcept
      : pid_(std::exchange(other.pid_, -1)),
        pidfd_(std::move(other.pidfd_)),
        status_(other.status_) {}
  Child& operator=(Child&&) = delete;
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;
  ~Child() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      waitBlocking();
    }
  }

  pid_t pid() const { return pid_; }
  // A pidfd, readable once the child has exited; -1 on kernels older than 5.3.
  int pidfd() const { return pidfd_.get(); }
  bool running() const { return pid_ > 0; }
  // The waitpid() status, once reaped.
  int status() const { return status_; }

  void signal(int sig) {
    if (pid_ > 0) {
      ::kill(pid_, sig);
    }
  }

  // Reaps the child if it has exited; returns true when it is gone.
  bool tryReap() {
    if (pid_ <= 0) {
      return true;
    }
    const pid_t r = ::waitpid(pid_, &status_, WNOHANG);
    if (r == pid_) {
      pid_ = -1;
      pidfd_.reset();
      return true;
    }
    return false;
  }

  void waitBlocking() {
    while (pid_ > 0) {
      const pid_t r = ::waitpid(pid_, &status_, 0);
      if (r == pid_ || (r < 0 && errno != EINTR)) {
        pid_ = -1;
        pidfd_.reset();
      }
    }
  }

  // Waits up to `seconds` for the child to exit; returns true when it has been reaped.
  bool waitFor(double seconds) {
    const double deadline = monotonicSeconds() + seconds;
    while (!tryReap()) {
      checkInterrupted();
      const int left = msUntil(deadline);
      if (left == 0) {
        return false;
      }
      if (pidfd() >= 0) {
        pollfd p{.fd = pidfd(), .events = POLLIN, .revents = 0};
        ::poll(&p, 1, left);
      } else {
        sleepSeconds(0.001);
      }
    }
    return true;
  }

 private:
  explicit Child(pid_t pid) : pid_(pid) {
#ifdef SYS_pidfd_open
    pidfd_ = Fd(static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)));
#endif
  }

  pid_t pid_ = -1;
  Fd pidfd_;
  int status_ = 0;
};

std::string describeStatus(int status) {
  if (WIFEXITED(status)) {
    return "exit code " + std::to_string(WEXITSTATUS(status));
  }
  if (WIFSIGNALED(status)) {
    return std::string("killed by signal ") + ::strsignal(WTERMSIG(status));
  }
  return "status " + std::to_string(status);
}

std::string readFile(const fs::path& path) {
  std::ifstream in(path);
  if (!in) {
    throw std::runtime_error("cannot read " + path.string());
  }
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

// The number after "KEY:" in a /proc/PID/status text (kB for the Vm* keys); nullopt if absent.
std::optional<long long> statusField(const std::string& status, std::string_view key) {
  std::istringstream in(status);
  std::string line;
  while (std::getline(in, line)) {
    if (line.size() > key.size() && line.compare(0, key.size(), key) == 0 &&
        line[key.size()] == ':') {
      return std::atoll(line.c_str() + key.size() + 1);
    }
  }
  return std::nullopt;
}

struct MemoryUsage {
  double rss_mib = 0;
  double hwm_mib = 0;
  double anon_mib = 0;  // RssAnon: heap, stacks; private to the process
  double file_mib = 0;  // RssFile: mapped executable and shared libraries, shareable
  long long threads = 0;
};

double kibToMib(long long kib) {
  return static_cast<double>(kib) / 1024.0;
}

MemoryUsage readMemory(pid_t pid) {
  const std::string status = readFile("/proc/" + std::to_string(pid) + "/status");
  const auto rss = statusField(status, "VmRSS");
  const auto hwm = statusField(status, "VmHWM");
  if (!rss || !hwm) {
    throw std::runtime_error("no VmRSS/VmHWM in /proc/" + std::to_string(pid) + "/status");
  }
  return {.rss_mib = kibToMib(*rss),
          .hwm_mib = kibToMib(*hwm),
          .anon_mib = kibToMib(statusField(status, "RssAnon").value_or(0)),
          .file_mib = kibToMib(statusField(status, "RssFile").value_or(0)),
          .threads = statusField(status, "Threads").value_or(0)};
}

struct CpuSample {
  double at = 0;              // monotonicSeconds()
  long long ticks = 0;        // utime + stime from /proc/PID/stat, every thread, clock ticks
  long long runtime_ns = -1;  // sum of /proc/PID/task/*/schedstat run time; -1 if unavailable
  long long switches = 0;     // voluntary + involuntary context switches, every thread
};

CpuSample readCpu(pid_t pid) {
  const fs::path proc = "/proc/" + std::to_string(pid);
  CpuSample s;
  s.at = monotonicSeconds();
  // Fields after the ")" closing comm: state is field 3, utime 14 and stime 15.
  const std::string stat = readFile(proc / "stat");
  const size_t close = stat.rfind(')');
  if (close == std::string::npos) {
    throw std::runtime_error("cannot parse " + (proc / "stat").string());
  }
  std::istringstream fields(stat.substr(close + 1));
  std::vector<std::string> f;
  for (std::string w; fields >> w;) {
    f.push_back(w);
  }
  if (f.size() < 13) {
    throw std::runtime_error("cannot parse " + (proc / "stat").string());
  }
  s.ticks = std::atoll(f[11].c_str()) + std::atoll(f[12].c_str());

  // Per-thread scheduler run time in ns: utime+stime count 10 ms ticks, too coarse for a
  // 0.1 % target over a few seconds.
  std::error_code ec;
  long long runtime = 0;
  bool have_runtime = true;
  for (const auto& task : fs::directory_iterator(proc / "task", ec)) {
    std::ifstream sched(task.path() / "schedstat");
    long long ns = 0;
    if (sched >> ns) {
      runtime += ns;
    } else {
      have_runtime = false;
    }
    std::ifstream st(task.path() / "status");
    if (st) {
      std::ostringstream text;
      text << st.rdbuf();
      s.switches += statusField(text.str(), "voluntary_ctxt_switches").value_or(0) +
                    statusField(text.str(), "nonvoluntary_ctxt_switches").value_or(0);
    }
  }
  if (!ec && have_runtime) {
    s.runtime_ns = runtime;
  }
  return s;
}

// printf into a std::string.
template <typename... Args>
std::string formatted(const char* format, Args... args) {
  char buf[128];
  std::snprintf(buf, sizeof buf, format, args...);
  return buf;
}

struct Stats {
  double min = 0;
  double median = 0;
  double p90 = 0;
};

Stats summarize(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  Stats s;
  s.min = v.front();
  s.median = n % 2 == 1 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
  s.p90 = v[static_cast<size_t>(std::ceil(0.9 * static_cast<double>(n))) - 1];  // nearest rank
  return s;
}

// The environment for children: ours without systemd's and the agent's own variables, so the
// measurement does not depend on where the benchmark runs.
std::vector<std::string> childEnvironment() {
  constexpr std::string_view kDropped[] = {"NOTIFY_SOCKET=", "WATCHDOG_", "LISTEN_",
                                           "JOURNAL_STREAM=", "DD_"};
  std::vector<std::string> env;
  for (char** e = environ; *e != nullptr; ++e) {
    const std::string_view var = *e;
    const bool dropped = std::any_of(std::begin(kDropped), std::end(kDropped),
                                     [&](std::string_view p) { return var.starts_with(p); });
    if (!dropped) {
      env.emplace_back(var);
    }
  }
  return env;
}

struct Options {
  std::string outpost;
  int runs = 20;
  double idle_seconds = 10;
};

class Bench {
 public:
  explicit Bench(Options opts)
      : opts_(std::move(opts)),
        env_(childEnvironment()),
        dev_null_(::open("/dev/null", O_RDWR | O_CLOEXEC)) {
    if (dev_null_.get() < 0) {
      throwErrno("open /dev/null");
    }
  }

  // A running daemon that has sent READY=1.
  struct Started {
    Child child;
    double ready_ms = 0;
    std::string status;  // STATUS= sent with READY=1
  };

  // Starts `outpost run` in a fresh directory with a fresh notify socket and waits for READY=1.
  // Times from just before fork() to the receipt of READY=1.
  Started startDaemon() {
    const fs::path dir = tmp_.path() / ("daemon-" + std::to_string(++daemons_));
    fs::create_directory(dir);
    {
      std::ofstream yaml(dir / "outpost.yaml");
      // Every source on (DogStatsD on a free loopback port), nothing arriving.
      yaml << "run_path: " << (dir / "run").string() << "\nlog_level: warn\n"
           << "dogstatsd_port: " << freeUdpPort() << "\n"
           << "apm_config:\n  receiver_port: 0\n";
      if (!yaml) {
        throw std::runtime_error("cannot write " + (dir / "outpost.yaml").string());
      }
    }
    const std::string socket_path = (dir / "notify.sock").string();
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    if (socket_path.size() >= sizeof addr.sun_path) {
      throw std::runtime_error("socket path too long (set TMPDIR shorter): " + socket_path);
    }
    std::memcpy(addr.sun_path, socket_path.c_str(), socket_path.size() + 1);
    Fd sock(::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
    if (sock.get() < 0) {
      throwErrno("socket");
    }
    if (::bind(sock.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) {
      throwErrno("bind " + socket_path);
    }
    std::vector<std::string> env = env_;
    env.push_back("NOTIFY_SOCKET=" + socket_path);

    const double start = monotonicSeconds();
    Started started{
        .child = Child::spawn({opts_.outpost, "run", "-c", dir.string()}, env, dev_null_),
        .ready_ms = 0,
        .status = {}};
    const double deadline = start + kReadyTimeoutSeconds;
    for (;;) {
      checkInterrupted();
      pollfd fds[2] = {{.fd = sock.get(), .events = POLLIN, .revents = 0},
                       {.fd = started.child.pidfd(), .events = POLLIN, .revents = 0}};
      // Without a pidfd, wake every 50 ms to notice a daemon that exited.
      const int timeout =
          started.child.pidfd() >= 0 ? msUntil(deadline) : std::min(msUntil(deadline), 50);
      const int n = ::poll(fds, started.child.pidfd() >= 0 ? 2 : 1, timeout);
      if (n < 0 && errno != EINTR) {
        throwErrno("poll");
      }
      char buf[4096];
      ssize_t len;
      while ((len = ::recv(sock.get(), buf, sizeof buf, 0)) > 0) {
        bool ready = false;
        std::istringstream lines(std::string(buf, static_cast<size_t>(len)));
        for (std::string line; std::getline(lines, line);) {
          if (line == "READY=1") {
            ready = true;
          } else if (line.starts_with("STATUS=")) {
            started.status = line.substr(7);
          }
        }
        if (ready) {
          started.ready_ms = (monotonicSeconds() - start) * 1000;
          return started;
        }
      }
      if (started.child.tryReap()) {
        throw std::runtime_error(opts_.outpost + " run exited before READY=1 (" +
                                 describeStatus(started.child.status()) +
                                 "; its stderr went to /dev/null: run it by hand with the "
                                 "benchmark's config, `run_path: DIR/run` and `log_level: warn`)");
      }
      if (msUntil(deadline) == 0) {
        throw std::runtime_error(opts_.outpost + " sent no READY=1 within " +
                                 std::to_string(static_cast<int>(kReadyTimeoutSeconds)) +
                                 " s (NOTIFY_SOCKET " + socket_path + ")");
      }
    }
  }

  // SIGTERM, then waits for the exit; returns the time it took in ms. A daemon that does not
  // exit in time or exits unsuccessfully is counted in stop_failures_.
  double stopDaemon(Child& child) {
    const double start = monotonicSeconds();
    child.signal(SIGTERM);
    if (!child.waitFor(kStopTimeoutSeconds)) {
      std::fprintf(stderr, "error: outpost pid %d still running %d s after SIGTERM; killing it\n",
                   child.pid(), static_cast<int>(kStopTimeoutSeconds));
      ++stop_failures_;
      child.signal(SIGKILL);
      child.waitBlocking();
      return (monotonicSeconds() - start) * 1000;
    }
    const double ms = (monotonicSeconds() - start) * 1000;
    if (!WIFEXITED(child.status()) || WEXITSTATUS(child.status()) != 0) {
      std::fprintf(stderr, "error: outpost did not stop cleanly on SIGTERM: %s\n",
                   describeStatus(child.status()).c_str());
      ++stop_failures_;
    }
    return ms;
  }

  // fork+exec of /bin/true until waitpid() returns, in ms.
  double spawnTrue() {
    const double start = monotonicSeconds();
    Child child = Child::spawn({"/bin/true"}, env_, dev_null_);
    child.waitBlocking();
    const double ms = (monotonicSeconds() - start) * 1000;
    if (!WIFEXITED(child.status()) || WEXITSTATUS(child.status()) != 0) {
      throw std::runtime_error("/bin/true: " + describeStatus(child.status()));
    }
    return ms;
  }

  int run() {
    std::printf("outpost-bench-daemon\n");
    std::printf("  outpost   %s\n", opts_.outpost.c_str());
    std::printf("  runs      %d (+1 warm-up, discarded), interleaved with /bin/true\n", opts_.runs);
    std::printf("  idle      %g s, after READY=1 and %g s to settle\n", opts_.idle_seconds,
                kSettleSeconds);
    std::fflush(stdout);

    // Start-to-READY, interleaved with the reference so both see the same machine noise.
    std::vector<double> ready_ms;
    std::vector<double> true_ms;
    std::vector<double> stop_ms;
    std::string ready_status;
    for (int i = -1; i < opts_.runs; ++i) {
      const double t = spawnTrue();
      Started d = startDaemon();
      const double stop = stopDaemon(d.child);
      if (i >= 0) {
        true_ms.push_back(t);
        ready_ms.push_back(d.ready_ms);
        stop_ms.push_back(stop);
      }
      ready_status = d.status;
    }
    const Stats ready = summarize(ready_ms);
    const Stats spawn = summarize(true_ms);
    const Stats stop = summarize(stop_ms);
    const double startup_ratio = ready.median / spawn.median;

    // Idle: one daemon, settled, then RSS and CPU over idle_seconds.
    Started idle = startDaemon();
    const pid_t idle_pid = idle.child.pid();
    sleepSeconds(kSettleSeconds);
    const MemoryUsage mem = readMemory(idle.child.pid());
    const CpuSample cpu0 = readCpu(idle.child.pid());
    sleepSeconds(opts_.idle_seconds);
    const CpuSample cpu1 = readCpu(idle.child.pid());
    const MemoryUsage mem_after = readMemory(idle.child.pid());
    stopDaemon(idle.child);

    const double wall = cpu1.at - cpu0.at;
    const double tick_pct = static_cast<double>(cpu1.ticks - cpu0.ticks) /
                            static_cast<double>(::sysconf(_SC_CLK_TCK)) / wall * 100;
    const bool have_runtime = cpu0.runtime_ns >= 0 && cpu1.runtime_ns >= 0;
    const double runtime_pct =
        have_runtime ? static_cast<double>(cpu1.runtime_ns - cpu0.runtime_ns) / 1e9 / wall * 100
                     : 0;
    const double cpu_pct = have_runtime ? runtime_pct : tick_pct;
    const double wakeups = static_cast<double>(cpu1.switches - cpu0.switches) / wall;

    // Reference RSS: `sleep 30`, measured the same way.
    Child sleeper = Child::spawn({sleepPath(), "30"}, env_, dev_null_);
    sleepSeconds(kSettleSeconds);
    const MemoryUsage sleep_mem = readMemory(sleeper.pid());
    sleeper.signal(SIGTERM);
    sleeper.waitBlocking();
    const double rss_ratio = mem.rss_mib / sleep_mem.rss_mib;

    const bool startup_pass = ready.median <= kTargetStartupMs;
    const bool rss_pass = mem.rss_mib <= kTargetIdleRssMib;
    const bool cpu_pass = cpu_pct <= kTargetIdleCpuPct;
    const auto verdict = [](bool pass) { return pass ? "PASS" : "MISS"; };

    std::printf("\nstart-to-READY (ms)                      min    median       p90\n");
    std::printf("  outpost run -> READY=1           %9.2f %9.2f %9.2f\n", ready.min, ready.median,
                ready.p90);
    std::printf("  /bin/true fork+exec -> exit      %9.2f %9.2f %9.2f\n", spawn.min, spawn.median,
                spawn.p90);
    std::printf("  ratio of medians (outpost/true)            %8.1fx\n", startup_ratio);
    std::printf("  outpost SIGTERM -> exit          %9.2f %9.2f %9.2f\n", stop.min, stop.median,
                stop.p90);
    std::printf("  READY status: %s\n", ready_status.c_str());

    std::printf("\nidle (pid %d, %lld threads, over %.1f s)\n", idle_pid, mem.threads, wall);
    std::printf("  RSS (VmRSS)                      %9.2f MiB  (%.2f MiB at the end)\n",
                mem.rss_mib, mem_after.rss_mib);
    std::printf("    anon (heap, stacks)            %9.2f MiB\n", mem.anon_mib);
    std::printf("    file (binary, shared libs)     %9.2f MiB\n", mem.file_mib);
    std::printf("  peak RSS (VmHWM)                 %9.2f MiB\n", mem.hwm_mib);
    std::printf("  `sleep 30` RSS                   %9.2f MiB\n", sleep_mem.rss_mib);
    std::printf("  ratio (outpost/sleep)            %9.1fx\n", rss_ratio);
    if (have_runtime) {
      std::printf("  CPU, scheduler run time          %9.4f %% of a core\n", runtime_pct);
    }
    std::printf("  CPU, utime+stime (%ld ms ticks)   %9.4f %% of a core\n",
                1000 / ::sysconf(_SC_CLK_TCK), tick_pct);
    std::printf("  context switches                 %9.1f /s\n", wakeups);

    std::printf("\ntargets (informational)             measured      target\n");
    const auto row = [&](const char* what, const std::string& measured, const std::string& target,
                         bool pass) {
      std::printf("  %-32s %12s  %10s   %s\n", what, measured.c_str(), target.c_str(),
                  verdict(pass));
    };
    row("start-to-READY (median)", formatted("%.2f ms", ready.median),
        formatted("<= %.0f ms", kTargetStartupMs), startup_pass);
    row("idle RSS", formatted("%.2f MiB", mem.rss_mib), formatted("<= %.0f MiB", kTargetIdleRssMib),
        rss_pass);
    row(have_runtime ? "idle CPU (scheduler run time)" : "idle CPU (utime+stime)",
        formatted("%.4f %%", cpu_pct), formatted("<= %.1f %%", kTargetIdleCpuPct), cpu_pass);
    if (stop_failures_ > 0) {
      std::printf("\n%d daemon(s) did not stop cleanly on SIGTERM (see above)\n", stop_failures_);
    }

    std::printf(
        "\nRESULT startup_min_ms=%.3f startup_median_ms=%.3f startup_p90_ms=%.3f "
        "true_median_ms=%.3f startup_vs_true=%.2f stop_median_ms=%.3f idle_rss_mib=%.3f "
        "idle_hwm_mib=%.3f idle_anon_mib=%.3f idle_file_mib=%.3f sleep_rss_mib=%.3f "
        "rss_vs_sleep=%.2f idle_cpu_pct=%.4f "
        "idle_cpu_pct_ticks=%.4f idle_ctx_switches_per_s=%.2f idle_threads=%lld "
        "startup_pass=%d rss_pass=%d cpu_pass=%d stop_failures=%d runs=%d idle_seconds=%g\n",
        ready.min, ready.median, ready.p90, spawn.median, startup_ratio, stop.median, mem.rss_mib,
        mem.hwm_mib, mem.anon_mib, mem.file_mib, sleep_mem.rss_mib, rss_ratio, cpu_pct, tick_pct,
        wakeups, mem.threads, startup_pass, rss_pass, cpu_pass, stop_failures_, opts_.runs,
        opts_.idle_seconds);
    return stop_failures_ > 0 ? 1 : 0;
  }

 private:
  static std::string sleepPath() {
    for (const char* p : {"/bin/sleep", "/usr/bin/sleep"}) {
      if (::access(p, X_OK) == 0) {
        return p;
      }
    }
    throw std::runtime_error("no sleep binary in /bin or /usr/bin");
  }

  Options opts_;
  std::vector<std::string> env_;
  Fd dev_null_;
  TempDir tmp_;
  int daemons_ = 0;
  int stop_failures_ = 0;
};

std::string defaultOutpostPath() {
  std::error_code ec;
  const fs::path self = fs::read_symlink("/proc/self/exe", ec);
  if (ec) {
    throw std::runtime_error("cannot read /proc/self/exe: " + ec.message());
  }
  return (self.parent_path() / "outpost").string();
}

// Parses the command line; returns nullopt after printing usage (or an error, with *exit_code 2).
std::optional<Options> parseArgs(int argc, char** argv, int* exit_code) {
  Options opts;
  for (int i = 1; i < argc; ++i) {
    const std::string_view a = argv[i];
    if (a == "-h" || a == "--help") {
      std::fputs(kUsage, stdout);
      *exit_code = 0;
      return std::nullopt;
    }
    const bool known = a == "--outpost" || a == "--runs" || a == "--idle-seconds";
    if (!known || i + 1 >= argc) {
      std::fprintf(stderr,
                   known ? "outpost-bench-daemon: %s needs a value\n\n%s"
                         : "outpost-bench-daemon: unknown argument '%s'\n\n%s",
                   argv[i], kUsage);
      *exit_code = 2;
      return std::nullopt;
    }
    const char* value = argv[++i];
    char* end = nullptr;
    if (a == "--outpost") {
      opts.outpost = value;
    } else if (a == "--runs") {
      const long runs = std::strtol(value, &end, 10);
      if (*value == '\0' || *end != '\0' || runs < 1 || runs > 100000) {
        std::fprintf(stderr, "outpost-bench-daemon: --runs wants a positive integer\n");
        *exit_code = 2;
        return std::nullopt;
      }
      opts.runs = static_cast<int>(runs);
    } else {
      const double seconds = std::strtod(value, &end);
      if (*value == '\0' || *end != '\0' || !(seconds > 0) || seconds > 86400) {
        std::fprintf(stderr, "outpost-bench-daemon: --idle-seconds wants a positive number\n");
        *exit_code = 2;
        return std::nullopt;
      }
      opts.idle_seconds = seconds;
    }
  }
  return opts;
}

}  // namespace

int main(int argc, char** argv) {
  int exit_code = 0;
  std::optional<Options> opts = parseArgs(argc, argv, &exit_code);
  if (!opts) {
    return exit_code;
  }
  struct sigaction sa {};
  sa.sa_handler = onSignal;  // No SA_RESTART: waits return EINTR and unwind through cleanup.
  sigemptyset(&sa.sa_mask);
  for (int sig : {SIGINT, SIGTERM, SIGHUP}) {
    ::sigaction(sig, &sa, nullptr);
  }
  try {
    if (opts->outpost.empty()) {
      opts->outpost = defaultOutpostPath();
    }
    if (::access(opts->outpost.c_str(), X_OK) != 0) {
      throwErrno("outpost binary " + opts->outpost);
    }
    opts->outpost = fs::absolute(opts->outpost).lexically_normal().string();
    Bench bench(std::move(*opts));
    return bench.run();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "outpost-bench-daemon: error: %s\n", e.what());
    return 1;
  }
}
