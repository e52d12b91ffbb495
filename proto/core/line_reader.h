// LineReader: the lines of a text in memory, numbered from 1, with "\n" or
// "\r\n" endings removed; the one line loop of the CSV readers.
#ifndef RECBANDIT_PROTO_CORE_LINE_READER_H_
#define RECBANDIT_PROTO_CORE_LINE_READER_H_

#include <cstdint>
#include <string_view>

namespace recbandit {

// Thread-compatible; `text` must outlive the reader and the lines it returns.
//
//   LineReader lines(text);
//   std::string_view line;
//   while (lines.Next(&line)) { ... lines.line_number() ... }
class LineReader {
 public:
  explicit LineReader(std::string_view text) : text_(text) {}

  // Sets *line to the next line (possibly empty) and returns true; returns
  // false after the last one. A final "\n" does not start another line.
  bool Next(std::string_view* line) {
    if (pos_ >= text_.size()) return false;
    size_t eol = text_.find('\n', pos_);
    if (eol == std::string_view::npos) eol = text_.size();
    *line = text_.substr(pos_, eol - pos_);
    pos_ = eol + 1;
    ++line_number_;
    if (!line->empty() && line->back() == '\r') line->remove_suffix(1);
    return true;
  }

  // Returns the 1-based number of the line Next returned last.
  int64_t line_number() const { return line_number_; }

 private:
  std::string_view text_;
  size_t pos_ = 0;
  int64_t line_number_ = 0;
};

}  // namespace recbandit

#endif  // RECBANDIT_PROTO_CORE_LINE_READER_H_
