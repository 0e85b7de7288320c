#include "tests/fakeintake/fake_intake.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <charconv>
#include <chrono>
#include <future>

#include "core/log.h"

namespace outpost::fakeintake {

namespace {

using nlohmann::json;

constexpr std::string_view kControlPrefix = "/fakeintake/";

int64_t nowUnixMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

int hexValue(char c) {
  if (c >= '0' && c <= '9') {
    return c - '0';
  }
  if (c >= 'a' && c <= 'f') {
    return c - 'a' + 10;
  }
  if (c >= 'A' && c <= 'F') {
    return c - 'A' + 10;
  }
  return -1;
}

std::string percentDecode(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '+') {
      out += ' ';
    } else if (s[i] == '%' && i + 2 < s.size() && hexValue(s[i + 1]) >= 0 &&
               hexValue(s[i + 2]) >= 0) {
      out += static_cast<char>(hexValue(s[i + 1]) * 16 + hexValue(s[i + 2]));
      i += 2;
    } else {
      out += s[i];
    }
  }
  return out;
}

std::map<std::string, std::string> parseQuery(std::string_view query) {
  std::map<std::string, std::string> out;
  while (!query.empty()) {
    size_t amp = query.find('&');
    std::string_view part = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    if (part.empty()) {
      continue;
    }
    size_t eq = part.find('=');
    std::string key = percentDecode(part.substr(0, eq));
    std::string value = eq == std::string_view::npos ? "" : percentDecode(part.substr(eq + 1));
    out[key] = value;
  }
  return out;
}

bool parseUint(std::string_view s, uint64_t* out) {
  if (s.empty()) {
    return false;
  }
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
  return ec == std::errc() && ptr == s.data() + s.size();
}

bool truthy(std::string_view s) {
  return s == "1" || s == "true" || s == "yes";
}

HttpResponse errorJson(int status, std::string message) {
  return jsonResponse(status, dumpJson(json{{"errors", json::array({std::move(message)})}}));
}

// Parses a control request's JSON body, or explains why not.
bool parseControlBody(const HttpRequest& request, json* out, HttpResponse* error) {
  *out = json::parse(request.body, nullptr, /*allow_exceptions=*/false);
  if (out->is_discarded()) {
    *error = errorJson(400, "body is not valid JSON");
    return false;
  }
  return true;
}

}  // namespace

// -----------------------------------------------------------------------------------------------
// Fault

bool faultFromJson(const json& j, std::string* path, Fault* fault, std::string* error) {
  if (!j.is_object()) {
    *error = "a fault is a JSON object";
    return false;
  }
  *fault = Fault{};
  for (const auto& [key, value] : j.items()) {
    if (key == "path") {
      if (!value.is_string() || value.get_ref<const std::string&>().empty()) {
        *error = "\"path\" must be a non-empty string";
        return false;
      }
      *path = value.get<std::string>();
    } else if (key == "status") {
      if (!value.is_number_integer() || value.get<int64_t>() < 0 || value.get<int64_t>() > 999) {
        *error = "\"status\" must be an integer 0-999";
        return false;
      }
      fault->status = value.get<int>();
    } else if (key == "count") {
      if (!value.is_number_integer() || value.get<int64_t>() < 0 ||
          value.get<int64_t>() > 1'000'000'000) {
        *error = "\"count\" must be a non-negative integer (0 = until cleared)";
        return false;
      }
      fault->count = value.get<int>();
    } else if (key == "retry_after") {
      if (value.is_number_integer()) {
        fault->retry_after = std::to_string(value.get<int64_t>());
      } else if (value.is_string()) {
        fault->retry_after = value.get<std::string>();
      } else {
        *error = "\"retry_after\" must be a string or an integer";
        return false;
      }
    } else if (key == "delay_ms") {
      if (!value.is_number_unsigned() &&
          !(value.is_number_integer() && value.get<int64_t>() >= 0)) {
        *error = "\"delay_ms\" must be a non-negative integer";
        return false;
      }
      fault->delay_ms = value.get<uint64_t>();
    } else if (key == "drop_connection") {
      if (!value.is_boolean()) {
        *error = "\"drop_connection\" must be a boolean";
        return false;
      }
      fault->drop_connection = value.get<bool>();
    } else if (key == "body") {
      if (!value.is_string()) {
        *error = "\"body\" must be a string";
        return false;
      }
      fault->body = value.get<std::string>();
    } else {
      *error = fmt::format(
          "unknown key \"{}\" (path, status, count, retry_after, delay_ms, "
          "drop_connection, body)",
          key);
      return false;
    }
  }
  if (path->empty()) {
    *error = "\"path\" is required";
    return false;
  }
  return true;
}

