#include "forwarder/transport/http_client.h"

#include <curl/curl.h>

#include <map>
#include <mutex>

#include "core/log.h"
#include "core/strings.h"

namespace outpost {
namespace {

constexpr size_t kMaxResponseBody = 64 * 1024;

void globalInit() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

std::string transportError(CURLcode code) {
  switch (code) {
    case CURLE_OPERATION_TIMEDOUT:
      return "timeout";
    case CURLE_COULDNT_CONNECT:
      return "connect";
    case CURLE_COULDNT_RESOLVE_HOST:
      return "dns";
    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_PROXY:
      return "proxy";
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_ISSUER_ERROR:
      return "tls";
    case CURLE_SEND_ERROR:
      return "send";
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
      return "recv";
    default:
      return "curl_" + std::to_string(static_cast<int>(code));
  }
}

}  // namespace

struct HttpClient::Impl {
  struct Request {
    uint64_t id;
    CURL* easy = nullptr;
    curl_slist* headers = nullptr;
    std::shared_ptr<const std::string> body;
    std::string url;
    Callback done;
    HttpResult result;
    char error[CURL_ERROR_SIZE] = {};
  };
  struct Socket {
    uv_poll_t poll;
    Impl* impl;
    curl_socket_t fd;
  };

  uv_loop_t* loop;
  Options options;
  CURLM* multi = nullptr;
  uv_timer_t* timer = nullptr;
  uint64_t next_id = 1;
  std::map<uint64_t, std::unique_ptr<Request>> requests;

  static int onSocket(CURL*, curl_socket_t fd, int what, void* userp, void* socketp) {
    auto* self = static_cast<Impl*>(userp);
    auto* sock = static_cast<Socket*>(socketp);
    if (what == CURL_POLL_REMOVE) {
      if (sock != nullptr) {
        uv_poll_stop(&sock->poll);
        uv_close(reinterpret_cast<uv_handle_t*>(&sock->poll),
                 [](uv_handle_t* h) { delete static_cast<Socket*>(h->data); });
        curl_multi_assign(self->multi, fd, nullptr);
      }
      return 0;
    }
    if (sock == nullptr) {
      sock = new Socket{{}, self, fd};
      uv_poll_init_socket(self->loop, &sock->poll, fd);
      sock->poll.data = sock;
      curl_multi_assign(self->multi, fd, sock);
    }
    int events = 0;
    if (what == CURL_POLL_IN || what == CURL_POLL_INOUT) {
      events |= UV_READABLE;
    }
    if (what == CURL_POLL_OUT || what == CURL_POLL_INOUT) {
      events |= UV_WRITABLE;
    }
    uv_poll_start(&sock->poll, events, [](uv_poll_t* h, int status, int ev) {
      auto* s = static_cast<Socket*>(h->data);
      int flags = 0;
      if (status < 0) {
        flags = CURL_CSELECT_ERR;
      } else {
        if (ev & UV_READABLE) {
          flags |= CURL_CSELECT_IN;
        }
        if (ev & UV_WRITABLE) {
          flags |= CURL_CSELECT_OUT;
        }
      }
      Impl* impl = s->impl;  // `s` may be freed inside socket_action.
      int running = 0;
      curl_multi_socket_action(impl->multi, s->fd, flags, &running);
      impl->drainDone();
    });
    return 0;
  }

  static int onTimer(CURLM*, long timeout_ms, void* userp) {
    auto* self = static_cast<Impl*>(userp);
    if (timeout_ms < 0) {
      uv_timer_stop(self->timer);
      return 0;
    }
    uv_timer_start(
        self->timer,
        [](uv_timer_t* t) {
          auto* impl = static_cast<Impl*>(t->data);
          int running = 0;
          curl_multi_socket_action(impl->multi, CURL_SOCKET_TIMEOUT, 0, &running);
          impl->drainDone();
        },
        static_cast<uint64_t>(timeout_ms), 0);
    return 0;
  }

  static size_t onBody(char* data, size_t size, size_t n, void* userp) {
    auto* r = static_cast<Request*>(userp);
    const size_t len = size * n;
    const size_t room = kMaxResponseBody - std::min(kMaxResponseBody, r->result.body.size());
    r->result.body.append(data, std::min(len, room));
    return len;
  }

  static size_t onHeader(char* data, size_t size, size_t n, void* userp) {
    auto* r = static_cast<Request*>(userp);
    const std::string_view line(data, size * n);
    const size_t colon = line.find(':');
    if (colon != std::string_view::npos && toLower(line.substr(0, colon)) == "retry-after") {
      r->result.retry_after = std::string(trim(line.substr(colon + 1)));
    }
    return size * n;
  }

  void releaseEasy(Request& r) {
    if (r.easy != nullptr) {
      curl_multi_remove_handle(multi, r.easy);
      curl_easy_cleanup(r.easy);
      r.easy = nullptr;
    }
    if (r.headers != nullptr) {
      curl_slist_free_all(r.headers);
      r.headers = nullptr;
    }
  }

  // Completes the finished transfers. Callbacks run after curl is done with them, so they may
  // start new requests.
  void drainDone() {
    std::vector<std::unique_ptr<Request>> finished;
    int left = 0;
    while (CURLMsg* msg = curl_multi_info_read(multi, &left)) {
      if (msg->msg != CURLMSG_DONE) {
        continue;
      }
      Request* r = nullptr;
      curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, &r);
      const CURLcode code = msg->data.result;
      long status = 0;
      curl_easy_getinfo(msg->easy_handle, CURLINFO_RESPONSE_CODE, &status);
      curl_easy_getinfo(msg->easy_handle, CURLINFO_TOTAL_TIME, &r->result.seconds);
      if (code == CURLE_OK) {
        r->result.status = static_cast<int>(status);
      } else {
        r->result.status = 0;
        r->result.transport_error = transportError(code);
        r->result.error_detail = r->error[0] != '\0' ? r->error : curl_easy_strerror(code);
      }
      auto it = requests.find(r->id);
      finished.push_back(std::move(it->second));
      requests.erase(it);
    }
    for (auto& r : finished) {
      releaseEasy(*r);
    }
    for (auto& r : finished) {
      if (r->done) {
        r->done(std::move(r->result));
      }
    }
  }
};

