#include "services/awctl/theft_synthetic.h"

#include <csv.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <numeric>
#include <random>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace aw::demo {
namespace {

constexpr double kPi = 3.14159265358979323846;

struct CategoryShape {
  const char* name;
  double share, median_kwh, level_sigma, noise_sigma;
  double weekday[7];  // Monday first
  double summer, winter;  // seasonal amplitudes
};

const CategoryShape kCategories[] = {
    {"residential", 0.7, 8, 0.6, 0.25, {0.95, 0.95, 0.95, 0.95, 1.0, 1.15, 1.15}, 0.30, 0.15},
    {"commercial", 0.2, 60, 0.8, 0.15, {1.1, 1.1, 1.1, 1.1, 1.1, 0.7, 0.5}, 0.25, 0.05},
    {"industrial", 0.1, 400, 1.0, 0.12, {1.05, 1.05, 1.05, 1.05, 1.05, 0.85, 0.6}, 0.05, 0.0},
};

void Append(std::string* out, const std::string& field) {
  std::string quoted(field.size() * 2 + 2, '\0');
  quoted.resize(csv_write(quoted.data(), quoted.size(), field.data(), field.size()));
  out->append(quoted);
}

}  // namespace

TheftData GenerateTheftData(const TheftDataOptions& o) {
  std::mt19937_64 rng(o.seed);
  std::uniform_real_distribution<double> u(0, 1);
  std::normal_distribution<double> normal(0, 1);
  TheftData data;
  data.first_day = o.first_day;
  data.customers.resize(o.customers);
  const int n = o.days;
  std::vector<double> clean(n);
  for (int c = 0; c < o.customers; ++c) {
    SyntheticCustomer& cu = data.customers[c];
    cu.id = absl::StrFormat("%016X", rng());
    cu.station = absl::StrFormat("S%02d", static_cast<int>(u(rng) * 40));
    const double pick = u(rng);
    const CategoryShape& cat = pick < kCategories[0].share                           ? kCategories[0]
                               : pick < kCategories[0].share + kCategories[1].share ? kCategories[1]
                                                                                    : kCategories[2];
    cu.category = cat.name;
    const double level = cat.median_kwh * std::exp(cat.level_sigma * normal(rng));
    cu.contract_kva = level / 24 / (0.2 + 0.4 * u(rng));  // a load factor of 20–60 %
    const double seasonal = 0.5 + u(rng), weekly = 0.5 + u(rng);
    const double drift = 0.15 * normal(rng);
    const double phase = 20 * normal(rng);
    for (int t = 0; t < n; ++t) {
      const absl::CivilDay day = o.first_day + t;
      const int doy = static_cast<int>(absl::GetYearDay(day));
      const int wd = static_cast<int>(absl::GetWeekday(day));  // Monday = 0
      double f = 1 + seasonal * (cat.summer * std::cos(2 * kPi * (doy - 205 - phase) / 365.0) +
                                 cat.winter * std::cos(4 * kPi * (doy - 15 - phase) / 365.0));
      f *= 1 + weekly * (cat.weekday[wd] - 1);
      if (cat.name == std::string("industrial") && doy >= 25 && doy <= 40) f *= 0.5;  // the Spring Festival
      f *= 1 + drift * t / n;
      clean[t] = std::max(0.0, level * f * std::exp(cat.noise_sigma * normal(rng)));
    }
    // Honest irregularities: a vacancy, a lasting change of level.
    if (cu.category == std::string("residential") && u(rng) < 0.06) {
      const int len = 7 + static_cast<int>(u(rng) * 40), from = static_cast<int>(u(rng) * (n - len));
      for (int t = from; t < from + len; ++t) clean[t] *= 0.03 * u(rng);
    }
    if (u(rng) < 0.04) {
      const int from = static_cast<int>(u(rng) * n);
      const double factor = 0.6 + 0.8 * u(rng);
      for (int t = from; t < n; ++t) clean[t] *= factor;
    }
    // The attack, from a random day to the end.
    std::vector<double> x = clean;
    if (u(rng) < o.theft_share) {
      cu.attack = 1 + static_cast<int>(u(rng) * 6);
      const int from = static_cast<int>((o.attack_from + (o.attack_to - o.attack_from) * u(rng)) * n);
      double mean = 0;
      for (int t = from; t < n; ++t) mean += clean[t];
      mean /= (n - from);
      switch (cu.attack) {
        case 1: {
          const double a = 0.1 + 0.7 * u(rng);
          for (int t = from; t < n; ++t) x[t] = a * clean[t];
          break;
        }
        case 2: {
          const int to = from + 30 + static_cast<int>(u(rng) * (n - from - 30));
          for (int t = from; t < std::min(to, n); ++t) x[t] = 0;
          break;
        }
        case 3:
          for (int t = from; t < n; ++t) x[t] = (0.1 + 0.7 * u(rng)) * clean[t];
          break;
        case 4:
          for (int t = from; t < n; ++t) x[t] = (0.1 + 0.7 * u(rng)) * mean;
          break;
        case 5:
          for (int t = from; t < n; ++t) x[t] = mean;
          break;
        case 6:
          for (int t = from; t < n; ++t) x[t] = clean[n - 1 - (t - from)];
          break;
      }
    }
    // Missing cells: some customers lose many, most a few.
    const double rate = std::min(0.9, o.missing_share * 2 * u(rng));
    cu.daily.resize(n);
    for (int t = 0; t < n; ++t) {
      cu.daily[t] = u(rng) < rate ? std::numeric_limits<float>::quiet_NaN() : static_cast<float>(x[t]);
    }
  }
  return data;
}

void WriteSgcc(const TheftData& data, uint64_t seed, std::ostream& out) {
  const int n = data.customers.empty() ? 0 : static_cast<int>(data.customers[0].daily.size());
  std::vector<int> order(n);
  std::iota(order.begin(), order.end(), 0);
  std::mt19937_64 rng(seed);
  std::shuffle(order.begin(), order.end(), rng);
  std::string line;
  Append(&line, "CONS_NO");
  line += ',';
  Append(&line, "FLAG");
  for (int t : order) {
    const absl::CivilDay d = data.first_day + t;
    line += ',';
    Append(&line, absl::StrCat(d.year(), "/", d.month(), "/", d.day()));
  }
  line += '\n';
  out << line;
  char number[32];
  for (const SyntheticCustomer& c : data.customers) {
    line.clear();
    Append(&line, c.id);
    line += ',';
    Append(&line, c.attack > 0 ? "1" : "0");
    for (int t : order) {
      line += ',';
      const float v = c.daily[t];
      if (std::isnan(v)) continue;
      const auto [end, ec] = std::to_chars(number, number + sizeof number, std::round(v * 100) / 100);
      Append(&line, std::string(number, end));
    }
    line += '\n';
    out << line;
  }
}

}  // namespace aw::demo
