#include "services/monitor/theft_logic.h"

#include <catch2/catch.hpp>
#include <cstdint>

namespace aw::monitor::theft {
namespace {

constexpr int kDays = 420;
constexpr int kFrom = 210;  // the day an attack starts

// A deterministic stream of numbers in [0, 1).
struct Lcg {
  uint64_t state;
  double Next() {
    state = state * 6364136223846793005ULL + 1442695040888963407ULL;
    return static_cast<double>(state >> 11) / static_cast<double>(1ULL << 53);
  }
};

// A quiet customer: a weekly and a seasonal pattern shared with its peers, its
// own level and ±10 % of noise.
std::vector<float> Quiet(double level, uint64_t seed) {
  Lcg rng{seed};
  std::vector<float> x(kDays);
  for (int t = 0; t < kDays; ++t) {
    const double weekly = t % 7 >= 5 ? 1.2 : 0.95;
    const double seasonal = 1 + 0.3 * std::cos(2 * 3.14159265 * t / 365.0);
    x[t] = static_cast<float>(level * weekly * seasonal * (0.9 + 0.2 * rng.Next()));
  }
  return x;
}

// Thirty quiet peers and the customer under test (the last one).
std::vector<Customer> Group(const Customer& subject) {
  std::vector<Customer> all;
  for (int i = 0; i < 30; ++i) {
    Customer c;
    c.id = "peer" + std::to_string(i);
    c.station = "S1";
    c.category = "residential";
    c.contract_kva = 2;
    c.daily = Quiet(10 + i % 7, 100 + i);
    all.push_back(c);
  }
  all.push_back(subject);
  return all;
}

Customer Subject(std::vector<float> daily) {
  Customer c;
  c.id = "subject";
  c.station = "S1";
  c.category = "residential";
  c.contract_kva = 2;
  c.daily = std::move(daily);
  return c;
}

Features FeaturesOf(const Customer& subject) { return ComputeFeatures(Group(subject)).back(); }

double Score(const Features& f) { return TransparentScore(f, DefaultWeights()).score; }

TEST_CASE("A quiet customer scores low on every feature", "[theft]") {
  const Features f = FeaturesOf(Subject(Quiet(12, 7)));
  for (int i = 0; i < kFeatureCount; ++i) {
    INFO(FeatureCode(static_cast<Feature>(i)));
    CHECK(f[i] < 0.05);
  }
  CHECK(Score(f) < 0.2);
  CHECK(LevelOf(Score(f), kDefaultCutoffs) == 4);
}

TEST_CASE("Each attack of Jokar et al. shows in its feature and makes a suspect", "[theft]") {
  const std::vector<float> clean = Quiet(12, 7);
  auto attacked = [&](auto fn) {
    std::vector<float> x = clean;
    double mean = 0;
    for (int t = kFrom; t < kDays; ++t) mean += clean[t];
    mean /= kDays - kFrom;
    Lcg rng{99};
    for (int t = kFrom; t < kDays; ++t) x[t] = static_cast<float>(fn(t, mean, rng));
    return FeaturesOf(Subject(x));
  };
  SECTION("h1: a constant share of the consumption, a lasting drop") {
    const Features f = attacked([&](int t, double, Lcg&) { return 0.3 * clean[t]; });
    CHECK(f[kSustainedDrop] == 1.0);  // a 70 % drop: (0.7 − 0.2) / 0.5, capped
    CHECK(Score(f) > 0.9);
    CHECK(TransparentScore(f, DefaultWeights()).reasons[0].feature == kSustainedDrop);
  }
  SECTION("h2: nothing reported for a stretch") {
    const Features f = attacked([&](int t, double, Lcg&) { return t < kFrom + 120 ? 0.0 : clean[t]; });
    // 120 zero days of 420: (0.286 − 0.05) / 0.25.
    CHECK(f[kZeroDays] == Approx((120.0 / 420 - 0.05) / 0.25));
    CHECK(LevelOf(Score(f), kDefaultCutoffs) <= 2);
  }
  SECTION("h3: a random share each day") {
    const Features f = attacked([&](int t, double, Lcg& r) { return (0.1 + 0.7 * r.Next()) * clean[t]; });
    CHECK(f[kErratic] > 0.9);
    CHECK(f[kSustainedDrop] > 0.5);
    CHECK(LevelOf(Score(f), kDefaultCutoffs) == 1);
  }
  SECTION("h4: a random share of the mean each day") {
    const Features f = attacked([&](int, double mean, Lcg& r) { return (0.1 + 0.7 * r.Next()) * mean; });
    CHECK(f[kErratic] > 0.9);
    CHECK(f[kShapeMismatch] > 0.5);
    CHECK(LevelOf(Score(f), kDefaultCutoffs) == 1);
  }
  SECTION("h5: the mean every day") {
    const Features f = attacked([&](int, double mean, Lcg&) { return mean; });
    CHECK(f[kFlat] == 1.0);
    CHECK(f[kSustainedDrop] < 0.3);  // the total is kept
    CHECK(LevelOf(Score(f), kDefaultCutoffs) == 1);
  }
  SECTION("h6: the days in reverse order") {
    const Features f = attacked([&](int t, double, Lcg&) { return clean[kDays - 1 - (t - kFrom)]; });
    CHECK(f[kShapeMismatch] > 0.5);
    CHECK(LevelOf(Score(f), kDefaultCutoffs) <= 3);
  }
}

TEST_CASE("Billing, meter events, capacity and missing data are evidence too", "[theft]") {
  Customer c = Subject(Quiet(12, 7));
  c.metered_kwh = 1000;
  c.billed_kwh = 800;  // 20 % short: full weight
  c.events.cover_open = 1;
  Features f = FeaturesOf(c);
  CHECK(f[kBilledBelowMetered] == 1.0);
  CHECK(f[kMeterEvents] == Approx(1 - std::exp(-1.0)));
  c.billed_kwh = 950;
  CHECK(FeaturesOf(c)[kBilledBelowMetered] == Approx(0.25));

  Customer big = Subject(Quiet(12, 7));
  big.contract_kva = 60;  // thirty times the peers' capacity for the same use
  CHECK(FeaturesOf(big)[kLowLoadFactor] > 0.85);  // about a thirtieth of the peers' load factor

  Customer gaps = Subject(Quiet(12, 7));
  for (int t = kDays - kDays / 3; t < kDays; t += 2) gaps.daily[t] = kMissing;  // half the last third
  const Features g = FeaturesOf(gaps);
  // Recent 0.5, overall 1/6: (0.5 − 0.167 − 0.1) / 0.3.
  CHECK(g[kMissingPattern] == Approx((0.5 - 70.0 / 420 - 0.1) / 0.3).epsilon(0.01));
  CHECK(g[kSustainedDrop] < 0.05);  // missing values are not low values
}

TEST_CASE("The transparent score adds weighted evidence, names its heaviest reasons and maps to levels", "[theft]") {
  Features f{};
  f[kSustainedDrop] = 0.5;  // 3 × 0.5
  f[kMeterEvents] = 0.25;   // 2 × 0.25
  f[kBelowPeers] = 0.5;     // 1 × 0.5
  const Scored s = TransparentScore(f, DefaultWeights(), 2);
  CHECK(s.score == Approx(1 - std::exp(-2.5)));
  REQUIRE(s.reasons.size() == 2);
  CHECK(s.reasons[0].feature == kSustainedDrop);
  CHECK(s.reasons[0].weight == Approx(1.5 / 2.5));
  CHECK(s.reasons[1].feature == kBelowPeers);  // a tie with METER_EVENTS goes to the lower feature
  CHECK(TransparentScore(Features{}, DefaultWeights()).score == 0);
  CHECK(TransparentScore(Features{}, DefaultWeights()).reasons.empty());
  CHECK(LevelOf(0.9, kDefaultCutoffs) == 1);
  CHECK(LevelOf(0.8999, kDefaultCutoffs) == 2);
  CHECK(LevelOf(0.75, kDefaultCutoffs) == 2);
  CHECK(LevelOf(0.5, kDefaultCutoffs) == 3);
  CHECK(LevelOf(0.49, kDefaultCutoffs) == 4);
  CHECK(std::string(FeatureCode(kBilledBelowMetered)) == "BILLED_BELOW_METERED");
}

TEST_CASE("AUC and MAP@N as computed by hand", "[theft]") {
  // Ranked: 0.9 (thief), 0.8, 0.7 (thief), 0.6, 0.5 (thief).
  const std::vector<double> scores = {0.5, 0.9, 0.6, 0.7, 0.8};
  const std::vector<int> labels = {1, 1, 0, 1, 0};
  // Pairs thief > honest: 0.9 beats both, 0.7 beats 0.6, 0.5 beats none: 3 of 6.
  CHECK(Auc(scores, labels) == Approx(0.5));
  // Thieves at ranks 1 and 3 of the top 3: (1/1 + 2/3) / 2.
  CHECK(MapAt(scores, labels, 3) == Approx((1.0 + 2.0 / 3) / 2));
  CHECK(MapAt(scores, labels, 5) == Approx((1.0 + 2.0 / 3 + 3.0 / 5) / 3));
  CHECK(MapAt(scores, {0, 0, 0, 0, 0}, 3) == 0);
  CHECK(Auc({0.2, 0.2}, {1, 0}) == Approx(0.5));  // a tie counts half
  CHECK(std::isnan(Auc({0.1}, {1})));
}

TEST_CASE("A retrained model replaces the one in use only when it ranks enough held-back outcomes better",
          "[theft]") {
  // The held-back share is stable and near the asked percentage.
  int held = 0;
  for (int i = 0; i < 10000; ++i) held += HeldBack("C" + std::to_string(i)) ? 1 : 0;
  CHECK(held > 2700);
  CHECK(held < 3300);
  CHECK(HeldBack("C42") == HeldBack("C42"));
  CHECK_FALSE(HeldBack("C42", 0));

  std::vector<int> labels;
  std::vector<double> good, bad;
  for (int i = 0; i < 40; ++i) {
    labels.push_back(i % 4 == 0 ? 1 : 0);
    good.push_back(labels.back() == 1 ? 0.9 : 0.1);  // separates them
    bad.push_back(0.5);                             // knows nothing
  }
  const Choice better = ChooseModel(bad, good, labels);
  CHECK(better.challenger_wins);
  CHECK(better.challenger_auc == 1.0);
  CHECK(better.champion_auc == 0.5);
  CHECK(better.held_back == 40);
  const Choice worse = ChooseModel(good, bad, labels);
  CHECK_FALSE(worse.challenger_wins);
  CHECK(worse.why == "the retrained model does not rank the held-back outcomes better");
  CHECK_FALSE(ChooseModel(good, good, labels).challenger_wins);  // equal is not better
  const std::vector<int> few(labels.begin(), labels.begin() + 20);
  const Choice early = ChooseModel(std::vector<double>(bad.begin(), bad.begin() + 20),
                                   std::vector<double>(good.begin(), good.begin() + 20), few);
  CHECK_FALSE(early.challenger_wins);
  CHECK(early.why == "too few held-back outcomes of both kinds to judge a model");
}

TEST_CASE("Features are the same whichever number of threads computes them", "[theft]") {
  std::vector<Customer> all;
  for (int i = 0; i < 400; ++i) {
    Customer c;
    c.id = "c" + std::to_string(i);
    c.station = i % 2 == 0 ? "S1" : "S2";
    c.category = "residential";
    c.contract_kva = 2;
    c.daily = Quiet(5 + i % 11, 7 + i);
    if (i % 17 == 0) {
      for (int t = kDays / 2; t < kDays; ++t) c.daily[t] *= 0.2f;  // a drop, so that features differ
    }
    all.push_back(std::move(c));
  }
  std::vector<Features> one_signals, three_signals;
  const std::vector<Features> one = ComputeFeatures(all, &one_signals, 1);
  const std::vector<Features> three = ComputeFeatures(all, &three_signals, 3);
  REQUIRE(one.size() == 400);
  CHECK(one == three);
  for (size_t i = 0; i < one_signals.size(); ++i) {
    for (int f = 0; f < kFeatureCount; ++f) {
      const double a = one_signals[i][f], b = three_signals[i][f];
      CHECK(((std::isnan(a) && std::isnan(b)) || a == b));
    }
  }
  CHECK(one[0][kSustainedDrop] > 0.5);
  CHECK(one[1][kSustainedDrop] == 0);
}

}  // namespace
}  // namespace aw::monitor::theft
