// What the binary knows of its own build: version, build type, git commit and
// compiler (`recbandit --version` and the recbandit_build_info gauge).
#ifndef RECBANDIT_SERVICES_MONITORING_BUILD_INFO_H_
#define RECBANDIT_SERVICES_MONITORING_BUILD_INFO_H_

#include <string>

namespace recbandit {

// Returns the git commit the sources were built from (12 hex digits), or
// "unknown" when they were not a git checkout. Defined in a file generated at
// every build (cmake/build_commit.cmake).
const char* BuildCommit();

namespace services {

// The build's facts, fixed when it was compiled.
struct BuildInfo {
  std::string version;     // the CMake project version, e.g. "0.1.0"
  std::string build_type;  // CMAKE_BUILD_TYPE, e.g. "Release"
  std::string git_commit;  // BuildCommit()
  std::string compiler;    // e.g. "gcc 12.2.0" or "clang 14.0.6"
};

// Returns this binary's build facts. Thread-safe.
const BuildInfo& GetBuildInfo();

}  // namespace services
}  // namespace recbandit

#endif  // RECBANDIT_SERVICES_MONITORING_BUILD_INFO_H_
