// GetBuildInfo: the CMake-defined version and build type, the generated
// commit, the compiler's own version macros.
#include "services/monitoring/build_info.h"

#include "absl/strings/str_cat.h"

#ifndef RECBANDIT_VERSION
#define RECBANDIT_VERSION "unknown"
#endif
#ifndef RECBANDIT_BUILD_TYPE
#define RECBANDIT_BUILD_TYPE "unknown"
#endif

namespace recbandit::services {

const BuildInfo& GetBuildInfo() {
  static const BuildInfo* info = [] {
    auto* b = new BuildInfo;
    b->version = RECBANDIT_VERSION;
    b->build_type = RECBANDIT_BUILD_TYPE;
    b->git_commit = BuildCommit();
#if defined(__clang__)
    b->compiler = absl::StrCat("clang ", __clang_major__, ".", __clang_minor__, ".",
                               __clang_patchlevel__);
#elif defined(__GNUC__)
    b->compiler = absl::StrCat("gcc ", __GNUC__, ".", __GNUC_MINOR__, ".", __GNUC_PATCHLEVEL__);
#else
    b->compiler = "unknown";
#endif
    return b;
  }();
  return *info;
}

}  // namespace recbandit::services
