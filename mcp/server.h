#pragma once

#include <nlohmann/json.hpp>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "mcp/jsonrpc.h"

// The MCP server of outpost-mcp: reads JSON-RPC messages (one a line), answers initialize,
// ping, tools/*, resources/*, logging/setLevel; runs each tool call on a thread of its own so
// that notifications/cancelled can stop it (the socket is closed, the daemon stops the search)
// and progress can be reported while it runs.
namespace outpost::mcp {

inline constexpr const char* kProtocolVersions[] = {"2025-11-25", "2025-06-18", "2025-03-26"};

class Server {
 public:
  struct Options {
    std::string socket_path;
    size_t max_result_bytes = 64 << 10;
    std::chrono::milliseconds call_timeout{120'000};
    std::chrono::milliseconds progress_interval{1000};
  };
  // Receives each outgoing line (with its newline); called from several threads, one at a time.
  using Writer = std::function<void(const std::string&)>;

  Server(Options options, Writer writer);
  ~Server();  // waits for the calls still running
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  void handleLine(std::string_view line);
  // Waits for every running call to answer (at the end of input).
  void finish();

  const std::string& negotiatedVersion() const { return version_; }

 private:
  struct Call {
    nlohmann::json id;
    std::atomic<bool> cancel{false};
    std::atomic<bool> done{false};
    nlohmann::json progress_token;  // null: none asked for
    std::chrono::steady_clock::time_point started;
  };

  void handleMessage(const nlohmann::json& j);
  void send(const nlohmann::json& message);
  void startCall(const Message& m, std::function<nlohmann::json(const std::atomic<bool>&)> work);
  void progressLoop();
  nlohmann::json initialize(const nlohmann::json& params);

  Options options_;
  Writer writer_;
  std::mutex write_mu_;
  std::string version_;
  std::string log_level_ = "info";

  std::mutex mu_;
  std::condition_variable cv_;
  std::map<std::string, std::shared_ptr<Call>> calls_;  // by id.dump()
  size_t running_ = 0;                                  // call threads (detached) not yet finished
  bool stopping_ = false;
  std::thread progress_thread_;
};

}  // namespace outpost::mcp
