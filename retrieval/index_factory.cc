// ParseIndexFactory: the whitelist grammar of index factory strings.
#include "retrieval/index_factory.h"

#include <cstdint>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "proto/core/names.h"
#include "proto/core/status_macros.h"

namespace recbandit::retrieval {
namespace {

constexpr size_t kMaxFactoryBytes = 64;

// Parses the decimal number at the start of *s (at most 7 digits, no sign)
// and removes it; false when there is none.
bool ConsumeNumber(absl::string_view* s, int32_t* out) {
  size_t i = 0;
  int64_t v = 0;
  while (i < s->size() && (*s)[i] >= '0' && (*s)[i] <= '9') {
    if (i == 7) return false;
    v = v * 10 + ((*s)[i] - '0');
    ++i;
  }
  if (i == 0) return false;
  *out = static_cast<int32_t>(v);
  s->remove_prefix(i);
  return true;
}

absl::Status Bad(absl::string_view factory, absl::string_view why) {
  return absl::InvalidArgumentError(
      absl::StrCat("index factory ", Quote(factory), ": ", why,
                   " (accepted: Exact, Flat, HNSW<M>, Graph<M>[,SQ8|,SQ4], IVF<nlist>,Flat, IVF<nlist>,PQ<m>[x<nbits>], "
                   "IVF<nlist>,SQ8, PQ<m>[x<nbits>], SQ8)"));
}

// Parses one of PQ<m>[x<nbits>] | SQ4 | SQ6 | SQ8 | SQfp16 | Flat into spec
// (as the whole index when !fine, as the IVF lists' encoding when fine).
absl::Status ParseEncoding(absl::string_view factory, absl::string_view part, int32_t dim,
                           int64_t items, IndexSpec* spec, IndexSpec::Kind* kind) {
  if (part == "Flat") {
    *kind = IndexSpec::Kind::kFlat;
    return absl::OkStatus();
  }
  if (absl::ConsumePrefix(&part, "SQ")) {
    if (part != "4" && part != "6" && part != "8" && part != "fp16") {
      return Bad(factory, "SQ takes 4, 6, 8 or fp16");
    }
    *kind = IndexSpec::Kind::kSq;
    spec->sq_type = std::string(part);
    return absl::OkStatus();
  }
  if (absl::ConsumePrefix(&part, "PQ")) {
    int32_t m = 0, bits = 8;
    if (!ConsumeNumber(&part, &m)) return Bad(factory, "PQ needs a number of sub-quantizers");
    if (absl::ConsumePrefix(&part, "x") && !ConsumeNumber(&part, &bits)) {
      return Bad(factory, "PQ<m>x needs a number of bits");
    }
    if (!part.empty()) return Bad(factory, "unexpected text after PQ<m>[x<nbits>]");
    if (m < 1 || m > dim || dim % m != 0) {
      return Bad(factory, absl::StrCat("PQ's m must divide the dimension ", dim, ", got ", m));
    }
    if (bits < 1 || bits > kMaxPqBits) {
      return Bad(factory, absl::StrCat("PQ's nbits must be in [1, ", kMaxPqBits, "], got ", bits));
    }
    if (items > 0 && (int64_t{1} << bits) > items) {
      return Bad(factory, absl::StrCat("PQ with ", bits, " bits trains ", int64_t{1} << bits,
                                       " centroids but only ", items, " items"));
    }
    *kind = IndexSpec::Kind::kPq;
    spec->pq_m = m;
    spec->pq_bits = bits;
    return absl::OkStatus();
  }
  return Bad(factory, "unknown index kind");
}

}  // namespace

absl::StatusOr<IndexSpec> ParseIndexFactory(absl::string_view factory, int32_t dim,
                                            int64_t items) {
  if (dim < 1 || dim > kMaxIndexDim) {
    return absl::InvalidArgumentError(
        absl::StrCat("index dimension must be in [1, ", kMaxIndexDim, "], got ", dim));
  }
  if (factory.empty()) return absl::InvalidArgumentError("empty index factory string");
  if (factory.size() > kMaxFactoryBytes) {
    return Bad(factory, absl::StrCat("longer than ", kMaxFactoryBytes, " bytes"));
  }
  IndexSpec spec;
  if (factory == "Exact") return spec;
  const std::vector<absl::string_view> parts = absl::StrSplit(factory, ',');
  absl::string_view first = parts[0];
  if (parts.size() > 2) return Bad(factory, "at most two comma-separated parts");
  if (absl::ConsumePrefix(&first, "HNSW")) {
    int32_t m = 0;
    if (!ConsumeNumber(&first, &m) || !first.empty()) {
      return Bad(factory, "HNSW needs a graph degree M");
    }
    if (m < kMinHnswM || m > kMaxHnswM) {
      return Bad(factory, absl::StrCat("HNSW's M must be in [", kMinHnswM, ", ", kMaxHnswM,
                                       "], got ", m));
    }
    if (parts.size() == 2 && parts[1] != "Flat") {
      return Bad(factory, "HNSW stores vectors Flat only (HNSW<M> or HNSW<M>,Flat)");
    }
    spec.kind = IndexSpec::Kind::kHnsw;
    spec.hnsw_m = m;
    return spec;
  }
  if (absl::ConsumePrefix(&first, "Graph")) {
    int32_t m = 0;
    if (!ConsumeNumber(&first, &m) || !first.empty()) {
      return Bad(factory, "Graph needs a graph degree M");
    }
    if (m < kMinHnswM || m > kMaxHnswM) {
      return Bad(factory, absl::StrCat("Graph's M must be in [", kMinHnswM, ", ", kMaxHnswM,
                                       "], got ", m));
    }
    if (parts.size() == 2 && parts[1] != "SQ8" && parts[1] != "SQ4") {
      return Bad(factory, "Graph walks 8-bit or 4-bit codes (Graph<M>, Graph<M>,SQ8 or Graph<M>,SQ4)");
    }
    spec.kind = IndexSpec::Kind::kGraph;
    spec.sq_type = parts.size() == 2 && parts[1] == "SQ4" ? "4" : "8";
    spec.hnsw_m = m;
    return spec;
  }
  if (absl::ConsumePrefix(&first, "IVF")) {
    int32_t nlist = 0;
    if (!ConsumeNumber(&first, &nlist) || !first.empty()) {
      return Bad(factory, "IVF needs a number of lists");
    }
    if (nlist < 1 || nlist > kMaxIvfLists) {
      return Bad(factory, absl::StrCat("IVF's nlist must be in [1, ", kMaxIvfLists, "], got ",
                                       nlist));
    }
    if (items > 0 && nlist > items) {
      return Bad(factory, absl::StrCat(nlist, " IVF lists but only ", items,
                                       " items: use at most ", items,
                                       " lists (about sqrt(items) is typical)"));
    }
    if (parts.size() != 2) return Bad(factory, "IVF<nlist> needs an encoding, e.g. IVF<nlist>,Flat");
    spec.kind = IndexSpec::Kind::kIvf;
    spec.ivf_lists = nlist;
    RETURN_IF_ERROR(ParseEncoding(factory, parts[1], dim, items, &spec, &spec.fine));
    return spec;
  }
  if (parts.size() != 1) return Bad(factory, "unknown index kind");
  RETURN_IF_ERROR(ParseEncoding(factory, first, dim, items, &spec, &spec.kind));
  return spec;
}

}  // namespace recbandit::retrieval