json toJson(const std::string& path, const Fault& fault) {
  return json{{"path", path},
              {"status", fault.status},
              {"count", fault.count},
              {"retry_after", fault.retry_after},
              {"delay_ms", fault.delay_ms},
              {"drop_connection", fault.drop_connection},
              {"body", fault.body}};
}

// -----------------------------------------------------------------------------------------------
// PayloadStore

PayloadStore::PayloadStore(ValidationOptions options) : options_(std::move(options)) {}

uint64_t PayloadStore::record(Payload payload) {
  uint64_t seq;
  {
    std::lock_guard<std::mutex> lock(mu_);
    seq = ++seq_;
    payload.seq = seq;
    RouteStats& s = stats_[payload.route];
    ++s.requests;
    ++(payload.valid ? s.valid : s.invalid);
    s.faulted += payload.faulted ? 1 : 0;
    s.compressed_bytes += payload.compressed_size;
    s.decompressed_bytes += payload.decompressed_size;
    payloads_.push_back(std::move(payload));
  }
  cv_.notify_all();
  return seq;
}

std::vector<Payload> PayloadStore::select(std::string_view route, uint64_t since,
                                          bool accepted_only) const {
  std::string canonical = route.empty() ? std::string() : canonicalRoute(route);
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<Payload> out;
  for (const Payload& p : payloads_) {
    if (p.seq > since && (canonical.empty() || p.route == canonical) &&
        (!accepted_only || p.accepted())) {
      out.push_back(p);
    }
  }
  return out;
}

size_t PayloadStore::countLocked(const std::string& route, uint64_t since) const {
  size_t n = 0;
  for (const Payload& p : payloads_) {
    if (p.seq > since && (route.empty() || p.route == route)) {
      ++n;
    }
  }
  return n;
}

std::vector<Payload> PayloadStore::payloads(std::string_view route, uint64_t since) const {
  return select(route, since, false);
}

std::vector<Payload> PayloadStore::acceptedPayloads(std::string_view route, uint64_t since) const {
  return select(route, since, true);
}

std::vector<Payload> PayloadStore::waitForPayloads(std::string_view route, size_t n,
                                                   std::chrono::milliseconds timeout,
                                                   uint64_t since) const {
  std::string canonical = route.empty() ? std::string() : canonicalRoute(route);
  {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait_for(lock, timeout, [&] { return countLocked(canonical, since) >= n; });
  }
  return select(route, since, false);
}

std::vector<Payload> PayloadStore::take(std::string_view route) {
  const std::string canonical = route.empty() ? std::string() : canonicalRoute(route);
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<Payload> out;
  std::vector<Payload> keep;
  for (Payload& p : payloads_) {
    if (canonical.empty() || p.route == canonical) {
      out.push_back(std::move(p));
    } else {
      keep.push_back(std::move(p));
    }
  }
  payloads_ = std::move(keep);
  return out;
}

uint64_t PayloadStore::lastSeq() const {
  std::lock_guard<std::mutex> lock(mu_);
  return seq_;
}

void PayloadStore::addFault(std::string_view path, Fault fault) {
  std::string key = path == "*" ? std::string("*") : canonicalRoute(path);
  if (fault.count < 0) {
    fault.count = 1;
  }
  std::lock_guard<std::mutex> lock(mu_);
  faults_[key].push_back(std::move(fault));
}

std::optional<Fault> PayloadStore::takeFault(std::string_view route) {
  std::lock_guard<std::mutex> lock(mu_);
  for (const std::string& key : {std::string(route), std::string("*")}) {
    auto it = faults_.find(key);
    if (it == faults_.end() || it->second.empty()) {
      continue;
    }
    Fault& front = it->second.front();
    Fault taken = front;
    if (front.count > 1) {
      --front.count;
    } else if (front.count == 1) {
      it->second.pop_front();
    }  // count 0: stays until cleared
    if (it->second.empty()) {
      faults_.erase(it);
    }
    return taken;
  }
  return std::nullopt;
}

std::vector<std::pair<std::string, Fault>> PayloadStore::faults() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<std::pair<std::string, Fault>> out;
  for (const auto& [path, queue] : faults_) {
    for (const Fault& f : queue) {
      out.emplace_back(path, f);
    }
  }
  return out;
}

void PayloadStore::clearFaults() {
  std::lock_guard<std::mutex> lock(mu_);
  faults_.clear();
}