HttpClient::HttpClient(uv_loop_t* loop, Options options) : impl_(std::make_unique<Impl>()) {
  globalInit();
  impl_->loop = loop;
  impl_->options = std::move(options);
  impl_->multi = curl_multi_init();
  impl_->timer = new uv_timer_t;
  uv_timer_init(loop, impl_->timer);
  impl_->timer->data = impl_.get();
  curl_multi_setopt(impl_->multi, CURLMOPT_SOCKETFUNCTION, &Impl::onSocket);
  curl_multi_setopt(impl_->multi, CURLMOPT_SOCKETDATA, impl_.get());
  curl_multi_setopt(impl_->multi, CURLMOPT_TIMERFUNCTION, &Impl::onTimer);
  curl_multi_setopt(impl_->multi, CURLMOPT_TIMERDATA, impl_.get());
  curl_multi_setopt(impl_->multi, CURLMOPT_MAX_HOST_CONNECTIONS,
                    impl_->options.max_host_connections);
  curl_multi_setopt(impl_->multi, CURLMOPT_PIPELINING, CURLPIPE_MULTIPLEX);
}

HttpClient::~HttpClient() {
  for (auto& [id, r] : impl_->requests) {
    impl_->releaseEasy(*r);
  }
  impl_->requests.clear();
  // Removing the handles made curl call onSocket(REMOVE) for their sockets; cleanup closes the
  // rest of the connection cache the same way.
  curl_multi_cleanup(impl_->multi);
  uv_timer_stop(impl_->timer);
  uv_close(reinterpret_cast<uv_handle_t*>(impl_->timer),
           [](uv_handle_t* h) { delete reinterpret_cast<uv_timer_t*>(h); });
}

uint64_t HttpClient::send(OutgoingRequest request, Callback done) {
  auto r = std::make_unique<Impl::Request>();
  r->id = impl_->next_id++;
  r->done = std::move(done);
  r->body = std::move(request.body);
  r->url = std::move(request.url);
  CURL* easy = curl_easy_init();
  r->easy = easy;
  const Options& o = impl_->options;
  curl_easy_setopt(easy, CURLOPT_URL, r->url.c_str());
  curl_easy_setopt(easy, CURLOPT_PRIVATE, r.get());
  curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, r->error);
  curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, static_cast<long>(o.timeout_ms));
  curl_easy_setopt(easy, CURLOPT_CONNECTTIMEOUT_MS,
                   static_cast<long>(std::min<int64_t>(o.timeout_ms, 10'000)));
  curl_easy_setopt(easy, CURLOPT_HTTP_VERSION, CURL_HTTP_VERSION_2TLS);
  curl_easy_setopt(easy, CURLOPT_SSL_VERIFYPEER, o.verify_tls ? 1L : 0L);
  curl_easy_setopt(easy, CURLOPT_SSL_VERIFYHOST, o.verify_tls ? 2L : 0L);
  curl_easy_setopt(easy, CURLOPT_TCP_KEEPALIVE, 1L);
  curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, &Impl::onBody);
  curl_easy_setopt(easy, CURLOPT_WRITEDATA, r.get());
  curl_easy_setopt(easy, CURLOPT_HEADERFUNCTION, &Impl::onHeader);
  curl_easy_setopt(easy, CURLOPT_HEADERDATA, r.get());
  const bool https = r->url.starts_with("https://");
  const std::string& proxy = https ? o.proxy_https : o.proxy_http;
  if (!proxy.empty()) {
    curl_easy_setopt(easy, CURLOPT_PROXY, proxy.c_str());
  }
  if (!o.no_proxy.empty()) {
    const std::string list = join(o.no_proxy, ",");
    curl_easy_setopt(easy, CURLOPT_NOPROXY, list.c_str());  // copied by libcurl
  }
  if (request.method == "POST") {
    curl_easy_setopt(easy, CURLOPT_POST, 1L);
    const std::string* body = r->body.get();
    curl_easy_setopt(easy, CURLOPT_POSTFIELDSIZE_LARGE,
                     static_cast<curl_off_t>(body ? body->size() : 0));
    curl_easy_setopt(easy, CURLOPT_POSTFIELDS, body ? body->data() : "");
  } else if (request.method != "GET") {
    curl_easy_setopt(easy, CURLOPT_CUSTOMREQUEST, request.method.c_str());
  }
  // No `Expect: 100-continue` round trip before large bodies.
  r->headers = curl_slist_append(r->headers, "Expect:");
  for (const auto& h : request.headers) {
    r->headers = curl_slist_append(r->headers, h.c_str());
  }
  curl_easy_setopt(easy, CURLOPT_HTTPHEADER, r->headers);
  const uint64_t id = r->id;
  impl_->requests.emplace(id, std::move(r));
  curl_multi_add_handle(impl_->multi, easy);
  return id;
}

void HttpClient::cancel(uint64_t id) {
  auto it = impl_->requests.find(id);
  if (it == impl_->requests.end()) {
    return;
  }
  impl_->releaseEasy(*it->second);
  impl_->requests.erase(it);
}

size_t HttpClient::inFlight() const {
  return impl_->requests.size();
}

}  // namespace outpost
