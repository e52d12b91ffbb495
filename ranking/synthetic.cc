// Synthetic interactions: alias-table sampling, O(1) per drawn interaction
// (plus a binary search over the user's clusters).
#include "ranking/synthetic.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <numeric>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "proto/core/file_util.h"
#include "proto/core/random.h"
#include "proto/core/status_macros.h"

namespace recbandit::ranking {
namespace {

// Walker's alias method over non-negative weights. Thread-compatible.
class AliasTable {
 public:
  explicit AliasTable(const std::vector<double>& weights) {
    const size_t n = weights.size();
    prob_.assign(n, 0.0);
    alias_.assign(n, 0);
    const double total = std::accumulate(weights.begin(), weights.end(), 0.0);
    std::vector<double> scaled(n);
    std::vector<uint32_t> small, large;
    for (size_t i = 0; i < n; ++i) {
      scaled[i] = weights[i] * static_cast<double>(n) / total;
      (scaled[i] < 1.0 ? small : large).push_back(static_cast<uint32_t>(i));
    }
    while (!small.empty() && !large.empty()) {
      const uint32_t s = small.back();
      small.pop_back();
      const uint32_t l = large.back();
      prob_[s] = scaled[s];
      alias_[s] = l;
      scaled[l] -= 1.0 - scaled[s];
      if (scaled[l] < 1.0) {
        large.pop_back();
        small.push_back(l);
      }
    }
    for (uint32_t i : large) prob_[i] = 1.0;
    for (uint32_t i : small) prob_[i] = 1.0;
  }
  uint32_t Sample(Rng& rng) const {
    const uint32_t i = static_cast<uint32_t>(rng.UniformInt(prob_.size()));
    return rng.Uniform() < prob_[i] ? i : alias_[i];
  }