void PayloadStore::setInvalidApiKeys(std::set<std::string> keys) {
  std::lock_guard<std::mutex> lock(mu_);
  options_.invalid_api_keys = std::move(keys);
}

ValidationOptions PayloadStore::validationOptions() const {
  std::lock_guard<std::mutex> lock(mu_);
  return options_;
}

std::map<std::string, RouteStats> PayloadStore::stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  return stats_;
}

json PayloadStore::statsJson() const {
  std::lock_guard<std::mutex> lock(mu_);
  json routes = json::object();
  uint64_t total = 0;
  for (const auto& [route, s] : stats_) {
    routes[route] = {{"requests", s.requests},
                     {"valid", s.valid},
                     {"invalid", s.invalid},
                     {"faulted", s.faulted},
                     {"compressed_bytes", s.compressed_bytes},
                     {"decompressed_bytes", s.decompressed_bytes}};
    total += s.requests;
  }
  return json{{"total", total}, {"last_seq", seq_}, {"routes", std::move(routes)}};
}

void PayloadStore::reset() {
  std::lock_guard<std::mutex> lock(mu_);
  payloads_.clear();
  faults_.clear();
  stats_.clear();
}

// -----------------------------------------------------------------------------------------------
// FakeIntake

FakeIntake::FakeIntake(uv_loop_t* loop, Options options, std::shared_ptr<PayloadStore> store)
    : loop_(loop),
      options_(std::move(options)),
      store_(store ? std::move(store) : std::make_shared<PayloadStore>(options_.validation)) {
  HttpServer::Options server_options;
  server_options.name = options_.name;
  server_options.max_body_bytes = options_.max_body_bytes;
  server_ = std::make_unique<HttpServer>(
      loop_, server_options,
      [this](HttpRequest& request, HttpServer::Respond respond) {
        handle(request, std::move(respond));
      },
      telemetry_);
}

FakeIntake::~FakeIntake() {
  flushPending();
}

bool FakeIntake::listen(const std::string& host, int port, std::string* error) {
  return server_->listenTcp(host, port, error);
}

int FakeIntake::port() const {
  return server_->port();
}

void FakeIntake::setReadRateLimit(uint64_t bytes_per_second) {
  read_rate_ = bytes_per_second;
  server_->setReadRateLimit(bytes_per_second);
}

void FakeIntake::shutdown(std::function<void()> done) {
  flushPending();
  server_->shutdown(std::move(done));
}

void FakeIntake::handle(HttpRequest& request, HttpServer::Respond respond) {
  if (request.path.compare(0, kControlPrefix.size(), kControlPrefix) == 0) {
    respond(control(request));
    return;
  }
  Processed processed = processRequest(request, store_->validationOptions(), nowUnixMs());
  Payload& payload = processed.payload;
  HttpResponse response = std::move(processed.response);
  std::optional<Fault> fault = store_->takeFault(payload.route);
  if (fault) {
    payload.faulted = true;
    if (fault->status != 0) {
      std::string body = fault->body;
      if (body.empty()) {
        body = fault->status < 300 ? "{}" : R"({"errors":["fault injected"]})";
      }
      response = jsonResponse(fault->status, std::move(body));
    }
    if (!fault->retry_after.empty()) {
      response.headers.emplace_back("Retry-After", fault->retry_after);
    }
    response.drop_connection = fault->drop_connection;
  }
  payload.status = response.drop_connection ? 0 : response.status;
  if (Logger::instance().enabled(LogLevel::kDebug)) {
    LOG_DEBUG(options_.name, "{} {} -> {}{} ({} bytes {}, {} decoded){}", payload.method,
              payload.target, payload.status, payload.faulted ? " (fault)" : "",
              payload.compressed_size,
              payload.content_encoding.empty() ? "identity" : payload.content_encoding,
              payload.decompressed_size,
              payload.valid ? "" : fmt::format(": {}", fmt::join(payload.errors, "; ")));
  }
  store_->record(std::move(payload));
  if (fault && fault->delay_ms > 0) {
    respondLater(fault->delay_ms, std::move(respond), std::move(response));
  } else {
    respond(std::move(response));
  }
}

