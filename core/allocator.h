#pragma once

#include <malloc.h>

namespace outpost {

// Payload buffers (hundreds of KiB to a few MiB, one per batch) are allocated on the loop and
// freed on a worker after compression, hundreds of times a second on a busy host. With glibc's
// defaults each went to mmap or grew and trimmed the heap, and every page was faulted in and
// zero-filled again: more kernel time than the JSON encoding itself. Kept in the heap instead;
// the memory stays bounded by the in-flight budgets. `outpost run` calls this first, and so do
// the benchmarks that run its pipelines in process.
inline void keepPayloadBuffersInTheHeap() {
  ::mallopt(M_MMAP_THRESHOLD, 32 << 20);
  ::mallopt(M_TRIM_THRESHOLD, 64 << 20);
}

}  // namespace outpost
