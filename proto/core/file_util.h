// File helpers shared by every library: whole-file reads, a read-only memory
// map, crash-safe atomic writes (temp file, fsync, rename, fsync directory).
#ifndef RECBANDIT_PROTO_CORE_FILE_UTIL_H_
#define RECBANDIT_PROTO_CORE_FILE_UTIL_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace recbandit {

// Returns the contents of `path`, or NOT_FOUND / an I/O error naming it.
// Reads only regular files (INVALID_ARGUMENT for a directory, device, FIFO or
// socket, also behind a symlink) of at most `max_bytes` (OUT_OF_RANGE,
// checked before reading).
absl::StatusOr<std::string> ReadFileToString(const std::string& path,
                                             uint64_t max_bytes = uint64_t{1} << 40);

// Writes `contents` to `path` so that a crash leaves either the old file or the
// new one, never a mix: writes `path`.tmp, fsyncs it, renames, fsyncs the dir.
absl::Status WriteFileAtomically(const std::string& path,
                                 std::string_view contents);

// Writes `contents` to a new file at `path` and fsyncs it (no rename).
absl::Status WriteFileSynced(const std::string& path, std::string_view contents);

// Creates `path` and its missing parents. OK when it already exists.
absl::Status MakeDirs(const std::string& path);

// fsyncs the directory `path` so renames and creations inside it are durable.
absl::Status SyncDir(const std::string& path);

// Returns whether `path` exists (file or directory).
bool PathExists(const std::string& path);

// Returns CRC-32C (Castagnoli) of `data`, continuing from `crc` (0 to start).
uint32_t Crc32c(std::string_view data, uint32_t crc = 0);
// The same CRC without the CPU's crc32 instruction (tests compare the two).
uint32_t Crc32cPortable(std::string_view data, uint32_t crc = 0);

// A read-only view of a whole file, memory-mapped (empty files allowed).
// Thread-safe for concurrent reads; not copyable.
class MappedFile {
 public:
  // Returns the mapped file, or NOT_FOUND / an I/O error naming `path`.
  static absl::StatusOr<std::unique_ptr<MappedFile>> Open(const std::string& path);
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  // Returns the bytes; never a null pointer, also for an empty file.
  std::string_view data() const { return std::string_view(data_, size_); }
  const std::string& path() const { return path_; }

 private:
  MappedFile(std::string path, const char* data, size_t size)
      : path_(std::move(path)), data_(data), size_(size) {}
  std::string path_;
  const char* data_;
  size_t size_;
};

}  // namespace recbandit

#endif  // RECBANDIT_PROTO_CORE_FILE_UTIL_H_
