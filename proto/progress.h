// ProgressReporter: progress of long work on stderr, as a redrawn bar on a
// terminal and as plain rate-limited lines otherwise.
#ifndef RECBANDIT_PROTO_PROGRESS_H_
#define RECBANDIT_PROTO_PROGRESS_H_

#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>

#include "absl/time/time.h"

namespace recbandit {

// Reports `done` of `total` units with elapsed time and ETA.
//
//   ProgressReporter progress("als", iterations);
//   for (int i = 0; i < iterations; ++i) { ...; progress.Update(i + 1, "loss=0.3"); }
//   progress.Finish();
//
// Thread-compatible. Writes only to `out` (stderr by default).
class ProgressReporter {
 public:
  struct Options {
    FILE* out = stderr;
    // Draw a bar with carriage returns. Default: whether `out` is a terminal.
    enum class Mode { kAuto, kBar, kLines, kSilent } mode = Mode::kAuto;
    // Plain-line mode prints at most one line per this interval (and always
    // the last update).
    absl::Duration min_line_interval = absl::Seconds(1);
  };

  ProgressReporter(std::string label, int64_t total);
  ProgressReporter(std::string label, int64_t total, Options options);
  ~ProgressReporter();

  // Records that `done` units are finished; `detail` is appended ("loss=..").
  void Update(int64_t done, std::string_view detail = "");
  // Prints the final state once (also called by the destructor).
  void Finish(std::string_view detail = "");

  // Returns the estimated seconds left from the mean rate so far (0 when done,
  // -1 when unknown).
  double EtaSeconds() const;
  // Returns the line the reporter would print for the current state.
  std::string Render() const;

 private:
  std::string label_;
  int64_t total_;
  Options options_;
  bool bar_ = false;
  bool finished_ = false;
  int64_t done_ = 0;
  std::string detail_;
  absl::Time start_;
  absl::Time last_print_ = absl::InfinitePast();
};

}  // namespace recbandit

#endif  // RECBANDIT_PROTO_PROGRESS_H_
