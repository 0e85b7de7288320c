#pragma once

#include <uv.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/http_server.h"
#include "core/loop.h"
#include "core/telemetry.h"
#include "tests/fakeintake/payload.h"

// A fake Datadog intake: a real HTTP/1.1 server (core/http_server.h) that accepts every intake
// route of shared/spec/wire-formats.md, checks the headers, decompresses and decodes each body,
// records it (valid or not) in order of arrival, and answers as the real intake does. Tests read
// the payloads back in-process (PayloadStore, FakeIntakeThread) or over HTTP under /fakeintake/,
// and script faults per route: statuses for the next N requests, delays, dropped connections,
// slow reads. See README.md for the HTTP control API.

namespace outpost::fakeintake {

// A scripted answer for the next `count` requests to one route.
struct Fault {
  int status = 0;                // answer this status; 0 answers as usual (for delay or drop)
  int count = 1;                 // requests it applies to; 0 = every request until cleared
  std::string retry_after;       // a Retry-After header when non-empty
  uint64_t delay_ms = 0;         // answer (or drop) this much later
  bool drop_connection = false;  // close the connection without an answer
  std::string body;              // body for `status`; default {"errors":["fault injected"]}
};

// {"path": "/api/v2/series", "status": 500, "count": 2, "retry_after": "1", "delay_ms": 0,
//  "drop_connection": false, "body": "..."}; every key but "path" is optional.
bool faultFromJson(const nlohmann::json& j, std::string* path, Fault* fault, std::string* error);
nlohmann::json toJson(const std::string& path, const Fault& fault);

struct RouteStats {
  uint64_t requests = 0;
  uint64_t valid = 0;
  uint64_t invalid = 0;
  uint64_t faulted = 0;
  uint64_t compressed_bytes = 0;
  uint64_t decompressed_bytes = 0;
};

// The recorded payloads, the fault queues and the validation settings. Thread-safe; shared by
// the server (loop thread) and readers (any thread). Everything is kept until reset().
class PayloadStore {
 public:
  explicit PayloadStore(ValidationOptions options = {});

  // Assigns the next sequence number, stores the payload and wakes waiters. Returns the seq.
  uint64_t record(Payload payload);

  // Payloads in order of arrival with seq > since; `route` empty means every route
  // ("/intake" and "/intake/" are one).
  std::vector<Payload> payloads(std::string_view route = {}, uint64_t since = 0) const;
  // The same, only those answered 2xx.
  std::vector<Payload> acceptedPayloads(std::string_view route = {}, uint64_t since = 0) const;
  // Blocks until at least `n` payloads match (route, since) or `timeout` passes; returns the
  // matching payloads either way (check the size).
  std::vector<Payload> waitForPayloads(std::string_view route, size_t n,
                                       std::chrono::milliseconds timeout, uint64_t since = 0) const;
  uint64_t lastSeq() const;
  // Removes and returns the payloads of `route` (all routes when empty) recorded so far, in
  // order: long runs read their payloads as they come without the store growing.
  std::vector<Payload> take(std::string_view route = {});

  // Queues a fault for `path` (a route, or "*" for any request); faults for one path are
  // consumed in order.
  void addFault(std::string_view path, Fault fault);
  // Consumes one request's worth of the first fault queued for `route` (then for "*").
  std::optional<Fault> takeFault(std::string_view route);
  std::vector<std::pair<std::string, Fault>> faults() const;
  void clearFaults();

  void setInvalidApiKeys(std::set<std::string> keys);
  ValidationOptions validationOptions() const;

  std::map<std::string, RouteStats> stats() const;
  nlohmann::json statsJson() const;

  // Forgets payloads, faults and stats; sequence numbers keep counting.
  void reset();

 private:
  std::vector<Payload> select(std::string_view route, uint64_t since, bool accepted_only) const;
  size_t countLocked(const std::string& route, uint64_t since) const;

