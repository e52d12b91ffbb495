// Reading factors trained elsewhere (Spark MLlib ALS, the Python `implicit`
// library, ...): NumPy .npy and CSV factor matrices and one-id-per-line id
// files, checked (bounded headers, shapes, finite values, unique ids) and
// paired into the parts of a FactorModel. `recbandit import` uses it.
#ifndef RECBANDIT_RANKING_FACTOR_IMPORT_H_
#define RECBANDIT_RANKING_FACTOR_IMPORT_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "proto/model.pb.h"
#include "ranking/interactions.h"

namespace recbandit::ranking {

// The largest latent dimension an imported matrix may have (as training's
// --factors, 1..1024).
inline constexpr int32_t kMaxImportFactors = 1024;
// The longest id accepted, in bytes: the bound of the ids a request names
// (services/serving/request_checks.h), so every imported id can be asked for.
inline constexpr size_t kMaxImportIdBytes = 256;
// The largest .npy header read (NumPy itself writes a few hundred bytes).
inline constexpr uint64_t kMaxNpyHeaderBytes = 1 << 20;

// A dense float32 matrix read from a factor file. Thread-compatible.
struct FactorMatrix {
  int64_t rows = 0;
  int32_t cols = 0;
  std::vector<float> values;  // rows x cols, row-major; every value finite
  std::string format;         // "npy <f4", "npy <f8" (converted) or "csv"
  uint32_t crc32c = 0;        // of the file's whole content
};

// Returns the matrix in the bytes of a NumPy .npy file (`name` names it in
// errors). Accepted: format versions 1.0, 2.0 and 3.0; dtype '<f4' or '<f8'
// ('<f8' converted to float32); fortran_order False; a 2-D shape (rows,
// cols) with cols in 1..kMaxImportFactors and rows in 1..2^31-1; exactly
// rows * cols values after the header. Everything is checked before any
// allocation, so a header declaring a huge shape, a header length beyond
// the file or a truncated file is an INVALID_ARGUMENT naming the file and
// the header field, never a large allocation. A NaN or infinite value (or an
// '<f8' beyond float32's range) is INVALID_ARGUMENT naming the 0-based row
// and column.
absl::StatusOr<FactorMatrix> ParseNpyMatrix(absl::string_view bytes, absl::string_view name);

// Returns the matrix in CSV `text`: one row per line, its values separated
// by commas (spaces around them allowed), every row with as many values;
// no header and no id column (the ids come from the id file, row i with
// line i). A final newline and "\r\n" endings are accepted. INVALID_ARGUMENT
// naming the file and 1-based line for a field that is not a number, a
// NaN or infinite value, a value beyond float32, a row of another length or
// an empty line; for an empty file; for more than kMaxImportFactors columns.
absl::StatusOr<FactorMatrix> ParseCsvMatrix(absl::string_view text, absl::string_view name);

// Returns the factor matrix in file `path`: read as .npy when its name ends
// in ".npy" or its bytes start with NumPy's magic, as CSV otherwise. The
// file is memory-mapped; only regular files are read (a FIFO or a device
// is INVALID_ARGUMENT, never a hang).
absl::StatusOr<FactorMatrix> ReadFactorMatrix(const std::string& path);

// Returns the ids in `text`, one per line in row order ("\r\n" endings and
// a missing final newline accepted, a UTF-8 byte order mark skipped).
// INVALID_ARGUMENT naming the file and 1-based line for an empty id, an id
// longer than kMaxImportIdBytes, one that is not valid UTF-8 or holds a
// control character, and a duplicate (with the line of its first
// occurrence); for a file without ids. `what` ("user", "item") words errors.
absl::StatusOr<IdMap> ParseIdList(absl::string_view text, absl::string_view name,
                                  absl::string_view what);

// The four files of an import.
struct ImportInputs {
  std::string user_factors;  // .npy or CSV, users x d
  std::string item_factors;  // .npy or CSV, items x d
  std::string user_ids;      // one user id per line, row order of user_factors
  std::string item_ids;      // one item id per line, row order of item_factors
};

// Factors and ids ready to become a FactorModel. Thread-compatible.
struct ImportedFactors {
  IdMap users;
  IdMap items;
  int32_t factors = 0;
  std::vector<float> user_factors;  // users x factors, row-major
  std::vector<float> item_factors;  // items x factors, row-major
  ImportSource source;              // paths, formats and checksums
};

// Returns the factors and ids of `inputs`, read as ReadFactorMatrix and
// ParseIdList do, after checking that each factor file has one row per id
// of its id file and that both have the same number of columns
// (INVALID_ARGUMENT naming both files and both counts otherwise).
absl::StatusOr<ImportedFactors> ImportFactors(const ImportInputs& inputs);

}  // namespace recbandit::ranking

#endif  // RECBANDIT_RANKING_FACTOR_IMPORT_H_
