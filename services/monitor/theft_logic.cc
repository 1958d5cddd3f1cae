#include "services/monitor/theft_logic.h"

#include <algorithm>
#include <cstdint>
#include <map>
#include <numeric>
#include <thread>
#include <utility>

namespace aw::monitor::theft {
namespace {

double Clamp01(double v) { return std::isnan(v) ? 0 : std::clamp(v, 0.0, 1.0); }

// The median of `v` (reordered); NaN when empty.
double Median(std::vector<double>& v) {
  if (v.empty()) return std::nan("");
  const size_t mid = v.size() / 2;
  std::nth_element(v.begin(), v.begin() + static_cast<long>(mid), v.end());
  double m = v[mid];
  if (v.size() % 2 == 0) m = (m + *std::max_element(v.begin(), v.begin() + static_cast<long>(mid))) / 2;
  return m;
}

// Median and scaled median absolute deviation of the finite values of `v`.
struct Robust {
  double median = 0, spread = 1;
  double Z(double x) const { return (x - median) / spread; }
};
Robust RobustOf(std::vector<double> v) {
  v.erase(std::remove_if(v.begin(), v.end(), [](double x) { return !std::isfinite(x); }), v.end());
  Robust r;
  if (v.empty()) return r;
  r.median = Median(v);
  for (double& x : v) x = std::abs(x - r.median);
  r.spread = std::max(1.4826 * Median(v), 1e-6 + 0.05 * std::abs(r.median));
  return r;
}

// What one customer's series shows before it is set against its peers.
struct Raw {
  double mean = 0;        // of the observed days
  double drop = 0;        // largest sustained fall of its peer-relative level
  double zero_share = 0;  // near-zero days after it became active
  double shape = 0;       // correlation with the peers' profile
  double erratic = 0;     // spread of its log peer-relative level
  double recent_cv = 0;   // variation over the last third
  double missing_recent = 0, missing_all = 0;
};

constexpr int kBlockDays = 30;
constexpr int kMinBlockValues = 10;

Raw RawOf(const std::vector<float>& x, const std::vector<double>& profile) {
  Raw raw;
  const size_t n = x.size();
  double sum = 0;
  int observed = 0;
  size_t first_active = n;
  for (size_t t = 0; t < n; ++t) {
    if (IsMissing(x[t])) continue;
    sum += x[t];
    ++observed;
    if (x[t] > 0 && first_active == n) first_active = t;
  }
  raw.missing_all = n == 0 ? 0 : 1.0 - static_cast<double>(observed) / static_cast<double>(n);
  if (observed == 0) return raw;
  raw.mean = sum / observed;

  // Peer-relative level r = x / (mean · profile): the season and weekday removed.
  std::vector<double> r(n, std::nan(""));
  double sx = 0, sp = 0, sxx = 0, spp = 0, sxp = 0, sl = 0, sll = 0;
  int paired = 0, logs = 0, zeros = 0, active = 0;
  for (size_t t = 0; t < n; ++t) {
    if (IsMissing(x[t])) continue;
    if (t >= first_active) {
      ++active;
      if (x[t] <= 0.05 * raw.mean) ++zeros;
    }
    const double p = profile[t];
    if (!(p > 0) || raw.mean <= 0) continue;
    r[t] = x[t] / (raw.mean * p);
    sx += x[t];
    sp += p;
    sxx += static_cast<double>(x[t]) * x[t];
    spp += p * p;
    sxp += x[t] * p;
    ++paired;
    if (r[t] > 0) {
      const double l = std::log(r[t]);
      sl += l;
      sll += l * l;
      ++logs;
    }
  }
  raw.zero_share = active == 0 ? 0 : static_cast<double>(zeros) / active;
  if (paired > 2) {
    const double cov = sxp / paired - (sx / paired) * (sp / paired);
    const double vx = sxx / paired - (sx / paired) * (sx / paired);
    const double vp = spp / paired - (sp / paired) * (sp / paired);
    raw.shape = vx > 1e-12 && vp > 1e-12 ? cov / std::sqrt(vx * vp) : 0;
  }
  if (logs > 2) raw.erratic = std::sqrt(std::max(0.0, sll / logs - (sl / logs) * (sl / logs)));

  // Block medians of r; the largest fall from the blocks before a split to the blocks after.
  std::vector<double> blocks, scratch;
  for (size_t b = 0; b < n; b += kBlockDays) {
    scratch.clear();
    for (size_t t = b; t < std::min(n, b + kBlockDays); ++t) {
      if (!std::isnan(r[t])) scratch.push_back(r[t]);
    }
    if (static_cast<int>(scratch.size()) >= kMinBlockValues) blocks.push_back(Median(scratch));
  }
  for (size_t k = 2; k + 2 <= blocks.size(); ++k) {
    std::vector<double> before(blocks.begin(), blocks.begin() + static_cast<long>(k));
    std::vector<double> after(blocks.begin() + static_cast<long>(k), blocks.end());
    const double b = Median(before), a = Median(after);
    if (b > 0) raw.drop = std::max(raw.drop, 1 - a / b);
  }

  // The last third: how much it varies, how much of it is missing.
  const size_t from = n - n / 3;
  double rs = 0, rss = 0;
  int rn = 0, rmissing = 0;
  for (size_t t = from; t < n; ++t) {
    if (IsMissing(x[t])) {
      ++rmissing;
      continue;
    }
    rs += x[t];
    rss += static_cast<double>(x[t]) * x[t];
    ++rn;
  }
  raw.missing_recent = n - from == 0 ? 0 : static_cast<double>(rmissing) / static_cast<double>(n - from);
  if (rn > 2 && rs > 0) {
    const double m = rs / rn;
    raw.recent_cv = std::sqrt(std::max(0.0, rss / rn - m * m)) / m;
  }
  return raw;
}

// The peers' profile: per day, the median of the members' values over their
// own means (at most 400 members, evenly spread, make it). 1 where no one has
// a value.
std::vector<double> ProfileOf(const std::vector<Customer>& customers, const std::vector<size_t>& members,
                              const std::vector<double>& means, size_t days) {
  const size_t step = std::max<size_t>(1, members.size() / 400);
  std::vector<double> profile(days, 1.0), values;
  for (size_t t = 0; t < days; ++t) {
    values.clear();
    for (size_t i = 0; i < members.size(); i += step) {
      const size_t m = members[i];
      const float v = customers[m].daily[t];
      if (!IsMissing(v) && means[m] > 0) values.push_back(v / means[m]);
    }
    if (!values.empty()) profile[t] = Median(values);
  }
  return profile;
}

double SimpleMean(const std::vector<float>& x) {
  double s = 0;
  int n = 0;
  for (float v : x) {
    if (!IsMissing(v)) {
      s += v;
      ++n;
    }
  }
  return n == 0 ? 0 : s / n;
}

}  // namespace

const char* FeatureCode(Feature f) {
  static const char* const kCodes[] = {"SUSTAINED_DROP", "ZERO_DAYS",      "BELOW_PEERS",          "SHAPE_MISMATCH",
                                       "ERRATIC",        "FLAT",           "LOW_LOAD_FACTOR",      "BILLED_BELOW_METERED",
                                       "METER_EVENTS",   "MISSING_PATTERN"};
  return kCodes[f];
}

const char* FeatureName(Feature f) {
  static const char* const kNames[] = {"用电量持续下降", "零电量天数多", "远低于同类用户", "用电规律与同类不符",
                                       "日电量异常波动", "近期电量异常平稳", "负荷率远低于合同容量",
                                       "抄见电量低于计量电量", "电能表异常事件", "近期数据缺失增多"};
  return kNames[f];
}

// Runs fn(0) … fn(n − 1) on `threads` threads (static chunks).
template <typename Fn>
void ParallelFor(size_t n, int threads, Fn fn) {
  const size_t parts = std::max<size_t>(1, std::min<size_t>(static_cast<size_t>(std::max(threads, 1)), n / 64 + 1));
  if (parts == 1) {
    for (size_t i = 0; i < n; ++i) fn(i);
    return;
  }
  std::vector<std::thread> helpers;
  const size_t chunk = (n + parts - 1) / parts;
  for (size_t p = 1; p < parts; ++p) {
    helpers.emplace_back([&, p] {
      for (size_t i = p * chunk; i < std::min(n, (p + 1) * chunk); ++i) fn(i);
    });
  }
  for (size_t i = 0; i < std::min(n, chunk); ++i) fn(i);
  for (std::thread& t : helpers) t.join();
}

std::vector<Features> ComputeFeatures(const std::vector<Customer>& customers, std::vector<Features>* signals,
                                      int threads) {
  std::vector<Features> out(customers.size());
  if (signals != nullptr) signals->assign(customers.size(), Features{});
  if (customers.empty()) return out;
  const size_t days = customers[0].daily.size();
  std::map<std::pair<std::string, std::string>, std::vector<size_t>> groups;
  for (size_t i = 0; i < customers.size(); ++i) groups[{customers[i].station, customers[i].category}].push_back(i);
  std::vector<double> means(customers.size());
  ParallelFor(customers.size(), threads, [&](size_t i) { means[i] = SimpleMean(customers[i].daily); });

  // Each group's daily profile, then every customer against its group's in
  // one pass over all of them (one set of threads, however many groups).
  std::vector<std::vector<double>> profiles;
  std::vector<size_t> group_of(customers.size());
  for (const auto& [key, members] : groups) {
    for (size_t m : members) group_of[m] = profiles.size();
    profiles.push_back(ProfileOf(customers, members, means, days));
  }
  std::vector<Raw> all_raws(customers.size());
  ParallelFor(customers.size(), threads,
              [&](size_t i) { all_raws[i] = RawOf(customers[i].daily, profiles[group_of[i]]); });

  for (const auto& [key, members] : groups) {
    std::vector<Raw> raws;
    raws.reserve(members.size());
    for (size_t m : members) raws.push_back(all_raws[m]);
    std::vector<double> level, shape, erratic, cv, load;
    for (size_t j = 0; j < members.size(); ++j) {
      const Customer& c = customers[members[j]];
      level.push_back(raws[j].mean);
      shape.push_back(raws[j].shape);
      erratic.push_back(raws[j].erratic);
      cv.push_back(raws[j].recent_cv);
      load.push_back(c.contract_kva > 0 ? raws[j].mean / (c.contract_kva * 24) : std::nan(""));
    }
    const Robust level_r = RobustOf(level), shape_r = RobustOf(shape), erratic_r = RobustOf(erratic),
                 cv_r = RobustOf(cv), load_r = RobustOf(load);
    for (size_t j = 0; j < members.size(); ++j) {
      const Customer& c = customers[members[j]];
      const Raw& raw = raws[j];
      const double nan = std::nan("");
      Features g{};  // the evidence, unmapped
      g[kSustainedDrop] = raw.drop;
      g[kZeroDays] = raw.zero_share;
      g[kBelowPeers] = level_r.median > 0 ? raw.mean / level_r.median : nan;
      g[kShapeMismatch] = -shape_r.Z(raw.shape);
      g[kErratic] = erratic_r.Z(raw.erratic);
      g[kFlat] = cv_r.median > 0 && raw.mean > 0 ? raw.recent_cv / cv_r.median : nan;
      g[kLowLoadFactor] = c.contract_kva > 0 && load_r.median > 0 ? raw.mean / (c.contract_kva * 24) / load_r.median : nan;
      g[kBilledBelowMetered] = c.metered_kwh > 0 && c.billed_kwh > 0 ? (c.metered_kwh - c.billed_kwh) / c.metered_kwh : nan;
      g[kMeterEvents] = 2.0 * c.events.cover_open + 2.0 * c.events.reverse_energy + c.events.phase_loss +
                        c.events.current_imbalance + c.events.clock_reset;
      g[kMissingPattern] = raw.missing_recent - raw.missing_all;
      Features& f = out[members[j]];
      f[kSustainedDrop] = Clamp01((g[kSustainedDrop] - 0.2) / 0.5);
      f[kZeroDays] = Clamp01((g[kZeroDays] - 0.05) / 0.25);
      f[kBelowPeers] = Clamp01((0.35 - g[kBelowPeers]) / 0.3);
      f[kShapeMismatch] = Clamp01((g[kShapeMismatch] - 2) / 4);
      f[kErratic] = Clamp01((g[kErratic] - 2) / 4);
      f[kFlat] = std::isnan(g[kFlat]) ? 0 : Clamp01(1 - g[kFlat] / 0.35);
      f[kLowLoadFactor] = Clamp01((0.3 - g[kLowLoadFactor]) / 0.3);
      f[kBilledBelowMetered] = Clamp01(g[kBilledBelowMetered] / 0.2);
      f[kMeterEvents] = 1 - std::exp(-g[kMeterEvents] / 2);
      f[kMissingPattern] = Clamp01((g[kMissingPattern] - 0.1) / 0.3);
      if (signals != nullptr) (*signals)[members[j]] = g;
    }
  }
  return out;
}

Weights DefaultWeights() {
  Weights w{};
  w[kSustainedDrop] = 3;
  w[kZeroDays] = 2;
  w[kBelowPeers] = 1;
  w[kShapeMismatch] = 2;
  w[kErratic] = 2;
  w[kFlat] = 3;
  w[kLowLoadFactor] = 0.5;
  w[kBilledBelowMetered] = 3;
  w[kMeterEvents] = 2;
  w[kMissingPattern] = 0.5;
  return w;
}

Scored TransparentScore(const Features& f, const Weights& w, int top) {
  Scored s;
  double total = 0;
  std::vector<Reason> parts;
  for (int i = 0; i < kFeatureCount; ++i) {
    const double part = w[i] * f[i];
    total += part;
    if (part > 0) parts.push_back({static_cast<Feature>(i), part});
  }
  s.score = 1 - std::exp(-total);
  std::sort(parts.begin(), parts.end(), [](const Reason& a, const Reason& b) {
    return a.weight != b.weight ? a.weight > b.weight : a.feature < b.feature;
  });
  for (int i = 0; i < static_cast<int>(parts.size()) && i < top; ++i) {
    s.reasons.push_back({parts[i].feature, parts[i].weight / total});
  }
  return s;
}

int LevelOf(double score, const std::array<double, 3>& cutoffs) {
  for (int i = 0; i < 3; ++i) {
    if (score >= cutoffs[i]) return i + 1;
  }
  return 4;
}

bool HeldBack(const std::string& customer_id, int percent) {
  // FNV-1a: the same split on every machine and in every release.
  uint64_t h = 1469598103934665603ULL;
  for (unsigned char c : customer_id) {
    h ^= c;
    h *= 1099511628211ULL;
  }
  return static_cast<int>(h % 100) < percent;
}

Choice ChooseModel(const std::vector<double>& champion, const std::vector<double>& challenger,
                   const std::vector<int>& labels, int min_labels, double margin) {
  Choice c;
  c.held_back = static_cast<int>(labels.size());
  const long thefts = std::count(labels.begin(), labels.end(), 1);
  if (c.held_back < min_labels || thefts == 0 || thefts == c.held_back) {
    c.why = "too few held-back outcomes of both kinds to judge a model";
    return c;
  }
  c.champion_auc = Auc(champion, labels);
  c.challenger_auc = Auc(challenger, labels);
  c.challenger_wins = c.challenger_auc > c.champion_auc + margin;
  c.why = c.challenger_wins ? "the retrained model ranks the held-back outcomes better"
                            : "the retrained model does not rank the held-back outcomes better";
  return c;
}

double Auc(const std::vector<double>& scores, const std::vector<int>& labels) {
  std::vector<size_t> order(scores.size());
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return scores[a] < scores[b]; });
  // Mann–Whitney: the mean rank of the thieves, ties sharing their ranks.
  double rank_sum = 0;
  long positives = 0;
  for (size_t i = 0; i < order.size();) {
    size_t j = i;
    while (j < order.size() && scores[order[j]] == scores[order[i]]) ++j;
    const double rank = (static_cast<double>(i) + static_cast<double>(j) + 1) / 2;  // 1-based mean rank
    for (size_t k = i; k < j; ++k) {
      if (labels[order[k]] == 1) {
        rank_sum += rank;
        ++positives;
      }
    }
    i = j;
  }
  const long negatives = static_cast<long>(scores.size()) - positives;
  if (positives == 0 || negatives == 0) return std::nan("");
  return (rank_sum - static_cast<double>(positives) * (positives + 1) / 2) / (static_cast<double>(positives) * negatives);
}

double MapAt(const std::vector<double>& scores, const std::vector<int>& labels, int n) {
  std::vector<size_t> order(scores.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return scores[a] > scores[b]; });
  double sum = 0;
  int hits = 0;
  for (int i = 0; i < n && i < static_cast<int>(order.size()); ++i) {
    if (labels[order[i]] == 1) {
      ++hits;
      sum += static_cast<double>(hits) / (i + 1);
    }
  }
  return hits == 0 ? 0 : sum / hits;
}

}  // namespace aw::monitor::theft