  mutable std::mutex mu_;
  mutable std::condition_variable cv_;
  ValidationOptions options_;
  std::vector<Payload> payloads_;
  uint64_t seq_ = 0;
  std::map<std::string, std::deque<Fault>> faults_;
  std::map<std::string, RouteStats> stats_;
};

// The server. Loop thread only, except store(), which is thread-safe.
class FakeIntake {
 public:
  struct Options {
    ValidationOptions validation;
    size_t max_body_bytes = 64 * 1024 * 1024;  // as received (compressed)
    std::string name = "fakeintake";           // HttpServer telemetry tag and log component
  };

  // Records into `store` (a new one when null), so payloads outlive the server if wanted.
  FakeIntake(uv_loop_t* loop, Options options, std::shared_ptr<PayloadStore> store = nullptr);
  ~FakeIntake();  // answers delayed responses now, then closes everything
  FakeIntake(const FakeIntake&) = delete;
  FakeIntake& operator=(const FakeIntake&) = delete;

  bool listen(const std::string& host, int port, std::string* error);
  int port() const;

  // Reads request bodies at most this fast (0 = unlimited): a slow intake.
  void setReadRateLimit(uint64_t bytes_per_second);
  // Stops accepting; `done` runs when every connection is closed.
  void shutdown(std::function<void()> done);

  PayloadStore& store() { return *store_; }
  const std::shared_ptr<PayloadStore>& sharedStore() const { return store_; }
  Telemetry& telemetry() { return telemetry_; }
  uv_loop_t* loop() const { return loop_; }

 private:
  struct Pending {
    std::unique_ptr<Timer> timer;
    HttpServer::Respond respond;
    HttpResponse response;
  };

  void handle(HttpRequest& request, HttpServer::Respond respond);
  HttpResponse control(const HttpRequest& request);
  void respondLater(uint64_t delay_ms, HttpServer::Respond respond, HttpResponse response);
  void finishPending(uint64_t id);
  void flushPending();

  uv_loop_t* loop_;
  Options options_;
  std::shared_ptr<PayloadStore> store_;
  Telemetry telemetry_;
  std::unique_ptr<HttpServer> server_;
  std::map<uint64_t, Pending> pending_;  // delayed answers
  uint64_t next_pending_ = 0;
  uint64_t read_rate_ = 0;
};

// A FakeIntake on its own loop and thread, for tests: start(), point the client at url(), then
// read payloads synchronously. All methods are for the owning (test) thread.
class FakeIntakeThread {
 public:
  FakeIntakeThread();
  explicit FakeIntakeThread(FakeIntake::Options options);
  ~FakeIntakeThread();  // stop()
  FakeIntakeThread(const FakeIntakeThread&) = delete;
  FakeIntakeThread& operator=(const FakeIntakeThread&) = delete;

  // Binds host:port (port 0 picks a free one) and starts serving. False + *error on failure.
  bool start(const std::string& host = "127.0.0.1", int port = 0, std::string* error = nullptr);
  // Closes the listener and every connection (pending delayed answers are sent first), and
  // joins the thread. Recorded payloads stay readable.
  void stop();

  int port() const { return port_; }
  std::string url() const;  // "http://127.0.0.1:PORT"

  PayloadStore& store() { return *store_; }
  std::vector<Payload> payloads(std::string_view route = {}, uint64_t since = 0) const {
    return store_->payloads(route, since);
  }
  std::vector<Payload> waitForPayloads(std::string_view route, size_t n,
                                       std::chrono::milliseconds timeout,
                                       uint64_t since = 0) const {
    return store_->waitForPayloads(route, n, timeout, since);
  }
  void addFault(std::string_view path, Fault fault) { store_->addFault(path, std::move(fault)); }
  void setReadRateLimit(uint64_t bytes_per_second);
  // PayloadStore::reset plus the read rate back to unlimited.
  void reset();

  // Runs `fn` on the intake's loop and waits for it. False when the intake is not running.
  bool runOnLoop(const std::function<void(FakeIntake&)>& fn);

 private:
  void drainTasks(FakeIntake& intake);

  FakeIntake::Options options_;
  std::shared_ptr<PayloadStore> store_;
  std::thread thread_;
  std::atomic<int> port_{0};
  std::string host_;

  std::mutex mu_;           // guards the two below
  Async* async_ = nullptr;  // set while the loop runs
  std::deque<std::function<void(FakeIntake&)>> tasks_;
};

}  // namespace outpost::fakeintake
