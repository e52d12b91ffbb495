// Team-draft interleaving (Radlinski, Kurup & Joachims 2008): merges two
// rankings into one slate whose positions belong to team A or team B, credits
// one impression's clicks to a team, and estimates the preference between the
// two rankers from the counted outcomes (Chapelle et al. 2012). Every function
// here is a pure function of its arguments: thread-safe.
//
//   ASSIGN_OR_RETURN(auto slate, TeamDraftInterleave(a, b, 10, event_seed));
//   ... serve slate.items, log slate.teams and slate.team_probabilities ...
//   ASSIGN_OR_RETURN(ImpressionOutcome o, CreditClicks(slate.teams, clicked));
//   counts.Add(o);  ASSIGN_OR_RETURN(auto p, InterleavingPreference(counts));
#ifndef RECBANDIT_BANDITS_INTERLEAVING_H_
#define RECBANDIT_BANDITS_INTERLEAVING_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"

namespace recbandit::bandits {

// The ranker a slate position was drafted for.
enum class Team : uint8_t { kA = 0, kB = 1 };

// A merged slate, one entry per position in display order (all vectors have
// the same length). `Id` is std::string or int32_t.
template <typename Id>
struct TeamDraftSlate {
  // Distinct items; length min(size, |union of the two rankings|).
  std::vector<Id> items;
  // The team that drafted each position.
  std::vector<Team> teams;
  // P(teams[j] | teams[0..j-1]): 0.5 for the first pick of a round in which
  // both teams could pick (the coin decided), 1 otherwise (the second pick of
  // a round, or one ranking exhausted). The product over positions 0..j is
  // the probability of the logged team assignment of the first j+1
  // positions, so a logged slate can be reweighted offline.
  std::vector<double> team_probabilities;
};

// Returns the team-draft merge of `ranking_a` and `ranking_b` (best first),
// `size` positions long (fewer when the union has fewer distinct items).
// Rounds of two picks: while the teams have drafted equally many items and
// both still have an item not yet in the slate, a coin says who picks first;
// otherwise the team with fewer picks goes. A team picks its highest-ranked
// item not yet in the slate; a team with none left is exhausted and the other
// continues alone. The coins are the successive SampleFromPmf({0.5, 0.5}, rng)
// draws (0: A first) of one Rng(seed), drawn only when the coin decides, so
// a logged (rankings, size, seed) replays the same slate. Only the first
// `size` items of each ranking can enter the slate; callers may pass those
// prefixes. INVALID_ARGUMENT: size < 1, an item twice within one ranking.
absl::StatusOr<TeamDraftSlate<std::string>> TeamDraftInterleave(
    absl::Span<const std::string> ranking_a, absl::Span<const std::string> ranking_b,
    int32_t size, uint64_t seed);
absl::StatusOr<TeamDraftSlate<int32_t>> TeamDraftInterleave(
    absl::Span<const int32_t> ranking_a, absl::Span<const int32_t> ranking_b, int32_t size,
    uint64_t seed);

// The verdict of one interleaved impression.
enum class ImpressionOutcome : uint8_t { kTie = 0, kAWins = 1, kBWins = 2 };

// Returns the outcome of one impression: A wins when more of the clicked
// positions were drafted by A than by B, B wins in the opposite case, a tie
// otherwise (no clicks included). `clicked_positions` are 0-based positions
// into `teams` in any order; a position listed twice counts once.
// INVALID_ARGUMENT: a clicked position outside [0, teams.size()).
absl::StatusOr<ImpressionOutcome> CreditClicks(absl::Span<const Team> teams,
                                               absl::Span<const int32_t> clicked_positions);

// Counts of impression outcomes for one pair of rankers. Thread-compatible.
struct InterleavingCounts {
  int64_t wins_a = 0;
  int64_t wins_b = 0;
  int64_t ties = 0;
  void Add(ImpressionOutcome outcome);
};

// The preference between rankers A and B estimated from InterleavingCounts.
// Positive delta: users prefer A. Intervals are 95%, two-sided.
struct PreferenceEstimate {
  // wins_a + wins_b + ties.
  int64_t impressions = 0;
  // Delta_AB = (wins_a - wins_b) / impressions, in [-1, 1] (0 when there are
  // no impressions).
  double delta = 0;
  // Score interval for the per-impression Delta (each impression +1, -1 or
  // 0; the score interval for a difference of paired proportions, Tango
  // 1998). Never a single point while impressions > 0, even when every
  // impression was a tie or a win for one side; [-1, 1] with none.
  double delta_low = -1;
  double delta_high = 1;
  // Share of the decided impressions (wins_a + wins_b) that A won; 0.5 when
  // none was decided.
  double win_share_a = 0.5;
  // Wilson score interval for win_share_a; [0, 1] when none was decided.
  double win_share_low = 0;
  double win_share_high = 1;
  // Two-sided exact sign test of wins_a against wins_b, ties dropped
  // (H0: a decided impression is A's with probability 1/2); 1 with none.
  double sign_test_p_value = 1;
};

// Returns the estimate for `counts`. INVALID_ARGUMENT: a negative count, or
// a total above 2^62.
absl::StatusOr<PreferenceEstimate> InterleavingPreference(const InterleavingCounts& counts);

}  // namespace recbandit::bandits

#endif  // RECBANDIT_BANDITS_INTERLEAVING_H_
