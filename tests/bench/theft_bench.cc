// Theft-suspicion harness. Prints figures; it is not a test.
//
// Quality: customers from this project's generator (tests/bench/
// theft_synthetic: weekday and seasonal profiles by category, honest
// irregularities, the six attacks of Jokar et al. on 8.5 % of them, a quarter
// of the cells missing), written in the SGCC CSV layout and read back as a
// utility would load that file; a held-out set from another seed is ranked
// by the transparent score, and AUC, MAP@100 and MAP@200 are printed beside
// the figures published on the real SGCC data — which are other data.
//
// Speed: an SGCC-sized file (42,372 customers × 1,035 days) read and
// analysed; 200,000 customers × 365 days analysed; the same re-scored after a
// day's new values.
//
//   theft_bench [--customers=10000] [--whole] [--quality] [--file=SGCC.csv]
//   (--whole: attacks over all the days rather than from a day on;
//    --quality: no speed figures; --file: judge a file in the SGCC layout
//    instead of the generator's, its odd rows held out)
#include <chrono>
#include <cstdio>
#include <fstream>
#include <map>
#include <sstream>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "services/awctl/sgcc_csv.h"
#include "services/monitor/theft_logic.h"
#include "services/monitor/theft_model.h"
#include "services/awctl/theft_synthetic.h"

