// ProgressReporter: progress of long work on stderr, as a redrawn bar on a
// terminal and as plain rate-limited lines otherwise.
#ifndef RECBANDIT_PROTO_CORE_PROGRESS_H_
#define RECBANDIT_PROTO_CORE_PROGRESS_H_

#include <cstdint>
#include <cstdio>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "absl/time/time.h"

namespace recbandit {

// How a library routine reports progress to its caller: `done` of `total`
// units (total <= 0: unknown). Each routine says from which threads it calls.
using ProgressCallback = std::function<void(int64_t done, int64_t total)>;

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
    // the last update); bar mode redraws at most once per min_bar_interval.
    absl::Duration min_line_interval = absl::Seconds(1);
    absl::Duration min_bar_interval = absl::Milliseconds(100);
  };

  ProgressReporter(std::string label, int64_t total);
  ProgressReporter(std::string label, int64_t total, Options options);
  ~ProgressReporter();

  // Records that `done` units are finished; `detail` is appended ("loss=..").
  // With total <= 0 (unknown) the line shows the count without an ETA.
  void Update(int64_t done, std::string_view detail = "");
  // Prints the final state once. Without it (the work failed) the destructor
  // prints nothing more than a bar's closing newline.
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
  int64_t printed_done_ = -1;  // `done` of the last line printed
};

// Returns a callback that reports to `*reporter`, creating it with `label`
// and the total of the first call (so a caller need not know the total
// before the work starts). `reporter` must outlive the callback; the caller
// calls (*reporter)->Finish() when the work succeeded. Thread-compatible.
//
//   std::unique_ptr<ProgressReporter> progress;
//   RETURN_IF_ERROR(BuildIndex(..., ReportProgressTo("index items", &progress)));
//   if (progress) progress->Finish();
ProgressCallback ReportProgressTo(std::string label,
                                  std::unique_ptr<ProgressReporter>* reporter);

}  // namespace recbandit

#endif  // RECBANDIT_PROTO_CORE_PROGRESS_H_
