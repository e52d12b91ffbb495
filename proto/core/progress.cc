// ProgressReporter implementation.
#include "proto/core/progress.h"

#include <unistd.h>

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"

namespace recbandit {

ProgressReporter::ProgressReporter(std::string label, int64_t total)
    : ProgressReporter(std::move(label), total, Options()) {}

ProgressReporter::ProgressReporter(std::string label, int64_t total,
                                   Options options)
    : label_(std::move(label)),
      total_(total),
      options_(options),
      start_(absl::Now()) {
  switch (options_.mode) {
    case Options::Mode::kAuto:
      bar_ = options_.out != nullptr && isatty(fileno(options_.out));
      break;
    case Options::Mode::kBar:
      bar_ = true;
      break;
    default:
      bar_ = false;
  }
}

// Work that ends without Finish (an error) leaves its last line as it was; a
// bar that was drawn still gets its newline, so the error starts a line.
ProgressReporter::~ProgressReporter() {
  if (!finished_ && bar_ && printed_done_ >= 0 && options_.out != nullptr &&
      options_.mode != Options::Mode::kSilent) {
    absl::FPrintF(options_.out, "\n");
    std::fflush(options_.out);
  }
}

double ProgressReporter::EtaSeconds() const {
  if (total_ > 0 && done_ >= total_) return 0.0;
  if (done_ <= 0 || total_ <= 0) return -1.0;
  const double elapsed = absl::ToDoubleSeconds(absl::Now() - start_);
  return elapsed / static_cast<double>(done_) *
         static_cast<double>(total_ - done_);
}

std::string ProgressReporter::Render() const {
  const double elapsed = absl::ToDoubleSeconds(absl::Now() - start_);
  const double eta = EtaSeconds();
  std::string eta_text = eta < 0 ? "?" : absl::StrFormat("%.1fs", eta);
  std::string line;
  if (total_ <= 0) {
    line = absl::StrFormat("%s %d elapsed %.1fs", label_, done_, elapsed);
  } else if (bar_) {
    constexpr int kWidth = 30;
    const int filled = static_cast<int>(
        kWidth * std::min<double>(1.0, static_cast<double>(done_) / total_));
    line = absl::StrFormat("%s [%s%s] %d/%d %.1fs eta %s", label_,
                           std::string(filled, '#'),
                           std::string(kWidth - filled, '.'), done_, total_,
                           elapsed, eta_text);
  } else {
    line = absl::StrFormat("%s %d/%d elapsed %.1fs eta %s", label_, done_,
                           total_, elapsed, eta_text);
  }
  if (!detail_.empty()) absl::StrAppend(&line, " ", detail_);
  return line;
}

void ProgressReporter::Update(int64_t done, std::string_view detail) {
  done_ = done;
  detail_ = std::string(detail);
  if (options_.out == nullptr || options_.mode == Options::Mode::kSilent) return;
  const absl::Time now = absl::Now();
  const bool last = total_ > 0 && done_ >= total_;
  const absl::Duration interval = bar_ ? options_.min_bar_interval : options_.min_line_interval;
  if (!last && now - last_print_ < interval) return;
  last_print_ = now;
  printed_done_ = done_;
  if (bar_) {
    absl::FPrintF(options_.out, "\r%s\033[K", Render());
  } else {
    absl::FPrintF(options_.out, "%s\n", Render());
  }
  std::fflush(options_.out);
}

void ProgressReporter::Finish(std::string_view detail) {
  if (finished_) return;
  finished_ = true;
  if (!detail.empty()) detail_ = std::string(detail);
  if (options_.out == nullptr || options_.mode == Options::Mode::kSilent) return;
  if (bar_) {
    absl::FPrintF(options_.out, "\r%s\033[K\n", Render());
  } else if (printed_done_ != done_ || !detail.empty()) {
    absl::FPrintF(options_.out, "%s\n", Render());
  }
  std::fflush(options_.out);
}

ProgressCallback ReportProgressTo(std::string label,
                                  std::unique_ptr<ProgressReporter>* reporter) {
  return [label = std::move(label), reporter](int64_t done, int64_t total) {
    if (*reporter == nullptr) *reporter = std::make_unique<ProgressReporter>(label, total);
    (*reporter)->Update(done);
  };
}

}  // namespace recbandit
