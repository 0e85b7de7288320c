#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace outpost {

// Content-Encodings the Datadog intakes accept.
enum class Encoding { kIdentity, kZstd, kGzip, kDeflate };

std::string_view encodingName(Encoding e);  // "zstd", "gzip", "deflate", "" (identity)
std::optional<Encoding> parseEncoding(std::string_view name);  // also "zlib" = deflate

// Compresses `in` with `level` (zstd 1-19, gzip/deflate 1-9; out-of-range levels are clamped).
// CPU-heavy: run it on the worker pool. Returns false with *error set on failure.
bool compress(Encoding e, int level, std::string_view in, std::string& out, std::string* error);

// Decompresses, refusing output past `max_out` bytes (a compression bomb is an error).
bool decompress(Encoding e, std::string_view in, size_t max_out, std::string& out,
                std::string* error);

}  // namespace outpost
