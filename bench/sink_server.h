#pragma once

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>

#include "core/http_server.h"
#include "core/loop.h"
#include "core/telemetry.h"

namespace outpost::bench {

// An intake stand-in for benchmarks: an HttpServer on 127.0.0.1 on its own loop and thread that
// answers every request with status() and counts what it accepted. No decoding, so the
// benchmark measures the sender, not the receiver.
class SinkServer {
 public:
  explicit SinkServer(int status = 202) : status_(status) {
    thread_ = std::thread([this] { serve(); });
    while (port_ == 0) {
      std::this_thread::yield();
    }
  }
  ~SinkServer() {
    stop_.load()->send();
    thread_.join();
  }
  SinkServer(const SinkServer&) = delete;
  SinkServer& operator=(const SinkServer&) = delete;

  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  void setStatus(int status) { status_ = status; }
  uint64_t accepted() const { return accepted_; }
  uint64_t acceptedBytes() const { return bytes_; }

 private:
  void serve() {
    Loop loop;
    Telemetry telemetry;
    HttpServer::Options options;
    options.name = "sink";
    options.max_body_bytes = 64 << 20;
    HttpServer server(
        loop.get(), options,
        [this](HttpRequest& req, HttpServer::Respond respond) {
          const int status = status_.load();
          if (status >= 200 && status < 300) {
            ++accepted_;
            bytes_ += req.body.size();
          }
          respond(HttpResponse::json(status, "{}"));
        },
        telemetry);
    std::string error;
    if (!server.listenTcp("127.0.0.1", 0, &error)) {
      std::fprintf(stderr, "sink: %s\n", error.c_str());
      std::exit(1);
    }
    Async stop(loop.get(), [&] {
      server.shutdown([] {});
      loop.stop();
    });
    stop_ = &stop;
    port_ = server.port();  // published last: the destructor may use stop_ from now on
    loop.run();
  }

  std::thread thread_;
  std::atomic<int> port_{0};
  std::atomic<int> status_;
  std::atomic<uint64_t> accepted_{0};
  std::atomic<uint64_t> bytes_{0};
  std::atomic<Async*> stop_{nullptr};
};

}  // namespace outpost::bench
