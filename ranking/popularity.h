// Popularity baseline: items ranked by how many users interacted with them
// (cold-start fallback and the metric baseline).
#ifndef RECBANDIT_RANKING_POPULARITY_H_
#define RECBANDIT_RANKING_POPULARITY_H_

#include <vector>

#include "ranking/interactions.h"

namespace recbandit::ranking {

// Returns, per item (column of `user_items`), its share of all stored
// interactions, in [0, 1]; all 0 for an empty matrix.
std::vector<float> ItemPopularity(const CsrMatrix& user_items);

}  // namespace recbandit::ranking

#endif  // RECBANDIT_RANKING_POPULARITY_H_