namespace {

namespace theft = aw::monitor::theft;

template <typename Fn>
double Seconds(Fn fn) {
  const absl::Time t0 = absl::Now();
  fn();
  return absl::ToDoubleSeconds(absl::Now() - t0);
}

std::vector<theft::Customer> FromTable(const aw::awctl::SgccTable& table, std::vector<int>* labels) {
  std::vector<theft::Customer> out;
  out.reserve(table.rows.size());
  for (const auto& r : table.rows) {
    theft::Customer c;
    c.id = r.customer;
    c.daily = r.daily;
    out.push_back(std::move(c));
    labels->push_back(r.flag);
  }
  return out;
}

std::vector<theft::Customer> FromSynthetic(const aw::demo::TheftData& data, bool with_peers) {
  std::vector<theft::Customer> out;
  out.reserve(data.customers.size());
  for (const auto& s : data.customers) {
    theft::Customer c;
    c.id = s.id;
    if (with_peers) {
      c.station = s.station;
      c.category = s.category;
      c.contract_kva = s.contract_kva;
    }
    c.daily = s.daily;
    out.push_back(std::move(c));
  }
  return out;
}

std::vector<double> Scores(const std::vector<theft::Features>& features) {
  std::vector<double> out;
  out.reserve(features.size());
  const theft::Weights w = theft::DefaultWeights();
  for (const auto& f : features) out.push_back(theft::TransparentScore(f, w).score);
  return out;
}

void Judge(const char* what, const std::vector<double>& scores, const std::vector<int>& labels) {
  std::printf("  %-52s AUC %.3f   MAP@100 %.3f   MAP@200 %.3f\n", what, theft::Auc(scores, labels),
              theft::MapAt(scores, labels, 100), theft::MapAt(scores, labels, 200));
}

// AUC of each attack against all honest customers.
void ByAttack(const std::vector<double>& scores, const aw::demo::TheftData& data) {
  std::printf("  %-52s", "AUC by attack (each against the honest):");
  for (int a = 1; a <= 6; ++a) {
    std::vector<double> s;
    std::vector<int> l;
    for (size_t i = 0; i < scores.size(); ++i) {
      const int attack = data.customers[i].attack;
      if (attack != 0 && attack != a) continue;
      s.push_back(scores[i]);
      l.push_back(attack == a ? 1 : 0);
    }
    std::printf(" h%d %.3f", a, theft::Auc(s, l));
  }
  std::printf("\n");
}

// Trains the model on `train` and ranks `test` by it; prints both measures.
void Model(const char* what, const std::vector<theft::Customer>& train, const std::vector<int>& train_labels,
           const std::vector<theft::Customer>& test, const std::vector<int>& test_labels) {
  std::vector<theft::Features> train_signals, test_signals;
  theft::ComputeFeatures(train, &train_signals);
  theft::ComputeFeatures(test, &test_signals);
  absl::StatusOr<theft::TheftModel> model = absl::UnknownError("not trained");
  const double seconds = Seconds([&] { model = theft::TheftModel::Train(train_signals, train_labels, {}); });
  if (!model.ok()) {
    std::fprintf(stderr, "%s\n", model.status().ToString().c_str());
    return;
  }
  auto p = model->Predict(test_signals);
  if (!p.ok()) return;
  Judge(absl::StrCat(what, " (trained in ", absl::StrFormat("%.1f", seconds), " s)").c_str(), *p, test_labels);
}

std::vector<int> Labels(const aw::demo::TheftData& data) {
  std::vector<int> out;
  for (const auto& c : data.customers) out.push_back(c.attack > 0 ? 1 : 0);
  return out;
}

// The customers of an SGCC file: every customer and its label.
std::vector<theft::Customer> ViaSgcc(const aw::demo::TheftData& data, uint64_t seed, std::vector<int>* labels) {
  std::stringstream csv;
  aw::demo::WriteSgcc(data, seed, csv);
  auto table = aw::awctl::ReadSgcc(csv);
  if (!table.ok() || !table->errors.empty()) std::fprintf(stderr, "the generated file did not read back whole\n");
  return FromTable(*table, labels);
}

int Quality(int customers, bool whole) {
  std::printf("quality: held-out synthetic data (seed 2, %d customers × 1,035 days; the generator's own, not SGCC)%s\n",
              customers, whole ? ", attacks over all the days" : "");
  const double from = whole ? 0 : 0.1, to = whole ? 0 : 0.7;
  const aw::demo::TheftData test = aw::demo::GenerateTheftData(
      {.seed = 2, .customers = customers, .attack_from = from, .attack_to = to});
  std::stringstream csv;
  aw::demo::WriteSgcc(test, 2, csv);
  auto table = aw::awctl::ReadSgcc(csv);
  if (!table.ok()) {
    std::fprintf(stderr, "%s\n", table.status().ToString().c_str());
    return 1;
  }
  std::vector<int> labels;
  const auto from_file = FromTable(*table, &labels);
  int thieves = 0;
  for (int l : labels) thieves += l;
  std::printf("  %d customers, %d thieves (%.1f %%), %zu rows refused\n", static_cast<int>(labels.size()), thieves,
              100.0 * thieves / labels.size(), table->errors.size());
  const std::vector<double> sgcc_scores = Scores(theft::ComputeFeatures(from_file));
  Judge("transparent score, the SGCC file alone", sgcc_scores, labels);
  ByAttack(sgcc_scores, test);
  const std::vector<double> peer_scores = Scores(theft::ComputeFeatures(FromSynthetic(test, true)));
  Judge("transparent score, with stations, categories, capacity", peer_scores, labels);
  ByAttack(peer_scores, test);
  // The model learns from the outcomes of another set (seed 1): as a utility's
  // model learns from past inspections.
  const aw::demo::TheftData train = aw::demo::GenerateTheftData(
      {.seed = 1, .customers = customers, .attack_from = from, .attack_to = to});
  std::vector<int> train_labels;
  const auto train_file = ViaSgcc(train, 1, &train_labels);
  Model("gradient-boosted model, the SGCC file alone", train_file, train_labels, from_file, labels);
  Model("gradient-boosted model, with stations, categories, capacity", FromSynthetic(train, true), Labels(train),
        FromSynthetic(test, true), labels);
  std::printf("  published on the real SGCC data (other data: not comparable figure for figure):\n");
  std::printf("  %-52s AUC 0.781   MAP@100 0.944   MAP@200 0.920\n", "Zheng et al. 2018, wide & deep CNN");
  std::printf("  %-52s AUC 0.926\n", "Finardi et al. 2020, self-attention");
  return 0;
}

int Speed() {
  std::printf("\nspeed (on this machine; one thread)\n");
  const std::string path = "/tmp/aw-sgcc-bench.csv";
  {
    const aw::demo::TheftData big = aw::demo::GenerateTheftData({.seed = 3, .customers = 42372});
    std::ofstream out(path, std::ios::binary);
    aw::demo::WriteSgcc(big, 3, out);
  }
  std::ifstream in(path, std::ios::binary);
  absl::StatusOr<aw::awctl::SgccTable> table;
  const double read = Seconds([&] { table = aw::awctl::ReadSgcc(in); });
  if (!table.ok()) return 1;
  std::vector<int> labels;
  const auto customers = FromTable(*table, &labels);
  std::vector<theft::Features> features;
  const double analyse = Seconds([&] { features = theft::ComputeFeatures(customers); });
  std::vector<double> scores;
  const double score = Seconds([&] { scores = Scores(features); });
  std::printf("  %-52s %7.2f s  (%lld MB)\n", "SGCC-sized file (42,372 × 1,035) read and parsed", read,
              static_cast<long long>(std::ifstream(path, std::ios::ate | std::ios::binary).tellg() >> 20));
  std::printf("  %-52s %7.2f s\n", "  analysed: features", analyse);
  std::printf("  %-52s %7.2f s\n", "  analysed: scores, reasons", score);
  std::remove(path.c_str());

  aw::demo::TheftData wide = aw::demo::GenerateTheftData({.seed = 4, .customers = 200000, .days = 365});
  auto many = FromSynthetic(wide, true);
  const double wide_analyse = Seconds([&] { features = theft::ComputeFeatures(many); });
  const double wide_score = Seconds([&] { scores = Scores(features); });
  std::printf("  %-52s %7.2f s  (+ %.2f s scores)\n", "200,000 × 365 analysed", wide_analyse, wide_score);
  // A day's new values: the window moves on by one day, everything re-scored.
  for (auto& c : many) {
    c.daily.erase(c.daily.begin());
    c.daily.push_back(c.daily.back());
  }
  const double rescore = Seconds([&] { scores = Scores(theft::ComputeFeatures(many)); });
  std::printf("  %-52s %7.2f s\n", "200,000 re-scored after a day's new values", rescore);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  int customers = 10000;
  bool whole = false;
  std::string file;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a.rfind("--customers=", 0) == 0) absl::SimpleAtoi(a.substr(12), &customers);
    if (a.rfind("--file=", 0) == 0) file = a.substr(7);
    if (a == "--whole") whole = true;
  }
  for (int i = 1; i < argc; ++i) {
    if (std::string(argv[i]) == "--quality") return Quality(customers, whole);
  }
  if (!file.empty()) {
    std::ifstream in(file, std::ios::binary);
    auto table = aw::awctl::ReadSgcc(in);
    if (!table.ok()) {
      std::fprintf(stderr, "%s\n", table.status().ToString().c_str());
      return 1;
    }
    std::vector<int> labels;
    const auto customers_of_file = FromTable(*table, &labels);
    std::printf("%s: %zu customers, %zu rows refused\n", file.c_str(), labels.size(), table->errors.size());
    // A held-out split: odd rows are ranked, even rows train the model.
    std::vector<theft::Customer> train, test;
    std::vector<int> train_labels, test_labels;
    for (size_t i = 0; i < customers_of_file.size(); ++i) {
      (i % 2 ? test : train).push_back(customers_of_file[i]);
      (i % 2 ? test_labels : train_labels).push_back(labels[i]);
    }
    Judge("transparent score (odd rows)", Scores(theft::ComputeFeatures(test)), test_labels);
    Model("gradient-boosted model (trained on even rows, ranking odd rows)", train, train_labels, test, test_labels);
    return 0;
  }
  if (Quality(customers, whole) != 0) return 1;
  return Speed();
}
