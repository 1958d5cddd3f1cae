#include "services/awctl/synthetic.h"

#include <cmath>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace aw::demo {
namespace {

namespace v1 = ::auditwatch::v1;

// SplitMix64: a tiny generator whose output is the same everywhere (the
// standard library's distributions are not).
class Rng {
 public:
  explicit Rng(uint64_t seed) : state_(seed) {}
  uint64_t Next() {
    uint64_t z = (state_ += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
  }
  double Uniform() { return static_cast<double>(Next() >> 11) * 0x1.0p-53; }
  int Between(int lo, int hi) { return lo + static_cast<int>(Next() % (hi - lo + 1)); }
  double Normal() {
    const double u1 = std::max(Uniform(), 1e-12), u2 = Uniform();
    return std::sqrt(-2 * std::log(u1)) * std::cos(2 * M_PI * u2);
  }

 private:
  uint64_t state_;
};

constexpr const char* kCities[21] = {"广州", "深圳", "珠海", "汕头", "佛山", "韶关", "河源",
                                     "梅州", "惠州", "汕尾", "东莞", "中山", "江门", "阳江",
                                     "湛江", "茂名", "肇庆", "清远", "潮州", "揭阳", "云浮"};

// Which units report an indicator.
enum class Reporters { kLine, kStations, kCustomerService, kMetering };

struct IndicatorSpec {
  const char* code;
  const char* name_zh;
  const char* name_en;
  v1::BusinessCategory category;
  const char* unit;
  v1::Direction direction;
  double min, max;     // valid range
  double mean, spread; // of a typical unit's monthly value
  v1::RollupRule rollup;
  bool seasonal;
  Reporters reporters;
};

using C = v1::BusinessCategory;
constexpr auto kUp = v1::DIRECTION_HIGHER_IS_BETTER;
constexpr auto kDown = v1::DIRECTION_LOWER_IS_BETTER;
constexpr auto kNone = v1::ROLLUP_RULE_NONE;
constexpr auto kSum = v1::ROLLUP_RULE_SUM;
constexpr auto kMax = v1::ROLLUP_RULE_MAX;

const IndicatorSpec kSpecs[] = {
    // 电量电费 billing
    {"BIL-01", "电费回收率", "Electricity fee recovery rate", C::BUSINESS_CATEGORY_BILLING, "%", kUp, 0, 100, 99.2, 0.6, kNone, false, Reporters::kLine},
    {"BIL-02", "抄表准确率", "Meter reading accuracy", C::BUSINESS_CATEGORY_BILLING, "%", kUp, 0, 100, 99.5, 0.4, kNone, false, Reporters::kLine},
    {"BIL-03", "自动抄表成功率", "Automatic meter reading success rate", C::BUSINESS_CATEGORY_BILLING, "%", kUp, 0, 100, 98.6, 1.0, kNone, false, Reporters::kLine},
    {"BIL-04", "核算差错率", "Billing calculation error rate", C::BUSINESS_CATEGORY_BILLING, "%", kDown, 0, 100, 0.05, 0.04, kNone, false, Reporters::kLine},
    {"BIL-05", "电费差错笔数", "Billing errors", C::BUSINESS_CATEGORY_BILLING, "件", kDown, 0, 100000, 3, 2, kSum, false, Reporters::kLine},
    {"BIL-06", "售电量", "Electricity sold", C::BUSINESS_CATEGORY_BILLING, "万kWh", kUp, 0, 1e9, 5200, 900, kSum, true, Reporters::kLine},
    {"BIL-07", "电费欠费余额", "Outstanding electricity fees", C::BUSINESS_CATEGORY_BILLING, "万元", kDown, 0, 1e9, 35, 20, kNone, false, Reporters::kLine},
    {"BIL-08", "电价执行准确率", "Tariff application accuracy", C::BUSINESS_CATEGORY_BILLING, "%", kUp, 0, 100, 99.8, 0.2, kNone, false, Reporters::kLine},
    {"BIL-09", "退补电费笔数", "Fee refunds and back-charges", C::BUSINESS_CATEGORY_BILLING, "件", kDown, 0, 100000, 6, 4, kSum, false, Reporters::kLine},
    {"BIL-10", "电子化缴费率", "Electronic payment rate", C::BUSINESS_CATEGORY_BILLING, "%", kUp, 0, 100, 88, 5, kNone, false, Reporters::kLine},
    // 业扩 business expansion
    {"BEX-01", "业扩报装平均时长", "Average new-connection time", C::BUSINESS_CATEGORY_BUSINESS_EXPANSION, "天", kDown, 0, 365, 18, 5, kNone, false, Reporters::kLine},
    {"BEX-02", "业扩时限达标率", "New-connection deadline compliance", C::BUSINESS_CATEGORY_BUSINESS_EXPANSION, "%", kUp, 0, 100, 96, 3, kNone, false, Reporters::kLine},
    {"BEX-03", "业扩工单数", "New-connection orders", C::BUSINESS_CATEGORY_BUSINESS_EXPANSION, "件", kUp, 0, 1e6, 140, 40, kSum, true, Reporters::kLine},
    {"BEX-04", "业扩超时工单数", "Overdue new-connection orders", C::BUSINESS_CATEGORY_BUSINESS_EXPANSION, "件", kDown, 0, 1e6, 4, 3, kSum, false, Reporters::kLine},
    {"BEX-05", "新装容量", "Newly connected capacity", C::BUSINESS_CATEGORY_BUSINESS_EXPANSION, "kVA", kUp, 0, 1e9, 8200, 2500, kSum, true, Reporters::kLine},
    {"BEX-06", "供电方案答复及时率", "Supply plan reply timeliness", C::BUSINESS_CATEGORY_BUSINESS_EXPANSION, "%", kUp, 0, 100, 97, 2.5, kNone, false, Reporters::kLine},
    {"BEX-07", "装表接电及时率", "Metering and connection timeliness", C::BUSINESS_CATEGORY_BUSINESS_EXPANSION, "%", kUp, 0, 100, 97.5, 2, kNone, false, Reporters::kLine},
    {"BEX-08", "业扩资料归档完整率", "New-connection file completeness", C::BUSINESS_CATEGORY_BUSINESS_EXPANSION, "%", kUp, 0, 100, 95, 4, kNone, false, Reporters::kLine},
    // 客户服务 customer service
    {"CS-01", "客户满意率", "Customer satisfaction", C::BUSINESS_CATEGORY_CUSTOMER_SERVICE, "%", kUp, 0, 100, 96, 2, kNone, false, Reporters::kLine},
    {"CS-02", "投诉件数", "Complaints", C::BUSINESS_CATEGORY_CUSTOMER_SERVICE, "件", kDown, 0, 1e6, 5, 4, kSum, false, Reporters::kLine},
    {"CS-03", "百万户投诉率", "Complaints per million customers", C::BUSINESS_CATEGORY_CUSTOMER_SERVICE, "件/百万户", kDown, 0, 1e6, 12, 6, kNone, false, Reporters::kLine},
    {"CS-04", "工单回访率", "Order follow-up rate", C::BUSINESS_CATEGORY_CUSTOMER_SERVICE, "%", kUp, 0, 100, 98, 1.5, kNone, false, Reporters::kLine},
    {"CS-05", "95598工单及时处理率", "95598 order timeliness", C::BUSINESS_CATEGORY_CUSTOMER_SERVICE, "%", kUp, 0, 100, 98.5, 1.2, kNone, false, Reporters::kLine},
    {"CS-06", "95598话务接通率", "95598 call answer rate", C::BUSINESS_CATEGORY_CUSTOMER_SERVICE, "%", kUp, 0, 100, 95, 2.5, kNone, false, Reporters::kCustomerService},
    {"CS-07", "95598平均应答时长", "95598 average answer time", C::BUSINESS_CATEGORY_CUSTOMER_SERVICE, "秒", kDown, 0, 3600, 14, 5, kNone, false, Reporters::kCustomerService},
    {"CS-08", "95598受理工单数", "95598 orders received", C::BUSINESS_CATEGORY_CUSTOMER_SERVICE, "件", kUp, 0, 1e7, 52000, 9000, kSum, true, Reporters::kCustomerService},
    {"CS-09", "重复来电率", "Repeat call rate", C::BUSINESS_CATEGORY_CUSTOMER_SERVICE, "%", kDown, 0, 100, 6, 2, kNone, false, Reporters::kCustomerService},
    {"CS-10", "意见工单办结率", "Opinion order closure rate", C::BUSINESS_CATEGORY_CUSTOMER_SERVICE, "%", kUp, 0, 100, 97, 2, kNone, false, Reporters::kLine},
    {"CS-11", "营业厅服务规范率", "Service hall conduct compliance", C::BUSINESS_CATEGORY_CUSTOMER_SERVICE, "%", kUp, 0, 100, 97, 2.5, kNone, false, Reporters::kLine},
    // 计量 metering
    {"MET-01", "计量装置故障处理及时率", "Metering fault handling timeliness", C::BUSINESS_CATEGORY_METERING, "%", kUp, 0, 100, 97, 2, kNone, false, Reporters::kLine},
    {"MET-02", "电能表轮换率", "Meter rotation rate", C::BUSINESS_CATEGORY_METERING, "%", kUp, 0, 100, 93, 5, kNone, false, Reporters::kLine},
    {"MET-03", "计量差错笔数", "Metering errors", C::BUSINESS_CATEGORY_METERING, "件", kDown, 0, 1e6, 2, 2, kSum, false, Reporters::kLine},
    {"MET-04", "计量装置在线率", "Metering devices online", C::BUSINESS_CATEGORY_METERING, "%", kUp, 0, 100, 99, 0.8, kNone, false, Reporters::kLine},
    {"MET-05", "采集成功率", "Data collection success rate", C::BUSINESS_CATEGORY_METERING, "%", kUp, 0, 100, 99.1, 0.7, kNone, false, Reporters::kLine},
    {"MET-06", "检定合格率", "Verification pass rate", C::BUSINESS_CATEGORY_METERING, "%", kUp, 0, 100, 99.3, 0.5, kNone, false, Reporters::kMetering},
    {"MET-07", "周期检定完成率", "Periodic verification completion", C::BUSINESS_CATEGORY_METERING, "%", kUp, 0, 100, 96, 3, kNone, false, Reporters::kMetering},
    {"MET-08", "计量资产差错率", "Metering asset record error rate", C::BUSINESS_CATEGORY_METERING, "%", kDown, 0, 100, 0.4, 0.3, kNone, false, Reporters::kMetering},
    {"MET-09", "表计配送及时率", "Meter delivery timeliness", C::BUSINESS_CATEGORY_METERING, "%", kUp, 0, 100, 98, 1.5, kNone, false, Reporters::kMetering},
    // 线损 line loss
    {"LL-01", "综合线损率", "Overall line loss rate", C::BUSINESS_CATEGORY_LINE_LOSS, "%", kDown, -20, 100, 5.8, 1.2, kNone, true, Reporters::kLine},
    {"LL-02", "台区线损合格率", "Transformer-area loss compliance", C::BUSINESS_CATEGORY_LINE_LOSS, "%", kUp, 0, 100, 92, 4, kNone, false, Reporters::kLine},
    {"LL-03", "高损台区数", "High-loss transformer areas", C::BUSINESS_CATEGORY_LINE_LOSS, "个", kDown, 0, 1e6, 6, 4, kMax, false, Reporters::kLine},
    {"LL-04", "负损台区数", "Negative-loss transformer areas", C::BUSINESS_CATEGORY_LINE_LOSS, "个", kDown, 0, 1e6, 2, 2, kMax, false, Reporters::kLine},
    {"LL-05", "10kV线路线损率", "10 kV feeder loss rate", C::BUSINESS_CATEGORY_LINE_LOSS, "%", kDown, -20, 100, 4.2, 1.0, kNone, true, Reporters::kLine},
    {"LL-06", "供电量", "Electricity supplied", C::BUSINESS_CATEGORY_LINE_LOSS, "万kWh", kUp, 0, 1e9, 5500, 950, kSum, true, Reporters::kLine},
    // 用电检查 inspection
    {"INS-01", "用电检查计划完成率", "Inspection plan completion", C::BUSINESS_CATEGORY_INSPECTION, "%", kUp, 0, 100, 95, 4, kNone, false, Reporters::kLine},
    {"INS-02", "查处窃电户数", "Electricity theft cases found", C::BUSINESS_CATEGORY_INSPECTION, "户", kUp, 0, 1e6, 3, 2, kSum, false, Reporters::kLine},
    {"INS-03", "追补电费", "Back-charged fees recovered", C::BUSINESS_CATEGORY_INSPECTION, "万元", kUp, 0, 1e9, 12, 8, kSum, false, Reporters::kLine},
    {"INS-04", "违约用电处理及时率", "Contract violation handling timeliness", C::BUSINESS_CATEGORY_INSPECTION, "%", kUp, 0, 100, 96, 3, kNone, false, Reporters::kLine},
    {"INS-05", "安全隐患整改率", "Safety hazard rectification rate", C::BUSINESS_CATEGORY_INSPECTION, "%", kUp, 0, 100, 94, 4, kNone, false, Reporters::kLine},
    {"INS-06", "重要客户检查覆盖率", "Key customer inspection coverage", C::BUSINESS_CATEGORY_INSPECTION, "%", kUp, 0, 100, 97, 2.5, kNone, false, Reporters::kLine},
    // 停电 outage
    {"OUT-01", "供电可靠率", "Supply reliability (RS-1)", C::BUSINESS_CATEGORY_OUTAGE, "%", kUp, 0, 100, 99.95, 0.03, kNone, false, Reporters::kLine},
    {"OUT-02", "户均停电时间", "Average outage duration per customer", C::BUSINESS_CATEGORY_OUTAGE, "小时", kDown, 0, 8760, 0.45, 0.2, kSum, true, Reporters::kLine},
    {"OUT-03", "停电信息发布及时率", "Outage notice timeliness", C::BUSINESS_CATEGORY_OUTAGE, "%", kUp, 0, 100, 98, 1.5, kNone, false, Reporters::kLine},
    {"OUT-04", "计划停电执行率", "Planned outage execution rate", C::BUSINESS_CATEGORY_OUTAGE, "%", kUp, 0, 100, 95, 3, kNone, false, Reporters::kLine},
    {"OUT-05", "故障抢修平均到达时间", "Average fault repair arrival time", C::BUSINESS_CATEGORY_OUTAGE, "分钟", kDown, 0, 1440, 38, 10, kNone, false, Reporters::kLine},
    {"OUT-06", "频繁停电户数", "Customers with frequent outages", C::BUSINESS_CATEGORY_OUTAGE, "户", kDown, 0, 1e7, 9, 6, kMax, false, Reporters::kLine},
    // 营销管理 marketing management
    {"MKT-01", "营销档案完整率", "Customer file completeness", C::BUSINESS_CATEGORY_MARKETING_MANAGEMENT, "%", kUp, 0, 100, 97, 2, kNone, false, Reporters::kLine},
    {"MKT-02", "稽查问题整改率", "Audit finding rectification rate", C::BUSINESS_CATEGORY_MARKETING_MANAGEMENT, "%", kUp, 0, 100, 93, 5, kNone, false, Reporters::kLine},
    {"MKT-03", "营销差错件数", "Marketing errors", C::BUSINESS_CATEGORY_MARKETING_MANAGEMENT, "件", kDown, 0, 1e6, 2, 2, kSum, false, Reporters::kLine},
    {"MKT-04", "电子渠道业务办理率", "Online channel usage", C::BUSINESS_CATEGORY_MARKETING_MANAGEMENT, "%", kUp, 0, 100, 72, 8, kNone, false, Reporters::kLine},
};

std::string Month(int year, int m) { return absl::StrFormat("%04d-%02d", year, m); }

}  // namespace

SyntheticProvince::SyntheticProvince(uint64_t seed, int year, bool yearly_noise)
    : seed_(seed), year_(year), yearly_noise_(yearly_noise) {
  Rng rng(seed);
  const std::string from = absl::StrFormat("%04d-01-01", year);
  auto add = [&](std::string code, std::string name, v1::UnitType type, std::string parent) {
    v1::CreateUnitRequest u;
    u.set_code(std::move(code));
    u.set_name(std::move(name));
    u.set_type(type);
    u.set_parent_code(std::move(parent));
    u.set_effective_from(from);
    u.set_actor("synthetic");
    u.set_reason("synthetic province");
    units_.push_back(std::move(u));
    double q = rng.Normal();
    if (rng.Uniform() < 0.05) q = -2.5 - rng.Uniform();  // a deliberately weak unit
    unit_quality_.push_back(q);
    if (q < -2.4) weak_.push_back(units_.back().code());
  };
  add("P", "省电网公司", v1::UNIT_TYPE_PROVINCE, "");
  add("P-AC", "稽查监控中心", v1::UNIT_TYPE_AUDIT_CENTRE, "P");
  add("P-CS", "客户服务中心", v1::UNIT_TYPE_CUSTOMER_SERVICE_CENTRE, "P");
  add("P-MC", "计量中心", v1::UNIT_TYPE_METERING_CENTRE, "P");
  int stations = 0;
  for (int c = 0; c < 21; ++c) {
    const std::string city = absl::StrFormat("C%02d", c + 1);
    add(city, absl::StrCat(kCities[c], "供电局"), v1::UNIT_TYPE_CITY_BUREAU, "P");
    const int districts = c < 15 ? 6 : 5;  // 21 cities → 120 districts and counties
    for (int d = 0; d < districts; ++d) {
      const std::string district = absl::StrFormat("%s-D%02d", city, d + 1);
      const bool county = d >= districts / 2;
      add(district, absl::StrCat(kCities[c], county ? "县供电公司" : "区供电局", d + 1),
          county ? v1::UNIT_TYPE_COUNTY_COMPANY : v1::UNIT_TYPE_DISTRICT_BUREAU, city);
      const int n = rng.Between(10, 15);
      for (int s = 0; s < n && stations < 1500; ++s, ++stations) {
        add(absl::StrFormat("%s-S%02d", district, s + 1),
            absl::StrCat(kCities[c], d + 1, "区", s + 1, "号供电所"), v1::UNIT_TYPE_SUPPLY_STATION,
            district);
      }
    }
  }
  for (const IndicatorSpec& s : kSpecs) {
    v1::Indicator i;
    i.set_code(s.code);
    i.set_name_zh(s.name_zh);
    i.set_name_en(s.name_en);
    i.set_category(s.category);
    i.set_unit_of_measure(s.unit);
    i.set_kind(s.reporters == Reporters::kLine ? v1::INDICATOR_KIND_SYSTEM : v1::INDICATOR_KIND_MANUAL);
    i.set_direction(s.direction);
    i.add_allowed_period_types(v1::PERIOD_TYPE_MONTH);
    i.add_allowed_period_types(v1::PERIOD_TYPE_QUARTER);
    i.add_allowed_period_types(v1::PERIOD_TYPE_HALF_YEAR);
    i.add_allowed_period_types(v1::PERIOD_TYPE_YEAR);
    i.set_min_value(s.min);
    // Volumes of the province and city bureaus are sums over many stations.
    const bool volume = s.rollup == v1::ROLLUP_RULE_SUM || s.rollup == v1::ROLLUP_RULE_MAX;
    i.set_max_value(volume ? std::max(s.max, 1e10) : s.max);
    switch (s.reporters) {
      case Reporters::kLine:
        for (auto t : {v1::UNIT_TYPE_PROVINCE, v1::UNIT_TYPE_CITY_BUREAU, v1::UNIT_TYPE_DISTRICT_BUREAU,
                       v1::UNIT_TYPE_COUNTY_COMPANY, v1::UNIT_TYPE_SUPPLY_STATION}) {
          i.add_applicable_unit_types(t);
        }
        break;
      case Reporters::kStations:
        i.add_applicable_unit_types(v1::UNIT_TYPE_SUPPLY_STATION);
        break;
      case Reporters::kCustomerService:
        i.add_applicable_unit_types(v1::UNIT_TYPE_CUSTOMER_SERVICE_CENTRE);
        break;
      case Reporters::kMetering:
        i.add_applicable_unit_types(v1::UNIT_TYPE_METERING_CENTRE);
        break;
    }
    i.set_rollup(s.rollup);
    i.set_deadline_days(s.reporters == Reporters::kLine ? 5 : 10);
    i.set_enabled(true);
    i.set_effective_year(year);
    i.set_description(absl::StrCat(s.name_zh, " (", s.name_en, ")"));
    indicators_.push_back(std::move(i));
  }
}

void SyntheticProvince::ForEachBatch(
    int batch_size, const std::function<bool(v1::ReadingBatch&)>& emit) const {
  v1::ReadingBatch batch;
  int batch_no = 0;
  auto flush = [&]() -> bool {
    if (batch.rows_size() == 0) return true;
    batch.set_batch_id(absl::StrFormat("synthetic-%d-%d-%06d", seed_, year_, batch_no++));
    batch.set_source("synthetic");
    const bool more = emit(batch);
    batch.Clear();
    return more;
  };
  auto row = [&](const std::string& unit, const v1::Indicator& ind, v1::PeriodType type,
                 const std::string& key, double value) -> bool {
    v1::ReadingInput* r = batch.add_rows();
    r->set_unit_code(unit);
    r->set_indicator_code(ind.code());
    r->mutable_period()->set_type(type);
    r->mutable_period()->set_key(key);
    r->set_value(value);
    r->set_entered_by("synthetic");
    return batch.rows_size() < batch_size || flush();
  };
  for (size_t u = 0; u < units_.size(); ++u) {
    const v1::CreateUnitRequest& unit = units_[u];
    Rng rng(seed_ * 1000003 + u + (yearly_noise_ ? static_cast<uint64_t>(year_) * 0x9E3779B97F4A7C15ULL : 0));
    for (size_t k = 0; k < indicators_.size(); ++k) {
      const v1::Indicator& ind = indicators_[k];
      const IndicatorSpec& spec = kSpecs[k];
      if (std::find(ind.applicable_unit_types().begin(), ind.applicable_unit_types().end(),
                    unit.type()) == ind.applicable_unit_types().end()) {
        continue;
      }
      // Volumes scale with the unit's size; rates do not.
      double scale = 1;
      if (spec.rollup == v1::ROLLUP_RULE_SUM || spec.rollup == v1::ROLLUP_RULE_MAX) {
        switch (unit.type()) {
          case v1::UNIT_TYPE_PROVINCE: scale = 1500; break;
          case v1::UNIT_TYPE_CITY_BUREAU: scale = 70; break;
          case v1::UNIT_TYPE_DISTRICT_BUREAU:
          case v1::UNIT_TYPE_COUNTY_COMPANY: scale = 12; break;
          default: break;
        }
      }
      const double sign = spec.direction == v1::DIRECTION_HIGHER_IS_BETTER ? 1 : -1;
      const double bias = 0.6 * unit_quality_[u] + 0.2 * rng.Normal();
      double months[12];
      for (int m = 0; m < 12; ++m) {
        const double season = spec.seasonal ? 0.18 * std::sin(2 * M_PI * (m - 3) / 12.0) : 0;
        double v = spec.mean * (1 + season) + spec.spread * (sign * bias + 0.5 * rng.Normal());
        v = std::clamp(v * scale, spec.min, spec.max);
        months[m] = std::round(v * 100) / 100;
        if (!row(unit.code(), ind, v1::PERIOD_TYPE_MONTH, Month(year_, m + 1), months[m])) return;
      }
      // Half-year and year values are reported on their own (rates are not averages).
      for (int h = 0; h < 2; ++h) {
        double v = 0;
        for (int m = 6 * h; m < 6 * h + 6; ++m) v += months[m];
        if (spec.rollup == v1::ROLLUP_RULE_MAX) {
          v = *std::max_element(months + 6 * h, months + 6 * h + 6);
        } else if (spec.rollup != v1::ROLLUP_RULE_SUM) {
          v = std::clamp(v / 6 + 0.1 * spec.spread * rng.Normal(), spec.min, spec.max);
        }
        if (!row(unit.code(), ind, v1::PERIOD_TYPE_HALF_YEAR, absl::StrCat(year_, "-H", h + 1),
                 std::round(v * 100) / 100)) {
          return;
        }
      }
      double year_value = 0;
      for (double m : months) year_value += m;
      if (spec.rollup == v1::ROLLUP_RULE_MAX) {
        year_value = *std::max_element(months, months + 12);
      } else if (spec.rollup != v1::ROLLUP_RULE_SUM) {
        year_value = std::clamp(year_value / 12 + 0.05 * spec.spread * rng.Normal(), spec.min, spec.max);
      }
      if (!row(unit.code(), ind, v1::PERIOD_TYPE_YEAR, absl::StrCat(year_), std::round(year_value * 100) / 100)) {
        return;
      }
    }
  }
  flush();
}

std::vector<SyntheticProvince::Profile> SyntheticProvince::profiles() const {
  std::vector<Profile> out;
  for (const IndicatorSpec& s : kSpecs) out.push_back({s.code, s.mean, s.spread});
  return out;
}

int64_t SyntheticProvince::reading_count() const {
  int64_t n = 0;
  for (const auto& unit : units_) {
    for (const auto& ind : indicators_) {
      if (std::find(ind.applicable_unit_types().begin(), ind.applicable_unit_types().end(),
                    unit.type()) != ind.applicable_unit_types().end()) {
        n += 15;
      }
    }
  }
  return n;
}

CatalogueLoad LoadCatalogue(v1::IngestService::Stub& ingest, const SyntheticProvince& province,
                            const std::string& actor) {
  CatalogueLoad out;
  for (const v1::CreateUnitRequest& u : province.units()) {
    v1::CreateUnitRequest req = u;
    req.set_actor(actor);
    grpc::ClientContext ctx;
    v1::Unit unit;
    const grpc::Status s = ingest.CreateUnit(&ctx, req, &unit);
    if (s.ok()) {
      ++out.units_created;
    } else if (s.error_code() == grpc::StatusCode::ALREADY_EXISTS) {
      ++out.units_existing;
    } else {
      out.status = grpc::Status(s.error_code(), absl::StrCat("CreateUnit ", u.code(), ": ", s.error_message()));
      return out;
    }
  }
  for (const v1::Indicator& i : province.indicators()) {
    v1::UpsertIndicatorRequest req;
    *req.mutable_indicator() = i;
    req.set_actor(actor);
    req.set_reason("synthetic catalogue");
    grpc::ClientContext ctx;
    v1::Indicator indicator;
    const grpc::Status s = ingest.UpsertIndicator(&ctx, req, &indicator);
    if (!s.ok()) {
      out.status = grpc::Status(s.error_code(), absl::StrCat("UpsertIndicator ", i.code(), ": ", s.error_message()));
      return out;
    }
    ++out.indicators;
  }
  return out;
}

}  // namespace aw::demo
