// Helpers shared by the libFuzzer targets: a per-process scratch directory
// and a check that aborts (so libFuzzer reports the input) when an invariant
// of the code under test breaks.
#ifndef RECBANDIT_TESTS_FUZZ_FUZZ_UTIL_H_
#define RECBANDIT_TESTS_FUZZ_FUZZ_UTIL_H_

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>

#include "proto/core/file_util.h"

namespace recbandit::fuzz {

// Aborts with `what` when `ok` is false.
inline void Require(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "fuzz invariant broken: %s\n", what);
    std::abort();
  }
}

// Returns a directory of this process's own under /tmp (created once).
inline const std::string& ScratchDir() {
  static const std::string* dir = [] {
    auto* d = new std::string("/tmp/recbandit-fuzz-" + std::to_string(::getpid()));
    (void)MakeDirs(*d);
    return d;
  }();
  return *dir;
}

}  // namespace recbandit::fuzz

#endif  // RECBANDIT_TESTS_FUZZ_FUZZ_UTIL_H_
