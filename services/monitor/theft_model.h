// The gradient-boosted theft model (Debian's xgboost C library): trained on
// the features' evidence (theft_logic's signals) of customers with known
// outcomes, it gives each customer a probability of theft and, per feature,
// how much that feature moved it (xgboost's contributions, in log-odds), from
// which a suspect's reasons are read. A model is bytes (xgboost's JSON), so
// it can be stored, versioned and loaded by any replica. No I/O.
#pragma once

#include <array>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "services/monitor/theft_logic.h"

namespace aw::monitor::theft {

struct TrainOptions {
  int rounds = 200;
  int max_depth = 4;
  double eta = 0.1;
  double subsample = 0.8;
  int seed = 1;
  int threads = 2;
};

// Per feature, its contribution to the log-odds; the last entry is the bias.
using Contributions = std::array<double, kFeatureCount + 1>;

// Thread-compatible: predictions from several threads need their own copies.
class TheftModel {
 public:
  // Trains on `signals` with `labels` (1 = theft confirmed). INVALID_ARGUMENT
  // without both classes.
  static absl::StatusOr<TheftModel> Train(const std::vector<Features>& signals, const std::vector<int>& labels,
                                          const TrainOptions& options);
  static absl::StatusOr<TheftModel> Load(const std::string& bytes);
  absl::StatusOr<std::string> Save() const;

  // The probability of theft of each row.
  absl::StatusOr<std::vector<double>> Predict(const std::vector<Features>& signals) const;
  absl::StatusOr<std::vector<Contributions>> Explain(const std::vector<Features>& signals) const;

  TheftModel(TheftModel&&) noexcept;
  TheftModel& operator=(TheftModel&&) noexcept;
  ~TheftModel();

 private:
  struct Booster;
  explicit TheftModel(std::unique_ptr<Booster> booster);
  std::unique_ptr<Booster> booster_;
};

// The reasons of a model's verdict: the features that raised it most, with
// their share of the raising contributions.
std::vector<Reason> ModelReasons(const Contributions& c, int top = 3);

}  // namespace aw::monitor::theft
