#pragma once

// Helpers for the fake intake's tests: compressors written directly against zstd and zlib
// (independent of Outpost's own encoders) and a blocking libcurl client.

#include <curl/curl.h>
#include <zlib.h>
#include <zstd.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <map>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace outpost::fakeintake::testing {

inline std::string zstdCompress(std::string_view in, int level = 1) {
  std::string out(ZSTD_compressBound(in.size()), '\0');
  size_t n = ZSTD_compress(out.data(), out.size(), in.data(), in.size(), level);
  if (ZSTD_isError(n)) {
    throw std::runtime_error(ZSTD_getErrorName(n));
  }
  out.resize(n);
  return out;
}

// windowBits 15: zlib stream (Content-Encoding: deflate); 15 + 16: gzip.
inline std::string zlibCompress(std::string_view in, int window_bits, int level = 6) {
  z_stream zs{};
  if (deflateInit2(&zs, level, Z_DEFLATED, window_bits, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
    throw std::runtime_error("deflateInit2");
  }
  std::string out(deflateBound(&zs, static_cast<uLong>(in.size())) + 64, '\0');
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  zs.avail_in = static_cast<uInt>(in.size());
  zs.next_out = reinterpret_cast<Bytef*>(out.data());
  zs.avail_out = static_cast<uInt>(out.size());
  int r = deflate(&zs, Z_FINISH);
  deflateEnd(&zs);
  if (r != Z_STREAM_END) {
    throw std::runtime_error("deflate");
  }
  out.resize(zs.total_out);
  return out;
}

inline std::string gzipCompress(std::string_view in) {
  return zlibCompress(in, 15 + 16);
}
inline std::string deflateCompress(std::string_view in) {
  return zlibCompress(in, 15);
}

// Compresses as Content-Encoding `encoding` says ("" or "identity": as is).
inline std::string compressAs(std::string_view encoding, std::string_view in) {
  if (encoding == "zstd") {
    return zstdCompress(in);
  }
  if (encoding == "gzip") {
    return gzipCompress(in);
  }
  if (encoding == "deflate") {
    return deflateCompress(in);
  }
  return std::string(in);
}

// `zeros` zero bytes as one zstd frame, streamed (never held uncompressed).
inline std::string zstdZeros(size_t zeros) {
  ZSTD_CCtx* cctx = ZSTD_createCCtx();
  std::string chunk(1 << 20, '\0');
  std::string out;
  std::string buf(ZSTD_CStreamOutSize(), '\0');
  size_t left = zeros;
  while (true) {
    size_t n = std::min(left, chunk.size());
    left -= n;
    ZSTD_EndDirective mode = left == 0 ? ZSTD_e_end : ZSTD_e_continue;
    ZSTD_inBuffer in{chunk.data(), n, 0};
    bool finished = false;
    while (!finished) {
      ZSTD_outBuffer ob{buf.data(), buf.size(), 0};
      size_t remaining = ZSTD_compressStream2(cctx, &ob, &in, mode);
      out.append(buf.data(), ob.pos);
      finished = mode == ZSTD_e_end ? remaining == 0 : in.pos == in.size;
    }
    if (left == 0) {
      break;
    }
  }
  ZSTD_freeCCtx(cctx);
  return out;
}

struct Reply {
  CURLcode code = CURLE_OK;
  long status = 0;
  std::string body;
  std::map<std::string, std::string> headers;  // lower-case names
  std::chrono::milliseconds elapsed{0};
};

inline size_t curlWrite(char* data, size_t size, size_t n, void* user) {
  static_cast<std::string*>(user)->append(data, size * n);
  return size * n;
}

inline size_t curlHeader(char* data, size_t size, size_t n, void* user) {
  std::string line(data, size * n);
  size_t colon = line.find(':');
  if (colon != std::string::npos) {
    std::string name = line.substr(0, colon);
    std::transform(name.begin(), name.end(), name.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    std::string value = line.substr(colon + 1);
    while (!value.empty() && (value.front() == ' ')) {
      value.erase(0, 1);
    }
    while (!value.empty() &&
           (value.back() == '\r' || value.back() == '\n' || value.back() == ' ')) {
      value.pop_back();
    }
    (*static_cast<std::map<std::string, std::string>*>(user))[name] = value;
  }
  return size * n;
}

// One blocking request on a fresh connection.
inline Reply httpRequest(const std::string& method, const std::string& url,
                         const std::vector<std::string>& headers = {}, const std::string& body = {},
                         long timeout_ms = 20000) {
  Reply reply;
  CURL* curl = curl_easy_init();
  curl_slist* list = nullptr;
  for (const std::string& h : headers) {
    list = curl_slist_append(list, h.c_str());
  }
  list = curl_slist_append(list, "Expect:");  // no 100-continue round trip
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, list);
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, timeout_ms);
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, curlWrite);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &reply.body);
  curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, curlHeader);
  curl_easy_setopt(curl, CURLOPT_HEADERDATA, &reply.headers);
  if (method == "POST") {
    curl_easy_setopt(curl, CURLOPT_POST, 1L);
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body.data());
    curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
  } else if (method != "GET") {
    curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method.c_str());
  }
  auto start = std::chrono::steady_clock::now();
  reply.code = curl_easy_perform(curl);
  reply.elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(
      std::chrono::steady_clock::now() - start);
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &reply.status);
  curl_slist_free_all(list);
  curl_easy_cleanup(curl);
  return reply;
}

inline Reply post(const std::string& url, const std::string& body,
                  const std::vector<std::string>& headers) {
  return httpRequest("POST", url, headers, body);
}

}  // namespace outpost::fakeintake::testing