 private:
  std::vector<double> prob_;
  std::vector<uint32_t> alias_;
};

}  // namespace

double PlantedTruth::Probability(int32_t user, int32_t item) const {
  const int32_t c = item_cluster[item];
  return (1.0 - noise) * taste[static_cast<size_t>(user) * factors + c] *
             in_cluster[item] +
         noise * global[item];
}

std::vector<int32_t> PlantedTruth::TopItems(int32_t user, int32_t k,
                                            absl::Span<const int32_t> exclude) const {
  std::vector<std::pair<double, int32_t>> scored;
  scored.reserve(item_cluster.size());
  for (int32_t i = 0; i < num_items(); ++i) {
    if (std::binary_search(exclude.begin(), exclude.end(), i)) continue;
    scored.emplace_back(Probability(user, i), i);
  }
  const size_t top = std::min<size_t>(k, scored.size());
  std::partial_sort(scored.begin(), scored.begin() + top, scored.end(),
                    [](const auto& a, const auto& b) {
                      return a.first != b.first ? a.first > b.first : a.second < b.second;
                    });
  std::vector<int32_t> out(top);
  for (size_t j = 0; j < top; ++j) out[j] = scored[j].second;
  return out;
}

absl::StatusOr<SyntheticData> GenerateInteractions(const SyntheticOptions& o) {
  if (o.users < 1) return absl::InvalidArgumentError("--users must be >= 1");
  if (o.items < 1) return absl::InvalidArgumentError("--items must be >= 1");
  if (o.nnz < 1) return absl::InvalidArgumentError("--nnz must be >= 1");
  if (o.factors < 1 || o.factors > o.items) {
    return absl::InvalidArgumentError(
        absl::StrFormat("--factors must be in [1, items=%d], got %d", o.items, o.factors));
  }
  if (!(o.noise >= 0 && o.noise <= 1)) {
    return absl::InvalidArgumentError("noise must be in [0, 1]");
  }
  if (!(o.popularity_exponent >= 0) || !(o.taste_concentration > 0) ||
      !(o.activity_sigma >= 0)) {
    return absl::InvalidArgumentError(
        "popularity_exponent and activity_sigma must be >= 0, taste_concentration > 0");
  }
  Rng rng(o.seed);
  SyntheticData data;
  PlantedTruth& t = data.truth;
  t.factors = o.factors;
  t.noise = o.noise;

  // Items: a random popularity rank, Zipf weight, a cluster (round-robin over
  // a shuffled order so every cluster has items).
  std::vector<int32_t> order(o.items);
  std::iota(order.begin(), order.end(), 0);
  std::shuffle(order.begin(), order.end(), rng);
  std::vector<double> pop(o.items);
  for (int32_t r = 0; r < o.items; ++r) {
    pop[order[r]] = 1.0 / std::pow(static_cast<double>(r + 1), o.popularity_exponent);
  }
  std::shuffle(order.begin(), order.end(), rng);
  t.item_cluster.assign(o.items, 0);
  for (int32_t j = 0; j < o.items; ++j) t.item_cluster[order[j]] = j % o.factors;
  const double pop_total = std::accumulate(pop.begin(), pop.end(), 0.0);
  t.global.resize(o.items);
  for (int32_t i = 0; i < o.items; ++i) t.global[i] = pop[i] / pop_total;
  std::vector<std::vector<int32_t>> members(o.factors);
  std::vector<double> cluster_total(o.factors, 0.0);
  for (int32_t i = 0; i < o.items; ++i) {
    members[t.item_cluster[i]].push_back(i);
    cluster_total[t.item_cluster[i]] += pop[i];
  }
  t.in_cluster.resize(o.items);
  for (int32_t i = 0; i < o.items; ++i) {
    t.in_cluster[i] = pop[i] / cluster_total[t.item_cluster[i]];
  }
  std::vector<AliasTable> cluster_tables;
  cluster_tables.reserve(o.factors);
  for (int32_t c = 0; c < o.factors; ++c) {
    std::vector<double> w;
    w.reserve(members[c].size());
    for (int32_t i : members[c]) w.push_back(pop[i]);
    cluster_tables.emplace_back(w);
  }
  const AliasTable global_table(pop);

  // Users: Dirichlet taste, log-normal activity.
  t.taste.assign(static_cast<size_t>(o.users) * o.factors, 0.0f);
  std::vector<float> cumulative(t.taste.size());
  std::vector<double> activity(o.users);
  for (int32_t u = 0; u < o.users; ++u) {
    double sum = 0;
    float* row = &t.taste[static_cast<size_t>(u) * o.factors];
    std::vector<double> g(o.factors);
    for (int32_t c = 0; c < o.factors; ++c) sum += (g[c] = rng.Gamma(o.taste_concentration));
    if (!(sum > 0)) {
      g.assign(o.factors, 1.0);
      sum = o.factors;
    }
    float acc = 0;
    for (int32_t c = 0; c < o.factors; ++c) {
      row[c] = static_cast<float>(g[c] / sum);
      acc += row[c];
      cumulative[static_cast<size_t>(u) * o.factors + c] = acc;
    }
    activity[u] = std::exp(o.activity_sigma * rng.Normal());
  }
  const AliasTable user_table(activity);

  // Ids are named by index; register them in index order so dense id == index
  // for every user/item that appears... only those that appear are added, so
  // callers must map through names (documented in the header).
  InteractionLog& log = data.log;
  log.has_timestamps = true;
  log.user.reserve(o.nnz);
  log.item.reserve(o.nnz);
  log.weight.reserve(o.nnz);
  log.timestamp.reserve(o.nnz);
  std::vector<int32_t> user_dense(o.users, -1), item_dense(o.items, -1);
  const int64_t kStartTime = 1600000000;
  for (int64_t n = 0; n < o.nnz; ++n) {
    const uint32_t u = user_table.Sample(rng);
    uint32_t item;
    if (rng.Uniform() < o.noise) {
      item = global_table.Sample(rng);
    } else {
      const float* cum = &cumulative[static_cast<size_t>(u) * o.factors];
      const float x = static_cast<float>(rng.Uniform()) * cum[o.factors - 1];
      int32_t c = static_cast<int32_t>(std::upper_bound(cum, cum + o.factors, x) - cum);
      if (c >= o.factors) c = o.factors - 1;
      while (members[c].empty()) c = (c + 1) % o.factors;
      item = members[c][cluster_tables[c].Sample(rng)];
    }
    if (user_dense[u] < 0) user_dense[u] = log.users.GetOrAdd(absl::StrCat("u", u));
    if (item_dense[item] < 0) item_dense[item] = log.items.GetOrAdd(absl::StrCat("i", item));
    log.Add(user_dense[u], item_dense[item], 1.0f, kStartTime + n);
  }
  return data;
}

absl::Status WritePlantedTruth(const std::string& path, const PlantedTruth& t) {
  std::string out = absl::StrFormat("factors,%d,%.17g\n", t.factors, t.noise);
  char buf[64];
  for (int32_t u = 0; u < t.num_users(); ++u) {
    absl::StrAppend(&out, "user,", u);
    for (int32_t c = 0; c < t.factors; ++c) {
      auto r = std::to_chars(buf, buf + sizeof(buf), t.taste[static_cast<size_t>(u) * t.factors + c]);
      out.push_back(',');
      out.append(buf, r.ptr);
    }
    out.push_back('\n');
  }
  for (int32_t i = 0; i < t.num_items(); ++i) {
    absl::StrAppendFormat(&out, "item,%d,%d,%.17g,%.17g\n", i, t.item_cluster[i],
                          t.in_cluster[i], t.global[i]);
  }
  return WriteFileAtomically(path, out);
}

absl::StatusOr<PlantedTruth> LoadPlantedTruth(const std::string& path) {
  ASSIGN_OR_RETURN(std::string text, ReadFileToString(path));
  PlantedTruth t;
  int64_t line_no = 0;
  auto bad = [&](absl::string_view what) {
    return absl::InvalidArgumentError(absl::StrFormat("%s:%d: %s", path, line_no, what));
  };
  for (absl::string_view line : absl::StrSplit(text, '\n', absl::SkipEmpty())) {
    ++line_no;
    std::vector<absl::string_view> f = absl::StrSplit(line, ',');
    if (f[0] == "factors") {
      if (f.size() != 3 || !absl::SimpleAtoi(f[1], &t.factors) ||
          !absl::SimpleAtod(f[2], &t.noise) || t.factors < 1) {
        return bad("bad factors row");
      }
    } else if (f[0] == "user") {
      int32_t u;
      if (t.factors < 1 || f.size() != static_cast<size_t>(t.factors) + 2 ||
          !absl::SimpleAtoi(f[1], &u) || u != t.num_users()) {
        return bad("bad user row (users must be listed in index order)");
      }
      for (int32_t c = 0; c < t.factors; ++c) {
        float v;
        if (!absl::SimpleAtof(f[2 + c], &v)) return bad("bad taste value");
        t.taste.push_back(v);
      }
    } else if (f[0] == "item") {
      int32_t i, c;
      double in, g;
      if (f.size() != 5 || !absl::SimpleAtoi(f[1], &i) || i != t.num_items() ||
          !absl::SimpleAtoi(f[2], &c) || c < 0 || c >= t.factors ||
          !absl::SimpleAtod(f[3], &in) || !absl::SimpleAtod(f[4], &g)) {
        return bad("bad item row");
      }
      t.item_cluster.push_back(c);
      t.in_cluster.push_back(in);
      t.global.push_back(g);
    } else {
      return bad(absl::StrCat("unknown row kind '", f[0], "'"));
    }
  }
  if (t.factors < 1) return absl::InvalidArgumentError(absl::StrCat(path, ": no factors row"));
  return t;
}

}  // namespace recbandit::ranking
