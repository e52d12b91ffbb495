// Variant assignment by a stable hash of the unit id.
#include "bandits/assignment.h"

#include "proto/core/random.h"

namespace recbandit::bandits {

int32_t AssignVariant(const std::string& unit_id, uint64_t salt,
                      const std::vector<double>& weights) {
  double total = 0;
  for (double w : weights) total += w;
  const double u = static_cast<double>(StableHash64(unit_id, salt) >> 11) * 0x1.0p-53;
  const double point = u * total;
  double cumulative = 0;
  for (size_t i = 0; i < weights.size(); ++i) {
    cumulative += weights[i];
    if (point < cumulative) return static_cast<int32_t>(i);
  }
  return static_cast<int32_t>(weights.size()) - 1;
}

}  // namespace recbandit::bandits
