// Test helpers: scratch directories, writing small files, running the
// `recbandit` binary and capturing its output.
#ifndef RECBANDIT_TESTS_TESTING_TEST_UTIL_H_
#define RECBANDIT_TESTS_TESTING_TEST_UTIL_H_

#include <string>
#include <vector>

namespace recbandit::testing {

// A fresh directory under $TEST_TMPDIR or /tmp, removed with its contents on
// destruction. Not thread-safe.
class ScratchDir {
 public:
  ScratchDir();
  ~ScratchDir();
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;
  const std::string& path() const { return path_; }
  // Returns path()/name.
  std::string File(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

// Writes `contents` to `path`; aborts the test binary on failure.
void WriteTextFile(const std::string& path, const std::string& contents);
// Returns the contents of `path` ("" when missing).
std::string ReadTextFile(const std::string& path);

struct CommandResult {
  int exit_code = -1;   // -1 when killed by a signal
  std::string out;      // stdout
  std::string err;      // stderr
};

// Runs the built `recbandit` binary with `args` and waits for it.
CommandResult RunRecbandit(const std::vector<std::string>& args);

// Returns the repository's root (for ../shared/data paths and proto/).
std::string SourceDir();

}  // namespace recbandit::testing

#endif  // RECBANDIT_TESTS_TESTING_TEST_UTIL_H_
