#include "collector/sources/logs/file_tailer.h"

#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace outpost::logs {
namespace {

constexpr size_t kReadChunk = 256 * 1024;

}  // namespace

FileTailer::FileTailer(std::string path, int fd, const FileIdentity& identity, uint64_t offset,
                       StreamId stream, std::shared_ptr<const LogOrigin> origin,
                       std::shared_ptr<const ProcessingRules> rules, const Options& options)
    : path_(std::move(path)),
      fd_(fd),
      identity_(identity),
      stream_(stream),
      origin_(std::move(origin)),
      rules_(std::move(rules)),
      options_(options),
      read_offset_(offset),
      emitted_offset_(offset) {
  restartAt(offset);
}

FileTailer::~FileTailer() {
  if (fd_ >= 0) {
    ::close(fd_);
  }
}

void FileTailer::restartAt(uint64_t offset) {
  decoder_ = std::make_unique<LineDecoder>(
      LineDecoder::Options{options_.encoding, options_.max_message_size}, offset);
  if (!options_.multi_line_pattern.empty() || options_.auto_multi_line) {
    MultiLineAggregator::Options m;
    m.pattern = options_.multi_line_pattern;
    m.auto_detect = options_.multi_line_pattern.empty() && options_.auto_multi_line;
    m.max_message_size = options_.max_message_size;
    m.timeout_ms = options_.multi_line_timeout_ms;
    multi_line_ = std::make_unique<MultiLineAggregator>(std::move(m));
  } else {
    multi_line_.reset();
  }
  read_offset_ = offset;
  emitted_offset_ = offset;
  max_size_seen_ = 0;
}

void FileTailer::restartAtZero() {
  ++stats_.truncations_seen;
  restartAt(0);
  std::string error;
  FileIdentity fresh;
  if (identify(fd_, &fresh, &error)) {
    identity_ = fresh;
  }
}

void FileTailer::emit(std::string&& content, uint64_t end_offset, bool truncated, int64_t now_ms,
                      const Sink& sink) {
  message_.content = std::move(content);
  message_.json_plain = false;  // (multi-line groups: the encoder looks)
  emitMessage(end_offset, truncated, now_ms, sink);
}

// One message object per tailer, reused line after line: its content keeps its capacity and its
// origin its reference, so a line costs no allocation and no reference counting unless a
// consumer keeps the message (it then moves it out, and the next line starts afresh).
void FileTailer::emitMessage(uint64_t end_offset, bool truncated, int64_t now_ms,
                             const Sink& sink) {
  LogMessage& m = message_;
  if (m.origin != origin_) {
    m.origin = origin_;
  }
  m.status.clear();
  m.timestamp_ms = now_ms;
  m.stream = stream_;
  m.end_offset = end_offset;
  m.truncated = truncated;
  m.marker_only = false;
  ++stats_.lines;
  if (truncated) {
    ++stats_.truncated;
  }
  if (rules_ && !rules_->empty()) {
    if (!rules_->apply(m.content, truncated)) {
      ++stats_.dropped_by_rule;
      m.marker_only = true;
      m.content.clear();
    } else if (!rules_->keepsJsonPlain()) {
      m.json_plain = false;
    }
  }
  emitted_offset_ = std::max(emitted_offset_, end_offset);
  sink(std::move(m));
}

void FileTailer::onLine(const DecodedLine& line, int64_t now_ms, const Sink& sink) {
  if (multi_line_) {
    multi_line_->push(line, now_ms, [&](MultiLineAggregator::Message&& g) {
      emit(std::move(g.content), g.end_offset, g.truncated, now_ms, sink);
    });
    return;
  }
  message_.content.assign(line.content);
  message_.json_plain = line.json_plain;
  emitMessage(line.end_offset, line.truncated, now_ms, sink);
}

