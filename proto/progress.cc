// ProgressReporter implementation.
#include "proto/progress.h"

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

ProgressReporter::~ProgressReporter() { Finish(); }

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
  if (bar_ && total_ > 0) {
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
  if (bar_) {
    absl::FPrintF(options_.out, "\r%s\033[K", Render());
    std::fflush(options_.out);
    return;
  }
  const bool last = total_ > 0 && done_ >= total_;
  if (!last && now - last_print_ < options_.min_line_interval) return;
  last_print_ = now;
  absl::FPrintF(options_.out, "%s\n", Render());
}

void ProgressReporter::Finish(std::string_view detail) {
  if (finished_) return;
  finished_ = true;
  if (!detail.empty()) detail_ = std::string(detail);
  if (options_.out == nullptr || options_.mode == Options::Mode::kSilent) return;
  if (bar_) {
    absl::FPrintF(options_.out, "\r%s\033[K\n", Render());
  } else if (last_print_ == absl::InfinitePast() || done_ < total_) {
    absl::FPrintF(options_.out, "%s\n", Render());
  }
  std::fflush(options_.out);
}

}  // namespace recbandit
