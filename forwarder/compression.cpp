#include "forwarder/compression.h"

#include <zlib.h>
#include <zstd.h>

#include <algorithm>

namespace outpost {
namespace {

constexpr size_t kChunk = 64 * 1024;

// Output room for one compression, reused by the thread: a fresh worst-case-sized buffer per
// payload costs more in page faults and zero-filling than zstd -1 costs in compressing. Only the
// compressed bytes are copied out. Shrunk when one huge payload made it large.
std::string& scratch(size_t bound) {
  thread_local std::string buf;
  constexpr size_t kKeep = 8 << 20;
  if (buf.size() < bound || (buf.size() > kKeep && bound <= kKeep)) {
    buf = std::string();
    buf.resize(bound);
  }
  return buf;
}

// One compression context per thread, reused: ZSTD_compress() would allocate and zero a fresh
// context (a megabyte of match tables at level 1 for large inputs) for every payload, which cost
// more than half of the compression itself in the logs pipeline.
ZSTD_CCtx* zstdContext() {
  struct Holder {
    ZSTD_CCtx* cctx = ZSTD_createCCtx();
    ~Holder() { ZSTD_freeCCtx(cctx); }
  };
  thread_local Holder holder;
  return holder.cctx;
}

bool zlibCompress(int window_bits, int level, std::string_view in, std::string& out,
                  std::string* error) {
  z_stream zs{};
  if (deflateInit2(&zs, std::clamp(level, 1, 9), Z_DEFLATED, window_bits, 8, Z_DEFAULT_STRATEGY) !=
      Z_OK) {
    *error = "deflateInit2 failed";
    return false;
  }
  std::string& buf = scratch(deflateBound(&zs, static_cast<uLong>(in.size())));
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  zs.avail_in = static_cast<uInt>(in.size());
  zs.next_out = reinterpret_cast<Bytef*>(buf.data());
  zs.avail_out = static_cast<uInt>(buf.size());
  const int rc = deflate(&zs, Z_FINISH);
  out.assign(buf.data(), zs.total_out);
  deflateEnd(&zs);
  if (rc != Z_STREAM_END) {
    *error = "deflate did not finish";
    return false;
  }
  return true;
}

bool zlibDecompress(int window_bits, std::string_view in, size_t max_out, std::string& out,
                    std::string* error) {
  z_stream zs{};
  if (inflateInit2(&zs, window_bits) != Z_OK) {
    *error = "inflateInit2 failed";
    return false;
  }
  out.clear();
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  zs.avail_in = static_cast<uInt>(in.size());
  int rc = Z_OK;
  char buf[kChunk];
  while (rc != Z_STREAM_END) {
    zs.next_out = reinterpret_cast<Bytef*>(buf);
    zs.avail_out = sizeof buf;
    rc = inflate(&zs, Z_NO_FLUSH);
    if (rc != Z_OK && rc != Z_STREAM_END) {
      *error = zs.msg ? zs.msg : "corrupt or truncated stream";
      inflateEnd(&zs);
      return false;
    }
    out.append(buf, sizeof buf - zs.avail_out);
    if (out.size() > max_out) {
      *error = "decompressed size over the limit";
      inflateEnd(&zs);
      return false;
    }
    if (rc == Z_OK && zs.avail_in == 0 && zs.avail_out != 0) {
      *error = "truncated stream";
      inflateEnd(&zs);
      return false;
    }
  }
  inflateEnd(&zs);
  return true;
}

}  // namespace

std::string_view encodingName(Encoding e) {
  switch (e) {
    case Encoding::kZstd:
      return "zstd";
    case Encoding::kGzip:
      return "gzip";
    case Encoding::kDeflate:
      return "deflate";
    case Encoding::kIdentity:
      return "";
  }
  return "";
}

std::optional<Encoding> parseEncoding(std::string_view name) {
  if (name == "zstd") {
    return Encoding::kZstd;
  }
  if (name == "gzip") {
    return Encoding::kGzip;
  }
  if (name == "deflate" || name == "zlib") {
    return Encoding::kDeflate;
  }
  if (name.empty() || name == "identity" || name == "none") {
    return Encoding::kIdentity;
  }
  return std::nullopt;
}

bool compress(Encoding e, int level, std::string_view in, std::string& out, std::string* error) {
  switch (e) {
    case Encoding::kIdentity:
      out.assign(in);
      return true;
    case Encoding::kZstd: {
      std::string& buf = scratch(ZSTD_compressBound(in.size()));
      ZSTD_CCtx* cctx = zstdContext();
      if (cctx == nullptr) {
        *error = "cannot allocate a zstd context";
        return false;
      }
      const size_t n = ZSTD_compressCCtx(cctx, buf.data(), buf.size(), in.data(), in.size(),
                                         std::clamp(level, 1, ZSTD_maxCLevel()));
      if (ZSTD_isError(n)) {
        *error = ZSTD_getErrorName(n);
        return false;
      }
      out.assign(buf.data(), n);
      return true;
    }
    case Encoding::kGzip:
      return zlibCompress(15 + 16, level, in, out, error);
    case Encoding::kDeflate:
      return zlibCompress(15, level, in, out, error);
  }
  return false;
}

bool decompress(Encoding e, std::string_view in, size_t max_out, std::string& out,
                std::string* error) {
  switch (e) {
    case Encoding::kIdentity:
      if (in.size() > max_out) {
        *error = "size over the limit";
        return false;
      }
      out.assign(in);
      return true;
    case Encoding::kZstd: {
      ZSTD_DStream* ds = ZSTD_createDStream();
      ZSTD_initDStream(ds);
      ZSTD_inBuffer input{in.data(), in.size(), 0};
      out.clear();
      char buf[kChunk];
      size_t rc = 1;
      while (input.pos < input.size || rc != 0) {
        ZSTD_outBuffer output{buf, sizeof buf, 0};
        rc = ZSTD_decompressStream(ds, &output, &input);
        if (ZSTD_isError(rc)) {
          *error = ZSTD_getErrorName(rc);
          ZSTD_freeDStream(ds);
          return false;
        }
        out.append(buf, output.pos);
        if (out.size() > max_out) {
          *error = "decompressed size over the limit";
          ZSTD_freeDStream(ds);
          return false;
        }
        if (input.pos == input.size && output.pos == 0 && rc != 0) {
          *error = "truncated stream";
          ZSTD_freeDStream(ds);
          return false;
        }
      }
      ZSTD_freeDStream(ds);
      return true;
    }
    case Encoding::kGzip:
      return zlibDecompress(15 + 16, in, max_out, out, error);
    case Encoding::kDeflate:
      return zlibDecompress(15, in, max_out, out, error);
  }
  return false;
}

}  // namespace outpost