FileTailer::ReadResult FileTailer::readSome(size_t max_bytes, int64_t now_ms, const Sink& sink) {
  // One read buffer for every tailer (all on the loop thread; lines are consumed, or the
  // partial one copied, before the next read): 500 files cost 256 KiB, not 500 times that.
  static thread_local std::vector<char> buffer(kReadChunk);
  size_t total = 0;
  while (total < max_bytes) {
    const size_t want = std::min(buffer.size(), max_bytes - total);
    const ssize_t n = ::pread(fd_, buffer.data(), want, static_cast<off_t>(read_offset_));
    if (n < 0) {
      if (errno == EINTR) {
        continue;
      }
      stats_.last_error = fmt::format("read {}: {}", path_, std::strerror(errno));
      return ReadResult::kError;
    }
    if (n == 0) {
      break;
    }
    read_offset_ += static_cast<uint64_t>(n);
    total += static_cast<size_t>(n);
    stats_.bytes_read += static_cast<uint64_t>(n);
    decoder_->feed(std::string_view(buffer.data(), static_cast<size_t>(n)),
                   [&](const DecodedLine& line) { onLine(line, now_ms, sink); });
    if (static_cast<size_t>(n) < want) {
      break;  // at the end of the file for now
    }
  }
  if (total > 0) {
    last_data_ms_ = now_ms;
    if (identity_.fingerprint_len < kFingerprintBytes) {
      refreshIdentity();  // a young file: fingerprint what is there now
    }
    return ReadResult::kData;
  }
  return ReadResult::kEof;
}

bool FileTailer::flushIdle(int64_t now_ms, const Sink& sink) {
  // Only at the end of the file: a reader that is behind (pushed back, or waiting for a rotated
  // predecessor) has the rest of the line or group still to read.
  if (fileSize() > read_offset_) {
    return decoder_->pendingBytes() > 0 || (multi_line_ && multi_line_->pending());
  }
  if (multi_line_) {
    multi_line_->flushIfIdle(now_ms, [&](MultiLineAggregator::Message&& g) {
      emit(std::move(g.content), g.end_offset, g.truncated, now_ms, sink);
    });
  }
  if (decoder_->pendingBytes() > 0 && now_ms - last_data_ms_ >= options_.close_timeout_ms) {
    decoder_->flushPartial([&](const DecodedLine& line) { onLine(line, now_ms, sink); });
    if (multi_line_) {
      multi_line_->flush([&](MultiLineAggregator::Message&& g) {
        emit(std::move(g.content), g.end_offset, g.truncated, now_ms, sink);
      });
    }
  }
  return decoder_->pendingBytes() > 0 || (multi_line_ && multi_line_->pending());
}

void FileTailer::flushAll(const Sink& sink) {
  const int64_t now_ms = last_data_ms_;
  decoder_->flushPartial([&](const DecodedLine& line) { onLine(line, now_ms, sink); });
  if (multi_line_) {
    multi_line_->flush([&](MultiLineAggregator::Message&& g) {
      emit(std::move(g.content), g.end_offset, g.truncated, now_ms, sink);
    });
  }
}

uint64_t FileTailer::fileSize() const {
  struct stat st {};
  if (::fstat(fd_, &st) != 0) {
    return 0;
  }
  return static_cast<uint64_t>(st.st_size);
}

bool FileTailer::wasTruncated() {
  struct stat st {};
  if (::fstat(fd_, &st) != 0) {
    return false;
  }
  const auto size = static_cast<uint64_t>(st.st_size);
  if (size < read_offset_ || size < max_size_seen_) {
    return true;  // shrank below what we read, or below what we saw
  }
  max_size_seen_ = size;
  // Same size or larger, but rewritten from the start (truncated, then written past our
  // offset before we looked): the first bytes no longer match.
  return identity_.fingerprint_len > 0 && !sameFile(fd_, identity_);
}

void FileTailer::refreshIdentity() {
  if (identity_.fingerprint_len >= kFingerprintBytes || fileSize() <= identity_.fingerprint_len ||
      !sameFile(fd_, identity_) || fileSize() < read_offset_) {
    return;  // complete already, nothing new, or rewritten (wasTruncated() reports that)
  }
  FileIdentity fresh;
  std::string error;
  if (identify(fd_, &fresh, &error)) {
    identity_ = fresh;
  }
}

}  // namespace outpost::logs
