#include "services/monitor/theft_model.h"

#include <nlohmann/json.hpp>
#include <xgboost/c_api.h>

#include <algorithm>

#include "absl/strings/str_cat.h"

namespace aw::monitor::theft {
namespace {

absl::Status Check(int rc, const char* what) {
  if (rc == 0) return absl::OkStatus();
  return absl::InternalError(absl::StrCat("xgboost ", what, ": ", XGBGetLastError()));
}

#define AW_XGB(call, what)                                   \
  do {                                                       \
    if (absl::Status s = Check((call), what); !s.ok()) return s; \
  } while (false)

// A matrix of signals, NaN for what is unknown.
class Matrix {
 public:
  static absl::StatusOr<std::unique_ptr<Matrix>> Of(const std::vector<Features>& rows) {
    std::vector<float> flat;
    flat.reserve(rows.size() * kFeatureCount);
    for (const auto& r : rows) {
      for (double v : r) flat.push_back(static_cast<float>(v));
    }
    auto m = std::unique_ptr<Matrix>(new Matrix());
    AW_XGB(XGDMatrixCreateFromMat(flat.data(), rows.size(), kFeatureCount, std::nanf(""), &m->handle_),
           "XGDMatrixCreateFromMat");
    return m;
  }
  ~Matrix() {
    if (handle_ != nullptr) XGDMatrixFree(handle_);
  }
  DMatrixHandle handle() const { return handle_; }

 private:
  Matrix() = default;
  DMatrixHandle handle_ = nullptr;
};

}  // namespace

struct TheftModel::Booster {
  BoosterHandle handle = nullptr;
  ~Booster() {
    if (handle != nullptr) XGBoosterFree(handle);
  }
};

TheftModel::TheftModel(std::unique_ptr<Booster> booster) : booster_(std::move(booster)) {}
TheftModel::TheftModel(TheftModel&&) noexcept = default;
TheftModel& TheftModel::operator=(TheftModel&&) noexcept = default;
TheftModel::~TheftModel() = default;

absl::StatusOr<TheftModel> TheftModel::Train(const std::vector<Features>& signals, const std::vector<int>& labels,
                                             const TrainOptions& o) {
  if (signals.size() != labels.size()) return absl::InvalidArgumentError("labels: one per row of signals");
  const bool both = std::count(labels.begin(), labels.end(), 1) > 0 && std::count(labels.begin(), labels.end(), 0) > 0;
  if (!both) return absl::InvalidArgumentError("labels: a model needs confirmed and refuted outcomes");
  auto data = Matrix::Of(signals);
  if (!data.ok()) return data.status();
  std::vector<float> y(labels.begin(), labels.end());
  AW_XGB(XGDMatrixSetFloatInfo((*data)->handle(), "label", y.data(), y.size()), "XGDMatrixSetFloatInfo");
  auto booster = std::make_unique<Booster>();
  DMatrixHandle train[] = {(*data)->handle()};
  AW_XGB(XGBoosterCreate(train, 1, &booster->handle), "XGBoosterCreate");
  const std::pair<const char*, std::string> params[] = {
      {"objective", "binary:logistic"},       {"eval_metric", "auc"},
      {"max_depth", absl::StrCat(o.max_depth)}, {"eta", absl::StrCat(o.eta)},
      {"subsample", absl::StrCat(o.subsample)}, {"seed", absl::StrCat(o.seed)},
      {"nthread", absl::StrCat(o.threads)},   {"verbosity", "0"}};
  for (const auto& [name, value] : params) {
    AW_XGB(XGBoosterSetParam(booster->handle, name, value.c_str()), "XGBoosterSetParam");
  }
  for (int i = 0; i < o.rounds; ++i) {
    AW_XGB(XGBoosterUpdateOneIter(booster->handle, i, (*data)->handle()), "XGBoosterUpdateOneIter");
  }
  return TheftModel(std::move(booster));
}

absl::StatusOr<TheftModel> TheftModel::Load(const std::string& bytes) {
  auto booster = std::make_unique<Booster>();
  AW_XGB(XGBoosterCreate(nullptr, 0, &booster->handle), "XGBoosterCreate");
  AW_XGB(XGBoosterLoadModelFromBuffer(booster->handle, bytes.data(), bytes.size()), "XGBoosterLoadModelFromBuffer");
  return TheftModel(std::move(booster));
}

absl::StatusOr<std::string> TheftModel::Save() const {
  bst_ulong len = 0;
  const char* out = nullptr;
  const std::string config = nlohmann::json{{"format", "json"}}.dump();
  AW_XGB(XGBoosterSaveModelToBuffer(booster_->handle, config.c_str(), &len, &out), "XGBoosterSaveModelToBuffer");
  return std::string(out, len);
}

absl::StatusOr<std::vector<double>> TheftModel::Predict(const std::vector<Features>& signals) const {
  auto data = Matrix::Of(signals);
  if (!data.ok()) return data.status();
  bst_ulong len = 0;
  const float* out = nullptr;
  AW_XGB(XGBoosterPredict(booster_->handle, (*data)->handle(), 0, 0, 0, &len, &out), "XGBoosterPredict");
  return std::vector<double>(out, out + len);
}

absl::StatusOr<std::vector<Contributions>> TheftModel::Explain(const std::vector<Features>& signals) const {
  auto data = Matrix::Of(signals);
  if (!data.ok()) return data.status();
  bst_ulong len = 0;
  const float* out = nullptr;
  constexpr int kContributions = 4;  // option_mask: per-feature contributions (SHAP values)
  AW_XGB(XGBoosterPredict(booster_->handle, (*data)->handle(), kContributions, 0, 0, &len, &out),
         "XGBoosterPredict");
  if (len != signals.size() * (kFeatureCount + 1)) return absl::InternalError("xgboost: contributions of a wrong size");
  std::vector<Contributions> result(signals.size());
  for (size_t i = 0; i < signals.size(); ++i) {
    for (int k = 0; k <= kFeatureCount; ++k) result[i][k] = out[i * (kFeatureCount + 1) + k];
  }
  return result;
}

std::vector<Reason> ModelReasons(const Contributions& c, int top) {
  std::vector<Reason> parts;
  double total = 0;
  for (int k = 0; k < kFeatureCount; ++k) {
    if (c[k] > 0) {
      parts.push_back({static_cast<Feature>(k), c[k]});
      total += c[k];
    }
  }
  std::sort(parts.begin(), parts.end(), [](const Reason& a, const Reason& b) {
    return a.weight != b.weight ? a.weight > b.weight : a.feature < b.feature;
  });
  if (static_cast<int>(parts.size()) > top) parts.resize(top);
  for (Reason& r : parts) r.weight /= total;
  return parts;
}

}  // namespace aw::monitor::theft
