// Theft suspicion (违约窃电综合监控), pure: the features of each customer's
// daily consumption (against its own past and against its peers — the
// customers of the same station and category), billing and meter events; a
// transparent weighted score in [0, 1] with the reasons that weigh most;
// suspicion levels by cut-offs; and the measures the harness judges a ranking
// by (AUC, MAP@N). No I/O: the callers bring the series and keep the results.
//
// Every feature is a suspicion in [0, 1] (0: nothing unusual), so that the
// weights of the transparent score say how much each kind of evidence counts.
#pragma once

#include <array>
#include <cmath>
#include <limits>
#include <string>
#include <vector>

namespace aw::monitor::theft {

// A day without a reading.
inline constexpr float kMissing = std::numeric_limits<float>::quiet_NaN();
inline bool IsMissing(float v) { return std::isnan(v); }

enum Feature {
  kSustainedDrop,   // consumption fell and stayed down, against its own earlier level (peers' season removed)
  kZeroDays,        // share of near-zero days after the customer became active
  kBelowPeers,      // level far below the peers' median
  kShapeMismatch,   // the day-to-day shape does not follow the peers' (reversed, shuffled, flattened)
  kErratic,         // day-to-day swings far beyond the peers' (random scaling)
  kFlat,            // recent days nearly constant while the peers' vary
  kLowLoadFactor,   // consumption far below what the contract capacity suggests, against peers
  kBilledBelowMetered,
  kMeterEvents,     // cover open, reverse energy, phase loss, current imbalance, clock reset
  kMissingPattern,  // readings missing more often lately than before
  kFeatureCount
};

// "SUSTAINED_DROP", … : the reason code of a feature.
const char* FeatureCode(Feature f);
// 持续下降, … : what a person reads.
const char* FeatureName(Feature f);

struct MeterEventCounts {
  int cover_open = 0, reverse_energy = 0, phase_loss = 0, current_imbalance = 0, clock_reset = 0;
};

// One customer over the analysed days. `daily` holds one value per day from
// the first day, kMissing where there is none.
struct Customer {
  std::string id, station, category;
  double contract_kva = 0;  // 0: unknown
  std::vector<float> daily;
  // Over the same days: kWh billed and kWh metered (0 when unknown).
  double billed_kwh = 0, metered_kwh = 0;
  MeterEventCounts events;
};

using Features = std::array<double, kFeatureCount>;

// The features of every customer, each against the peers of its station and
// category (all customers, when there are no stations or categories). All
// series must have the same length. `signals`, when given, gets the same
// evidence before it is mapped to [0, 1] — the drop, the shares, the ratios
// and robust z-scores against the peers, NaN where unknown — for a model to
// learn its own thresholds from. The customers are worked through on
// `threads` threads; the result does not depend on how many.
std::vector<Features> ComputeFeatures(const std::vector<Customer>& customers,
                                      std::vector<Features>* signals = nullptr, int threads = 1);

using Weights = std::array<double, kFeatureCount>;
// Weights of the transparent score: the evidence that a person would call
// strong (a sustained drop, billed below metered, meter tampering, a flat or
// reversed series) counts most.
Weights DefaultWeights();

struct Reason {
  Feature feature;
  double weight;  // its share of the score's evidence, 0..1
};

struct Scored {
  double score = 0;              // 0..1
  std::vector<Reason> reasons;   // the features that weigh most, heaviest first (at most `top`)
};

// 1 − exp(−Σ wᵢ·fᵢ): one strong piece of evidence is enough for a high
// score, weak ones add up.
Scored TransparentScore(const Features& f, const Weights& w, int top = 3);

// Suspicion level 1 (most likely) … 4 for a score: level 1 at or above
// cutoffs[0], 2 at or above cutoffs[1], 3 at or above cutoffs[2], else 4.
int LevelOf(double score, const std::array<double, 3>& cutoffs);
inline constexpr std::array<double, 3> kDefaultCutoffs = {0.9, 0.75, 0.5};

// --- Which method ranks ----------------------------------------------------------

// True for the customers whose labels are held back from training, to judge
// models on (a stable ~`percent` % by a hash of the customer id).
bool HeldBack(const std::string& customer_id, int percent = 30);

// Whether a retrained model (the challenger) replaces the one in use (the
// champion: the transparent score until a model has won): only when there
// are at least `min_labels` held-back outcomes of both kinds and its AUC on
// them is higher by more than `margin`.
struct Choice {
  bool challenger_wins = false;
  double champion_auc = 0, challenger_auc = 0;
  int held_back = 0;
  std::string why;
};
Choice ChooseModel(const std::vector<double>& champion, const std::vector<double>& challenger,
                   const std::vector<int>& labels, int min_labels = 30, double margin = 0.005);

// --- Judging a ranking ---------------------------------------------------------

// Area under the ROC curve of `scores` for `labels` (1 = theft); ties count half.
double Auc(const std::vector<double>& scores, const std::vector<int>& labels);
// Mean average precision of the top `n` (Zheng et al. 2018): the mean, over
// the thieves among the top n, of the precision at each one's rank; 0 when
// there is none.
double MapAt(const std::vector<double>& scores, const std::vector<int>& labels, int n);

}  // namespace aw::monitor::theft
