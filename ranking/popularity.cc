// Item popularity shares.
#include "ranking/popularity.h"

namespace recbandit::ranking {

std::vector<float> ItemPopularity(const CsrMatrix& user_items) {
  std::vector<float> share(user_items.cols, 0.0f);
  for (int32_t i : user_items.indices) share[i] += 1.0f;
  const double n = static_cast<double>(user_items.nnz());
  if (n > 0) {
    for (float& s : share) s = static_cast<float>(s / n);
  }
  return share;
}

}  // namespace recbandit::ranking
