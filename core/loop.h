#pragma once

#include <uv.h>

#include <cstdint>
#include <functional>
#include <string>

namespace outpost {

// RAII wrappers over the few libuv handles the daemon core uses. Each wrapper owns one handle;
// destroying the wrapper closes the handle, and libuv frees its memory in the close callback, so
// the loop must run once more after the last wrapper goes (Loop's destructor does that).
// All methods are loop-thread only, except Async::send.

class Loop {
 public:
  Loop();
  ~Loop();
  Loop(const Loop&) = delete;
  Loop& operator=(const Loop&) = delete;

  uv_loop_t* get() { return &loop_; }
  int run() { return uv_run(&loop_, UV_RUN_DEFAULT); }
  void stop() { uv_stop(&loop_); }
  uint64_t nowMs() { return uv_now(&loop_); }

 private:
  uv_loop_t loop_;
};

class Timer {
 public:
  Timer(uv_loop_t* loop, std::function<void()> fn);
  ~Timer();
  Timer(const Timer&) = delete;
  Timer& operator=(const Timer&) = delete;

  // Fires after `timeout_ms`, then every `repeat_ms` if non-zero.
  void start(uint64_t timeout_ms, uint64_t repeat_ms = 0);
  void stop();
  // An unreferenced timer does not keep the loop alive.
  void unref();

 private:
  struct State;
  State* state_;
};

class SignalWatcher {
 public:
  SignalWatcher(uv_loop_t* loop, int signum, std::function<void(int)> fn);
  ~SignalWatcher();
  SignalWatcher(const SignalWatcher&) = delete;
  SignalWatcher& operator=(const SignalWatcher&) = delete;

 private:
  struct State;
  State* state_;
};

// Wakes the loop from any thread; calls coalesce.
class Async {
 public:
  Async(uv_loop_t* loop, std::function<void()> fn);
  ~Async();
  Async(const Async&) = delete;
  Async& operator=(const Async&) = delete;

  void send();  // thread-safe
  // A referenced handle keeps the loop running; an unreferenced one does not.
  void setReferenced(bool on);

 private:
  struct State;
  State* state_;
};

// Watches a directory (or a file) for changes with inotify (uv_fs_event): fn(name, events)
// gets the entry's name inside the directory ("" when unknown) and UV_RENAME / UV_CHANGE bits.
// A path that cannot be watched (missing, too many watches) reports false from start().
class FsWatcher {
 public:
  FsWatcher(uv_loop_t* loop, std::function<void(const char* name, int events)> fn);
  ~FsWatcher();
  FsWatcher(const FsWatcher&) = delete;
  FsWatcher& operator=(const FsWatcher&) = delete;

  bool start(const std::string& path, std::string* error);
  void stop();

 private:
  struct State;
  State* state_;
};

}  // namespace outpost
