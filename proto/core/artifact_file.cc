// ArtifactFile: mmap (or one read) of a regular file's bytes.
#include "proto/core/artifact_file.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cstring>

#include "absl/strings/str_cat.h"

namespace recbandit {
namespace {

std::atomic<bool> map_files{true};

absl::Status Errno(const char* what, const std::string& path, int err) {
  const std::string message = absl::StrCat(what, " ", path, ": ", std::strerror(err));
  return err == ENOENT ? absl::NotFoundError(message) : absl::InternalError(message);
}

}  // namespace

void SetMapFiles(bool map) { map_files.store(map); }
bool MapFiles() { return map_files.load(); }

absl::StatusOr<std::shared_ptr<const ArtifactFile>> ArtifactFile::Open(const std::string& path,
                                                                  int64_t expected_size) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
  if (fd < 0) return Errno("cannot open", path, errno);
  struct stat st;
  if (::fstat(fd, &st) != 0) {
    const int err = errno;
    ::close(fd);
    return Errno("cannot stat", path, err);
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    return absl::InvalidArgumentError(absl::StrCat(
        path, " is not a regular file (directories, devices, FIFOs and sockets are not read)"));
  }
  if (expected_size >= 0 && st.st_size != expected_size) {
    ::close(fd);
    return absl::OutOfRangeError(
        absl::StrCat(path, " has ", st.st_size, " bytes, expected ", expected_size));
  }
  std::shared_ptr<ArtifactFile> file(new ArtifactFile());
  file->size_ = static_cast<size_t>(st.st_size);
  if (file->size_ == 0) {
    ::close(fd);
    return std::shared_ptr<const ArtifactFile>(std::move(file));
  }
  if (MapFiles()) {
    void* p = ::mmap(nullptr, file->size_, PROT_READ, MAP_PRIVATE | MAP_POPULATE, fd, 0);
    const int err = errno;
    ::close(fd);
    if (p == MAP_FAILED) return Errno("cannot map", path, err);
    file->data_ = static_cast<const char*>(p);
    file->mapped_ = true;
    return std::shared_ptr<const ArtifactFile>(std::move(file));
  }
  ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) & ~O_NONBLOCK);
  file->buffer_.reset(new char[file->size_]);
  size_t done = 0;
  while (done < file->size_) {
    const ssize_t n = ::read(fd, file->buffer_.get() + done, file->size_ - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const int err = n < 0 ? errno : EIO;
      ::close(fd);
      return n < 0 ? Errno("cannot read", path, err)
                   : absl::OutOfRangeError(absl::StrCat(path, " shrank while it was read"));
    }
    done += static_cast<size_t>(n);
  }
  ::close(fd);
  file->data_ = file->buffer_.get();
  return std::shared_ptr<const ArtifactFile>(std::move(file));
}

ArtifactFile::~ArtifactFile() {
  if (mapped_ && data_ != nullptr) ::munmap(const_cast<char*>(data_), size_);
}

}  // namespace recbandit
