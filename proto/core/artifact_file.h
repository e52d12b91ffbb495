// ArtifactFile: a read-only view of a whole stored artifact file (model
// factors, item indexes), memory-mapped and populated up front (the page
// cache serves it, nothing is copied) or, where mapping is turned off, read
// into one buffer; size-checked and shared by the arrays that view it.
// (MappedFile in file_util.h is the lazily faulted, sequential mapping the
// interactions loader streams through.)
#ifndef RECBANDIT_PROTO_CORE_ARTIFACT_FILE_H_
#define RECBANDIT_PROTO_CORE_ARTIFACT_FILE_H_

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace recbandit {

// Immutable after Open: thread-safe. Shared through shared_ptr so the
// arrays viewing it keep it alive.
//
//   ASSIGN_OR_RETURN(auto file, ArtifactFile::Open(path, expected_size));
//   uint32_t crc = Crc32c(file->view());
class ArtifactFile {
 public:
  // Returns `path`'s bytes. Only a regular file is opened (a FIFO or a
  // device is INVALID_ARGUMENT, never a hang); OUT_OF_RANGE when its size is
  // not `expected_size` (-1 accepts any size). The mapping is read-only and
  // private, populated up front (MAP_POPULATE): later reads do not fault.
  static absl::StatusOr<std::shared_ptr<const ArtifactFile>> Open(const std::string& path,
                                                               int64_t expected_size = -1);
  ~ArtifactFile();
  ArtifactFile(const ArtifactFile&) = delete;
  ArtifactFile& operator=(const ArtifactFile&) = delete;

  const char* data() const { return data_; }
  size_t size() const { return size_; }
  std::string_view view() const { return std::string_view(data_, size_); }
  // Returns whether the bytes are mapped (false: read into a buffer).
  bool mapped() const { return mapped_; }

 private:
  ArtifactFile() = default;
  const char* data_ = nullptr;
  size_t size_ = 0;
  bool mapped_ = false;
  std::unique_ptr<char[]> buffer_;  // when not mapped
};

// Turns mapping on (the default) or off for every later Open, process-wide:
// off reads each file into memory instead (for filesystems where a mapping
// is unwise, and for benchmarks comparing the two). Thread-safe.
void SetMapFiles(bool map);
bool MapFiles();

}  // namespace recbandit

#endif  // RECBANDIT_PROTO_CORE_ARTIFACT_FILE_H_
