// Exploration: turns scores into a probability distribution over the offered
// actions (greedy with ties split, epsilon-greedy, softmax, exploration floor)
// and holds the only sampler, a pure function of the pmf and the Rng.
#ifndef RECBANDIT_BANDITS_EXPLORE_H_
#define RECBANDIT_BANDITS_EXPLORE_H_

#include <cstdint>
#include <functional>
#include <vector>

#include "absl/types/span.h"
#include "proto/core/random.h"

namespace recbandit::bandits {

// Returns an index drawn from `pmf` by inverse CDF with exactly one
// rng.Uniform() draw: the first i with u < pmf[0] + ... + pmf[i]. When rounding
// leaves u at or above the total, returns the last index with positive mass.
// REQUIRES: pmf non-empty, entries >= 0, some entry > 0.
int32_t SampleFromPmf(absl::Span<const double> pmf, Rng& rng);

// Writes into `pmf` the greedy distribution over `scores`: every maximal score
// gets 1/(number of maxima), the others 0 (exact comparison; +inf is allowed).
// `pmf` may be the same buffer as `scores`. REQUIRES: same non-zero length, no
// NaN.
void GreedyPmf(absl::Span<const double> scores, absl::Span<double> pmf);

// Writes epsilon/n + (1-epsilon) * greedy into `pmf`. REQUIRES: epsilon in
// [0, 1]; as GreedyPmf.
void EpsilonGreedyPmf(absl::Span<const double> scores, double epsilon,
                      absl::Span<double> pmf);

// Writes the softmax distribution exp(s_i / tau) / sum_j exp(s_j / tau) into
// `pmf` (computed stably by subtracting the maximum). REQUIRES: tau > 0,
// finite scores; as GreedyPmf.
void SoftmaxPmf(absl::Span<const double> scores, double tau, absl::Span<double> pmf);

// Mixes `pmf` with the uniform distribution so that every entry is at least
// f = min(floor, 1/n): p_i <- (1 - n f) p_i + f. The mixture weight does not
// depend on the pmf, so a policy that never builds its pmf can draw from the
// same distribution (uniform with probability n f). floor <= 0 is a no-op.
void ApplyExplorationFloor(double floor, absl::Span<double> pmf);

// Writes weight * pmf + (1 - weight) * [action] into `pmf`: the share
// 1 - weight goes to `action` (a ranking's best remaining item), the share
// `weight` is spent as `pmf` says. weight 0 gives exactly [action].
// REQUIRES: weight in [0, 1]; 0 <= action < pmf.size().
void MixTowardAction(double weight, int32_t action, absl::Span<double> pmf);

// Returns the uniform mixture weight n * min(floor, 1/n) ApplyExplorationFloor
// uses for `n` actions (0 when floor <= 0).
double FloorMixWeight(double floor, int64_t n);

// Draws a slate (bandits/log/log_format.md, "Slates"): `size` distinct indices into n
// candidates in model order (best first), position j drawn with Rng(seed) from
// (1 - weight) * [best remaining] + weight * (policy_pmf over the remaining,
// renormalised; uniform when they have no mass). The policy's pmf carries the
// experiment's exploration floor, so the floor is spent only inside the
// `weight` share: weight 0 is exactly the model's order, and no position
// leaves the best remaining candidate with probability above `weight`.
// Fills `slate` (display order), `propensities` (each position's probability
// given the earlier ones) and `first_pmf` (position 0's distribution over
// all n). REQUIRES: 1 <= size <= n == policy_pmf.size(); weight in [0, 1].
void DrawSlate(absl::Span<const double> policy_pmf, int32_t size, double weight, uint64_t seed,
               std::vector<int32_t>* slate, std::vector<double>* propensities,
               std::vector<double>* first_pmf);

// Draws a deployment's exploring slate (proto SlateExploration) of `size`
// positions over candidates in model order: with probability `epsilon` a
// uniformly random ordered slate of distinct indices from the first `pool`,
// else the first `size` in order. Fills `slate` (indices, display order),
// `conditionals` (each position's probability given the earlier ones) and
// `marginals` (the probability that this index is at this position), both
// exact under that mixture. Seeded draws through SampleFromPmf.
// REQUIRES: 1 <= size <= pool; epsilon in [0, 1].
void DrawExploringSlate(int32_t size, int32_t pool, double epsilon, uint64_t seed,
                        std::vector<int32_t>* slate, std::vector<double>* conditionals,
                        std::vector<double>* marginals);

// Returns the probability that DrawExploringSlate (`pool`, `epsilon`) puts
// candidate `index` at `position`: (1 - epsilon) [index == position] +
// epsilon / pool for an index in the pool (pool 0: no exploration).
double ExploringSlateMarginal(int32_t index, int32_t position, int32_t pool, double epsilon);

// Mixes new items into a drawn slate (proto NewItemExploration). Positions
// are filled in order: while both kinds remain, a position goes with
// probability `share` to a new item drawn uniformly from the `num_new` not
// yet shown, else to the next item of `base` (a slate already drawn, with
// its `base_conditionals`); once one kind runs out the other fills the
// rest, up to `size` positions (fewer when both run out). New item t is
// index `first_new` + t. Fills `slate`, `conditionals` (each position's
// probability given the ones above it) and `marginals` (the probability
// that its item is at its position), both exact: `base_marginal(index, b)`
// must return the probability that the base draw put `index` at its
// position b. Seeded draws through SampleFromPmf.
// REQUIRES: share in [0, 1]; base_conditionals.size() == base.size();
// base indices < first_new; num_new >= 0; size >= 0.
void MixNewItems(absl::Span<const int32_t> base, absl::Span<const double> base_conditionals,
                 const std::function<double(int32_t index, int32_t position)>& base_marginal,
                 int32_t first_new, int32_t num_new, int32_t size, double share, uint64_t seed,
                 std::vector<int32_t>* slate, std::vector<double>* conditionals,
                 std::vector<double>* marginals);

}  // namespace recbandit::bandits

#endif  // RECBANDIT_BANDITS_EXPLORE_H_
