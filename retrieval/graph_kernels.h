// The code-scoring kernels of the "Graph<M>" walk (retrieval/graph_index.cc):
// integer dot products of a quantised query with rows of 8-bit or 4-bit
// scalar codes, one variant per instruction set, picked at run time.
#ifndef RECBANDIT_RETRIEVAL_GRAPH_KERNELS_H_
#define RECBANDIT_RETRIEVAL_GRAPH_KERNELS_H_

#include <cstdint>
#include <vector>

namespace recbandit::retrieval {

// Writes out[t] = sum_j code_j(row pos[t]) * w_j for t < count, where row r
// starts at codes + r * RowBytes(bits, dim).
// 8 bits: a row is dim bytes, code_j = byte j, w holds dim weights.
// 4 bits: a row is ceil(dim / 2) bytes; byte b holds code 2b in its low
// nibble and code 2b+1 in its high nibble (zero past dim); w holds
// 2 * ceil(dim / 2) weights: first the even dimensions' (w[b] for code 2b),
// then the odd dimensions' (w[rb + b] for code 2b+1, zero past dim).
// REQUIRES: |w_j| * (2^bits - 1) * dim < 2^31 (no int32 overflow).
using CodeScoreFn = void (*)(const uint8_t* codes, int32_t dim, const int32_t* pos, int32_t count,
                             const int16_t* w, int32_t* out);

// Returns the bytes of one code row.
inline int32_t CodeRowBytes(int32_t bits, int32_t dim) { return bits == 4 ? (dim + 1) / 2 : dim; }

// One kernel variant and the instruction set it needs.
struct CodeScoreKernel {
  const char* name;  // "scalar", "avx2", "avx512bw"
  CodeScoreFn fn;
};

// Returns every variant for `bits` (8 or 4) this CPU can run, widest first
// (the first is what the walk uses; the last is the portable scalar one).
std::vector<CodeScoreKernel> CodeScoreKernels(int32_t bits);

// Returns the widest variant for `bits` this CPU runs (chosen once).
CodeScoreFn BestCodeScoreFn(int32_t bits);

}  // namespace recbandit::retrieval

#endif  // RECBANDIT_RETRIEVAL_GRAPH_KERNELS_H_
