// Bayesian personalized ranking (Rendle et al. 2009): SGD on (user, positive,
// sampled negative) triples, uniform or popularity-proportional negatives,
// optional item bias, lock-free (Hogwild) updates across threads.
#ifndef RECBANDIT_RANKING_BPR_H_
#define RECBANDIT_RANKING_BPR_H_

#include <cstdint>

#include "absl/status/statusor.h"
#include "proto/model.pb.h"
#include "ranking/interactions.h"
#include "ranking/training.h"

namespace recbandit::ranking {

struct BprOptions {
  int32_t factors = 64;          // latent dimension d, 1..1024
  int32_t epochs = 100;          // one sampled triple per interaction each, 1..10000
  float learning_rate = 0.01f;   // SGD step, > 0
  float regularization = 0.01f;  // L2 on factors and biases, >= 0
  enum class Negatives { kUniform, kPopularity };
  Negatives negative_sampling = Negatives::kUniform;
  bool item_bias = false;        // learn a per-item bias
  bool compute_loss = false;     // mean -log sigmoid(x_uij) per epoch
  int32_t threads = 1;           // 1..256; bitwise deterministic only at 1
  uint64_t seed = 1;             // initialization and sampling
};

// Returns INVALID_ARGUMENT naming the first field out of its range.
absl::Status ValidateBprOptions(const BprOptions& options);
// TrainParams conversions: ranking/train_params.h.

// BPR trainer. Epoch e of thread t draws from a generator seeded by (seed, e,
// t), so resuming from a checkpoint repeats an uninterrupted run exactly at
// one thread. A sampled negative that is a positive of the user is redrawn
// (up to 32 times, then the triple is skipped). Thread-compatible.
class BprTrainer {
 public:
  explicit BprTrainer(BprOptions options) : options_(options) {}
  // Returns the trained factors; `resume` and `callback` as in AlsTrainer.
  absl::StatusOr<FactorState> Fit(const Interactions& data,
                                  const FactorState* resume = nullptr,
                                  const IterationCallback& callback = nullptr) const;

 private:
  BprOptions options_;
};

}  // namespace recbandit::ranking

#endif  // RECBANDIT_RANKING_BPR_H_
