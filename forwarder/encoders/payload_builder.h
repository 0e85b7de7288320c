#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "forwarder/forwarder.h"

// What the encoders share: items are encoded one at a time into chunks (a protobuf record, a
// JSON value), and chunks are streamed into payloads until the next one would break a limit.
// Each payload keeps its own chunks so that its `split` (called by the forwarder on 413) can
// rebuild two halves without encoding anything again.

namespace outpost {

// What an encoder made of a batch.
struct EncodeResult {
  std::vector<Payload> payloads;
  size_t dropped_too_large = 0;  // items that break the limits on their own
  size_t dropped_empty = 0;      // items with nothing to send (no points)
};

// The encoded items of one payload, in order.
struct Chunks {
  std::string data;               // every chunk, concatenated
  std::vector<size_t> ends;       // end offset of each chunk in data
  std::vector<std::string> keys;  // per chunk: a group key (events), else empty
  size_t size() const { return ends.size(); }
  std::string_view chunk(size_t i) const {
    size_t begin = i == 0 ? 0 : ends[i - 1];
    return std::string_view(data).substr(begin, ends[i] - begin);
  }
};

// How one kind of payload looks.
struct PayloadShape {
  std::string route;
  std::string content_type;
  std::vector<std::pair<std::string, std::string>> headers;
  // Body bytes besides the chunks: fixed ones, and an upper bound per chunk (separators, a
  // group key) on top of the chunk and its key.
  size_t fixed_overhead = 0;
  size_t per_chunk_overhead = 0;
  // The body for chunks [begin, end); never called with an empty range.
  std::function<std::string(const Chunks&, size_t begin, size_t end)> assemble;
};

struct PayloadLimits {
  size_t max_bytes = 0;   // body bytes, uncompressed
  size_t max_weight = 0;  // sum of the chunks' weights (series: points); 0: none
};

// The payload for chunks [begin, end) of `chunks`, with a split function that halves it.
Payload makePayload(const std::shared_ptr<const PayloadShape>& shape,
                    const std::shared_ptr<const Chunks>& chunks, size_t begin, size_t end);

// Streams chunks into payloads within limits.
class PayloadBuilder {
 public:
  PayloadBuilder(std::shared_ptr<const PayloadShape> shape, PayloadLimits limits);

  // Adds one encoded item. False (and nothing added) when it breaks the limits on its own.
  bool add(std::string_view chunk, std::string key, size_t weight);
  // The payloads built; the builder is left empty.
  std::vector<Payload> finish();

 private:
  void flush();

  std::shared_ptr<const PayloadShape> shape_;
  PayloadLimits limits_;
  std::unique_ptr<Chunks> current_;
  size_t current_bytes_ = 0;
  size_t current_weight_ = 0;
  std::vector<Payload> payloads_;
};

// The shape of a protobuf payload whose items are records of one repeated field (series,
// sketches): records concatenate into a valid message, so a payload is a run of chunks.
std::shared_ptr<const PayloadShape> repeatedProtobufShape(
    std::string route, std::vector<std::pair<std::string, std::string>> headers);

}  // namespace outpost