HttpResponse FakeIntake::control(const HttpRequest& request) {
  std::string_view what = std::string_view(request.path).substr(kControlPrefix.size());
  const std::string& method = request.method;
  auto methodNotAllowed = [&](std::string_view allowed) {
    HttpResponse r = errorJson(405, fmt::format("{} takes {}", request.path, allowed));
    r.headers.emplace_back("Allow", std::string(allowed));
    return r;
  };

  if (what == "payloads") {
    if (method != "GET") {
      return methodNotAllowed("GET");
    }
    auto query = parseQuery(request.query);
    uint64_t since = 0;
    if (query.count("since") != 0 && !parseUint(query["since"], &since)) {
      return errorJson(400, "since must be a non-negative integer");
    }
    bool include_raw = query.count("raw") == 0 || truthy(query["raw"]);
    bool accepted_only = query.count("accepted") != 0 && truthy(query["accepted"]);
    std::string route = query.count("endpoint") != 0 ? query["endpoint"] : query["route"];
    json list = json::array();
    for (const Payload& p :
         accepted_only ? store_->acceptedPayloads(route, since) : store_->payloads(route, since)) {
      list.push_back(toJson(p, include_raw));
    }
    return jsonResponse(200, dumpJson(json{{"payloads", std::move(list)}}));
  }

  if (what == "faults") {
    if (method == "GET") {
      json list = json::array();
      for (const auto& [path, fault] : store_->faults()) {
        list.push_back(toJson(path, fault));
      }
      return jsonResponse(200, dumpJson(json{{"faults", std::move(list)}}));
    }
    if (method == "DELETE") {
      store_->clearFaults();
      return jsonResponse(200, "{}");
    }
    if (method != "POST") {
      return methodNotAllowed("GET, POST, DELETE");
    }
    json body;
    HttpResponse error_response;
    if (!parseControlBody(request, &body, &error_response)) {
      return error_response;
    }
    std::vector<std::pair<std::string, Fault>> parsed;
    for (const json& item : body.is_array() ? body : json::array({body})) {
      std::string path;
      Fault fault;
      std::string error;
      if (!faultFromJson(item, &path, &fault, &error)) {
        return errorJson(400, error);
      }
      parsed.emplace_back(std::move(path), std::move(fault));
    }
    for (auto& [path, fault] : parsed) {
      store_->addFault(path, std::move(fault));
    }
    return jsonResponse(200, dumpJson(json{{"queued", store_->faults().size()}}));
  }

  if (what == "read_rate") {
    if (method != "POST") {
      return methodNotAllowed("POST");
    }
    json body;
    HttpResponse error_response;
    if (!parseControlBody(request, &body, &error_response)) {
      return error_response;
    }
    if (!body.is_object() || !body.contains("bytes_per_second") ||
        !body["bytes_per_second"].is_number_unsigned()) {
      return errorJson(400, "expected {\"bytes_per_second\": N} (0 = unlimited)");
    }
    setReadRateLimit(body["bytes_per_second"].get<uint64_t>());
    return jsonResponse(200, "{}");
  }

  if (what == "api_keys") {
    if (method != "POST") {
      return methodNotAllowed("POST");
    }
    json body;
    HttpResponse error_response;
    if (!parseControlBody(request, &body, &error_response)) {
      return error_response;
    }
    std::set<std::string> keys;
    bool ok = body.is_object() && body.contains("invalid") && body["invalid"].is_array();
    for (const json& k : ok ? body["invalid"] : json::array()) {
      ok = ok && k.is_string();
      if (ok) {
        keys.insert(k.get<std::string>());
      }
    }
    if (!ok) {
      return errorJson(400, "expected {\"invalid\": [\"key\", ...]}");
    }
    store_->setInvalidApiKeys(std::move(keys));
    return jsonResponse(200, "{}");
  }

  if (what == "reset") {
    if (method != "POST") {
      return methodNotAllowed("POST");
    }
    store_->reset();
    setReadRateLimit(0);
    return jsonResponse(200, "{}");
  }

  if (what == "stats") {
    if (method != "GET") {
      return methodNotAllowed("GET");
    }
    json stats = store_->statsJson();
    stats["read_rate_bytes_per_second"] = read_rate_;
    return jsonResponse(200, dumpJson(stats));
  }

  if (what == "routes") {
    if (method != "GET") {
      return methodNotAllowed("GET");
    }
    json list = json::array();
    for (const Route& r : routes()) {
      list.push_back({{"path", r.path}, {"method", r.method}, {"content_type", r.content_type}});
    }
    return jsonResponse(200, dumpJson(json{{"routes", std::move(list)}}));
  }

  return errorJson(404, fmt::format("no control route {}", request.path));
}

