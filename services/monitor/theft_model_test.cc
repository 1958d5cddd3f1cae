#include "services/monitor/theft_model.h"

#include <catch2/catch.hpp>
#include <cstdint>

namespace aw::monitor::theft {
namespace {

// Rows whose label follows one signal (a drop above 0.5), with another signal
// that is noise and some values unknown.
void Data(int n, uint64_t seed, std::vector<Features>* x, std::vector<int>* y) {
  uint64_t s = seed;
  auto next = [&] {
    s = s * 6364136223846793005ULL + 1442695040888963407ULL;
    return static_cast<double>(s >> 11) / static_cast<double>(1ULL << 53);
  };
  for (int i = 0; i < n; ++i) {
    Features f{};
    f[kSustainedDrop] = next();
    f[kErratic] = next() * 4;
    f[kBilledBelowMetered] = i % 3 == 0 ? std::nan("") : next() * 0.1;
    x->push_back(f);
    y->push_back(f[kSustainedDrop] > 0.5 ? 1 : 0);
  }
}

TEST_CASE("The model learns a rule from labelled outcomes, explains itself by the feature that carries it, and "
          "saves and loads to the same predictions",
          "[theft]") {
  std::vector<Features> x, test;
  std::vector<int> y, test_y;
  Data(600, 1, &x, &y);
  Data(300, 2, &test, &test_y);
  auto model = TheftModel::Train(x, y, {.rounds = 40, .threads = 1});
  REQUIRE(model.ok());
  auto p = model->Predict(test);
  REQUIRE(p.ok());
  REQUIRE(p->size() == 300);
  CHECK(Auc(*p, test_y) > 0.99);
  auto explained = model->Explain(test);
  REQUIRE(explained.ok());
  int by_drop = 0, thieves = 0;
  for (size_t i = 0; i < test.size(); ++i) {
    double sum = 0;
    for (double c : (*explained)[i]) sum += c;
    // Contributions and bias add up to the log-odds of the prediction.
    CHECK(sum == Approx(std::log((*p)[i] / (1 - (*p)[i]))).margin(1e-3));
    if (test_y[i] == 1) {
      ++thieves;
      const auto reasons = ModelReasons((*explained)[i]);
      if (!reasons.empty() && reasons[0].feature == kSustainedDrop) ++by_drop;
    }
  }
  CHECK(by_drop == thieves);
  auto bytes = model->Save();
  REQUIRE(bytes.ok());
  auto loaded = TheftModel::Load(*bytes);
  REQUIRE(loaded.ok());
  CHECK(*loaded->Predict(test) == *p);
  CHECK(TheftModel::Train(x, std::vector<int>(x.size(), 0), {}).status().code() ==
        absl::StatusCode::kInvalidArgument);
  CHECK(TheftModel::Load("not a model").status().code() == absl::StatusCode::kInternal);
}

TEST_CASE("A model's reasons are the features that raised its verdict, by their share", "[theft]") {
  Contributions c{};
  c[kFlat] = 1.5;
  c[kSustainedDrop] = 0.5;
  c[kErratic] = -2;  // lowered it: not a reason
  c[kFeatureCount] = -3;  // the bias
  const auto reasons = ModelReasons(c);
  REQUIRE(reasons.size() == 2);
  CHECK(reasons[0].feature == kFlat);
  CHECK(reasons[0].weight == Approx(0.75));
  CHECK(reasons[1].feature == kSustainedDrop);
  CHECK(reasons[1].weight == Approx(0.25));
}

}  // namespace
}  // namespace aw::monitor::theft
