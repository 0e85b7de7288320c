#include "core/loop.h"

#include <cstdlib>

#include "core/log.h"

namespace outpost {

Loop::Loop() {
  if (uv_loop_init(&loop_) != 0) {
    std::abort();  // Only fails when the process is out of file descriptors or memory.
  }
}

Loop::~Loop() {
  // Let close callbacks of handles closed by destroyed wrappers run, then close the loop.
  uv_run(&loop_, UV_RUN_DEFAULT);
  if (uv_loop_close(&loop_) == UV_EBUSY) {
    uv_walk(
        &loop_,
        [](uv_handle_t* h, void*) {
          LOG_ERROR("loop", "handle of type {} still open at exit",
                    uv_handle_type_name(uv_handle_get_type(h)));
        },
        nullptr);
  }
}

// Each State begins with the uv handle, so the handle pointer is the State pointer and the close
// callback can free the whole State.

struct Timer::State {
  uv_timer_t handle;
  std::function<void()> fn;
};

Timer::Timer(uv_loop_t* loop, std::function<void()> fn) : state_(new State{{}, std::move(fn)}) {
  uv_timer_init(loop, &state_->handle);
  state_->handle.data = state_;
}

Timer::~Timer() {
  uv_close(reinterpret_cast<uv_handle_t*>(&state_->handle),
           [](uv_handle_t* h) { delete static_cast<State*>(h->data); });
}

void Timer::start(uint64_t timeout_ms, uint64_t repeat_ms) {
  uv_timer_start(
      &state_->handle, [](uv_timer_t* h) { static_cast<State*>(h->data)->fn(); }, timeout_ms,
      repeat_ms);
}

void Timer::stop() {
  uv_timer_stop(&state_->handle);
}
void Timer::unref() {
  uv_unref(reinterpret_cast<uv_handle_t*>(&state_->handle));
}

struct SignalWatcher::State {
  uv_signal_t handle;
  std::function<void(int)> fn;
};

SignalWatcher::SignalWatcher(uv_loop_t* loop, int signum, std::function<void(int)> fn)
    : state_(new State{{}, std::move(fn)}) {
  uv_signal_init(loop, &state_->handle);
  state_->handle.data = state_;
  uv_signal_start(
      &state_->handle, [](uv_signal_t* h, int sig) { static_cast<State*>(h->data)->fn(sig); },
      signum);
}

SignalWatcher::~SignalWatcher() {
  uv_signal_stop(&state_->handle);
  uv_close(reinterpret_cast<uv_handle_t*>(&state_->handle),
           [](uv_handle_t* h) { delete static_cast<State*>(h->data); });
}

struct Async::State {
  uv_async_t handle;
  std::function<void()> fn;
};

Async::Async(uv_loop_t* loop, std::function<void()> fn) : state_(new State{{}, std::move(fn)}) {
  uv_async_init(loop, &state_->handle, [](uv_async_t* h) { static_cast<State*>(h->data)->fn(); });
  state_->handle.data = state_;
}

Async::~Async() {
  uv_close(reinterpret_cast<uv_handle_t*>(&state_->handle),
           [](uv_handle_t* h) { delete static_cast<State*>(h->data); });
}

void Async::send() {
  uv_async_send(&state_->handle);
}
void Async::setReferenced(bool on) {
  auto* h = reinterpret_cast<uv_handle_t*>(&state_->handle);
  if (on) {
    uv_ref(h);
  } else {
    uv_unref(h);
  }
}

struct FsWatcher::State {
  uv_fs_event_t handle;
  std::function<void(const char*, int)> fn;
};

FsWatcher::FsWatcher(uv_loop_t* loop, std::function<void(const char*, int)> fn)
    : state_(new State{{}, std::move(fn)}) {
  uv_fs_event_init(loop, &state_->handle);
  state_->handle.data = state_;
}

FsWatcher::~FsWatcher() {
  uv_close(reinterpret_cast<uv_handle_t*>(&state_->handle),
           [](uv_handle_t* h) { delete static_cast<State*>(h->data); });
}

bool FsWatcher::start(const std::string& path, std::string* error) {
  const int rc = uv_fs_event_start(
      &state_->handle,
      [](uv_fs_event_t* h, const char* name, int events, int status) {
        if (status == 0) {
          static_cast<State*>(h->data)->fn(name != nullptr ? name : "", events);
        }
      },
      path.c_str(), 0);
  if (rc != 0) {
    if (error != nullptr) {
      *error = uv_strerror(rc);
    }
    return false;
  }
  return true;
}

void FsWatcher::stop() {
  uv_fs_event_stop(&state_->handle);
}

}  // namespace outpost