void FakeIntake::respondLater(uint64_t delay_ms, HttpServer::Respond respond,
                              HttpResponse response) {
  uint64_t id = ++next_pending_;
  Pending& pending = pending_[id];
  pending.respond = std::move(respond);
  pending.response = std::move(response);
  pending.timer = std::make_unique<Timer>(loop_, [this, id] { finishPending(id); });
  // At least delay_ms from now: libuv counts a timer from the loop's cached time, taken when
  // this iteration began, in whole milliseconds (a test saw the answer after 299 ms of 300).
  uv_update_time(loop_);
  pending.timer->start(delay_ms + 1);
}

void FakeIntake::finishPending(uint64_t id) {
  auto it = pending_.find(id);
  if (it == pending_.end()) {
    return;
  }
  HttpServer::Respond respond = std::move(it->second.respond);
  HttpResponse response = std::move(it->second.response);
  pending_.erase(it);  // closes the timer (safe inside its own callback)
  respond(std::move(response));
}

void FakeIntake::flushPending() {
  while (!pending_.empty()) {
    finishPending(pending_.begin()->first);
  }
}

// -----------------------------------------------------------------------------------------------
// FakeIntakeThread

FakeIntakeThread::FakeIntakeThread() : FakeIntakeThread(FakeIntake::Options{}) {}

FakeIntakeThread::FakeIntakeThread(FakeIntake::Options options)
    : options_(std::move(options)), store_(std::make_shared<PayloadStore>(options_.validation)) {}

FakeIntakeThread::~FakeIntakeThread() {
  stop();
}

bool FakeIntakeThread::start(const std::string& host, int port, std::string* error) {
  if (thread_.joinable()) {
    if (error != nullptr) {
      *error = "already started";
    }
    return false;
  }
  host_ = host;
  std::promise<std::string> ready;  // empty string: listening
  std::future<std::string> ready_future = ready.get_future();
  thread_ = std::thread([this, host, port, &ready] {
    Loop loop;
    {
      FakeIntake intake(loop.get(), options_, store_);
      Async async(loop.get(), [this, &intake] { drainTasks(intake); });
      std::string listen_error;
      if (!intake.listen(host, port, &listen_error)) {
        ready.set_value(listen_error.empty() ? "listen failed" : listen_error);
        return;
      }
      port_ = intake.port();
      {
        std::lock_guard<std::mutex> lock(mu_);
        async_ = &async;
      }
      ready.set_value("");
      loop.run();
      std::deque<std::function<void(FakeIntake&)>> late;
      {
        std::lock_guard<std::mutex> lock(mu_);
        async_ = nullptr;
        late.swap(tasks_);
      }
      // Tasks queued while the loop was stopping still run, so no caller waits forever.
      for (auto& task : late) {
        task(intake);
      }
    }  // ~FakeIntake closes the listener and every connection; ~Loop lets the closes finish.
  });
  std::string result = ready_future.get();
  if (!result.empty()) {
    thread_.join();
    if (error != nullptr) {
      *error = result;
    }
    return false;
  }
  return true;
}

void FakeIntakeThread::stop() {
  if (!thread_.joinable()) {
    return;
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (async_ != nullptr) {
      tasks_.push_back([](FakeIntake& intake) { uv_stop(intake.loop()); });
      async_->send();
    }
  }
  thread_.join();
  port_ = 0;
}

std::string FakeIntakeThread::url() const {
  bool ipv6 = host_.find(':') != std::string::npos;
  return fmt::format("http://{}{}{}:{}", ipv6 ? "[" : "", host_, ipv6 ? "]" : "", port_.load());
}

void FakeIntakeThread::drainTasks(FakeIntake& intake) {
  std::deque<std::function<void(FakeIntake&)>> tasks;
  {
    std::lock_guard<std::mutex> lock(mu_);
    tasks.swap(tasks_);
  }
  for (auto& task : tasks) {
    task(intake);
  }
}

bool FakeIntakeThread::runOnLoop(const std::function<void(FakeIntake&)>& fn) {
  std::promise<void> done;
  std::future<void> done_future = done.get_future();
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (async_ == nullptr) {
      return false;
    }
    tasks_.push_back([&fn, &done](FakeIntake& intake) {
      fn(intake);
      done.set_value();
    });
    async_->send();
  }
  done_future.wait();
  return true;
}

void FakeIntakeThread::setReadRateLimit(uint64_t bytes_per_second) {
  runOnLoop([bytes_per_second](FakeIntake& intake) { intake.setReadRateLimit(bytes_per_second); });
}

void FakeIntakeThread::reset() {
  store_->reset();
  runOnLoop([](FakeIntake& intake) { intake.setReadRateLimit(0); });
}

}  // namespace outpost::fakeintake
