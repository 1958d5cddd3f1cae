#include "services/report/documents.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <map>
#include <tuple>

#include "absl/strings/str_cat.h"
#include "common/number_text.h"
#include "common/timestamp.h"

namespace aw::report {
namespace {

// --- Building parts -------------------------------------------------------------

struct Column {
  const char* key;
  const char* title;
  v1::ColumnType type;
};

constexpr v1::ColumnType kText = v1::COLUMN_TYPE_TEXT;
constexpr v1::ColumnType kInt = v1::COLUMN_TYPE_INTEGER;
constexpr v1::ColumnType kNum = v1::COLUMN_TYPE_NUMBER;
constexpr v1::ColumnType kPct = v1::COLUMN_TYPE_PERCENT;

v1::ReportPart* AddPart(v1::ReportDocument* doc, std::string id, std::string title,
                        std::initializer_list<Column> columns) {
  v1::ReportPart* part = doc->add_parts();
  part->set_id(std::move(id));
  part->set_title(std::move(title));
  for (const Column& c : columns) {
    v1::ReportColumn* col = part->add_columns();
    col->set_key(c.key);
    col->set_title(c.title);
    col->set_type(c.type);
  }
  return part;
}

// One row, cell by cell in column order.
class RowOut {
 public:
  explicit RowOut(v1::ReportPart* part) : row_(part->add_rows()) {}
  RowOut& Text(std::string text, std::string link = "") {
    v1::ReportCell* c = row_->add_cells();
    c->set_text(std::move(text));
    c->set_link(std::move(link));
    return *this;
  }
  RowOut& Number(double value) {
    row_->add_cells()->set_number(value);
    return *this;
  }
  RowOut& Empty() {
    row_->add_cells();
    return *this;
  }
  RowOut& NumberIf(bool present, double value) { return present ? Number(value) : Empty(); }
  RowOut& Rate(const v1::Rate& rate) { return NumberIf(rate.defined(), rate.value()); }

 private:
  v1::ReportRow* row_;
};

void AddChart(v1::ReportPart* part, v1::ChartType type, std::string title, int category,
              std::initializer_list<int> values, int rows = 0, double gauge_max = 0) {
  v1::ReportChart* chart = part->add_charts();
  chart->set_type(type);
  chart->set_title(std::move(title));
  chart->set_category_column(category);
  for (int v : values) chart->add_value_columns(v);
  chart->set_rows(rows);
  chart->set_gauge_max(gauge_max);
}

v1::ReportDocument Head(const DocumentHead& head, std::string title) {
  v1::ReportDocument doc;
  *doc.mutable_params() = head.params;
  doc.set_title(std::move(title));
  doc.set_scope_name(head.scope_name);
  SetTimestamp(head.as_of, doc.mutable_as_of());
  SetTimestamp(head.generated_at, doc.mutable_generated_at());
  doc.set_generated_by(head.generated_by);
  return doc;
}

const std::string& NameOf(const Names& names, const std::string& code) {
  auto it = names.find(code);
  return it == names.end() ? code : it->second;
}

std::string TimeText(const google::protobuf::Timestamp& t) {
  if (t.seconds() == 0 && t.nanos() == 0) return "";
  return absl::FormatTime("%Y-%m-%d %H:%M", TimeOf(t), absl::UTCTimeZone());
}

std::string LevelName(int level) {
  static const char* const kNames[] = {"", "一级", "二级", "三级", "四级"};
  return level >= 1 && level <= 4 ? kNames[level] : absl::StrCat(level);
}

std::string UnitTypeName(v1::UnitType type) {
  switch (type) {
    case v1::UNIT_TYPE_PROVINCE: return "省公司";
    case v1::UNIT_TYPE_CITY_BUREAU: return "供电局";
    case v1::UNIT_TYPE_DISTRICT_BUREAU: return "区局";
    case v1::UNIT_TYPE_COUNTY_COMPANY: return "县公司";
    case v1::UNIT_TYPE_SUPPLY_STATION: return "供电所";
    case v1::UNIT_TYPE_CUSTOMER_SERVICE_CENTRE: return "客户服务中心";
    case v1::UNIT_TYPE_METERING_CENTRE: return "计量中心";
    case v1::UNIT_TYPE_AUDIT_CENTRE: return "稽查监控中心";
    default: return "单位";
  }
}

std::string WorkOrderStateName(v1::WorkOrderState state) {
  switch (state) {
    case v1::WORK_ORDER_STATE_DRAFT: return "草稿";
    case v1::WORK_ORDER_STATE_DISPATCHED: return "已派发";
    case v1::WORK_ORDER_STATE_RECTIFYING: return "整改中";
    case v1::WORK_ORDER_STATE_SUBMITTED: return "已提交";
    case v1::WORK_ORDER_STATE_UNIT_APPROVED: return "单位已审核";
    case v1::WORK_ORDER_STATE_ARCHIVED: return "已归档";
    case v1::WORK_ORDER_STATE_CANCELLED: return "已撤销";
    case v1::WORK_ORDER_STATE_FALSE_POSITIVE: return "误报";
    default: return "";
  }
}

std::string TaskSourceName(v1::TaskSource source) {
  switch (source) {
    case v1::TASK_SOURCE_WARNING: return "预警";
    case v1::TASK_SOURCE_ROUTINE: return "常态稽查";
    case v1::TASK_SOURCE_ONLINE: return "在线稽查";
    case v1::TASK_SOURCE_SPECIAL_PLAN: return "专项稽查";
    default: return "";
  }
}

// --- Parts shared by the daily and weekly reports -----------------------------------

void AddActivitySummary(v1::ReportDocument* doc, const ActivityData& data) {
  v1::ReportPart* part = AddPart(doc, "summary", "概览", {{"item", "项目", kText}, {"count", "数量", kInt}});
  RowOut(part).Text("新增预警").Number(static_cast<double>(data.events.size()));
  RowOut(part).Text("发起稽查任务").Number(static_cast<double>(data.tasks.size()));
  RowOut(part).Text("派发工单").Number(static_cast<double>(data.orders.size()));
  RowOut(part).Text("超期工单").Number(static_cast<double>(data.overdue.size()));
  RowOut(part).Text("督办中").Number(static_cast<double>(data.supervision.size()));
  AddChart(part, v1::CHART_TYPE_BAR, "稽查概览", 0, {1});
}

void AddLevels(v1::ReportDocument* doc, const std::vector<v1::WarningEvent>& events) {
  int count[5] = {};
  for (const auto& e : events) count[std::clamp(e.level(), 1, 4)]++;
  v1::ReportPart* part =
      AddPart(doc, "levels", "预警等级", {{"level", "等级", kText}, {"events", "预警数", kInt}});
  for (int level = 1; level <= 4; ++level) RowOut(part).Text(LevelName(level)).Number(count[level]);
  AddChart(part, v1::CHART_TYPE_PIE, "预警等级分布", 0, {1});
}

void AddEventList(v1::ReportDocument* doc, const std::vector<v1::WarningEvent>& events, const Names& units,
                  const Names& themes) {
  v1::ReportPart* part = AddPart(doc, "events", "预警明细",
                                 {{"event", "预警编号", kInt},
                                  {"opened_at", "产生时间", kText},
                                  {"unit", "单位编码", kText},
                                  {"unit_name", "单位", kText},
                                  {"theme", "主题", kText},
                                  {"level", "等级", kText},
                                  {"indicator", "指标", kText},
                                  {"period", "期间", kText},
                                  {"observed", "观测值", kNum},
                                  {"threshold", "阈值", kNum},
                                  {"message", "说明", kText}});
  for (const auto& e : events) {
    RowOut(part)
        .Number(static_cast<double>(e.id()))
        .Text(TimeText(e.opened_at()))
        .Text(e.unit_code())
        .Text(NameOf(units, e.unit_code()))
        .Text(NameOf(themes, e.theme_code()))
        .Text(LevelName(e.level()))
        .Text(e.indicator_code())
        .Text(e.period().key())
        .Number(e.observed())
        .Number(e.threshold())
        .Text(e.message());
  }
}

void AddTasks(v1::ReportDocument* doc, const std::vector<v1::AuditTask>& tasks, const Names& themes) {
  v1::ReportPart* part = AddPart(doc, "tasks", "稽查任务",
                                 {{"task", "任务编号", kInt},
                                  {"source", "来源", kText},
                                  {"theme", "主题", kText},
                                  {"title", "标题", kText},
                                  {"unit", "稽查范围", kText},
                                  {"period", "期间", kText},
                                  {"deadline", "期限", kText},
                                  {"owner", "负责人", kText}});
  for (const auto& t : tasks) {
    RowOut(part)
        .Number(static_cast<double>(t.id()))
        .Text(TaskSourceName(t.source()))
        .Text(NameOf(themes, t.theme_code()))
        .Text(t.title())
        .Text(t.scope().unit_code())
        .Text(t.period().key())
        .Text(TimeText(t.deadline()))
        .Text(t.owner());
  }
}

void AddOrders(v1::ReportDocument* doc, std::string id, std::string title, const std::vector<v1::WorkOrder>& orders,
               const Names& units, const Names& themes) {
  v1::ReportPart* part = AddPart(doc, std::move(id), std::move(title),
                                 {{"order", "工单编号", kInt},
                                  {"task", "任务编号", kInt},
                                  {"unit", "单位编码", kText},
                                  {"unit_name", "单位", kText},
                                  {"theme", "主题", kText},
                                  {"state", "状态", kText},
                                  {"deadline", "期限", kText},
                                  {"overdue", "超期", kText}});
  for (const auto& o : orders) {
    RowOut(part)
        .Number(static_cast<double>(o.id()))
        .Number(static_cast<double>(o.task_id()))
        .Text(o.unit_code())
        .Text(NameOf(units, o.unit_code()))
        .Text(NameOf(themes, o.theme_code()))
        .Text(WorkOrderStateName(o.state()))
        .Text(TimeText(o.deadline()))
        .Text(o.overdue() ? "是" : "否");
  }
}

void AddSupervision(v1::ReportDocument* doc, const std::vector<v1::SupervisionOrder>& orders, const Names& units) {
  v1::ReportPart* part = AddPart(doc, "supervision", "督办清单",
                                 {{"supervision", "督办编号", kInt},
                                  {"order", "工单编号", kInt},
                                  {"unit", "单位编码", kText},
                                  {"unit_name", "单位", kText},
                                  {"escalation", "督办级别", kInt},
                                  {"addressed_to", "督办对象", kText},
                                  {"issued_at", "下发时间", kText},
                                  {"reminders", "催办次数", kInt},
                                  {"reason", "原因", kText}});
  for (const auto& s : orders) {
    RowOut(part)
        .Number(static_cast<double>(s.id()))
        .Number(static_cast<double>(s.work_order_id()))
        .Text(s.unit_code())
        .Text(NameOf(units, s.unit_code()))
        .Number(s.escalation())
        .Text(s.addressed_to())
        .Text(TimeText(s.issued_at()))
        .Number(s.reminders())
        .Text(s.reason());
  }
}

void AddRates(v1::ReportDocument* doc, const std::vector<v1::UnitRates>& rates, const Names& units) {
  v1::ReportPart* part = AddPart(doc, "rates", "各单位比率",
                                 {{"unit", "单位编码", kText},
                                  {"unit_name", "单位", kText},
                                  {"initiation", "稽查发起率", kPct},
                                  {"completion", "工单完成率", kPct},
                                  {"rectification", "整改率", kPct},
                                  {"overdue", "超期率", kPct},
                                  {"indicator_change", "异常指标变化率", kPct},
                                  {"cumulative_completion", "累计整改完成率", kPct}});
  part->add_notes("比率为分子/分母；分母为0时不计（留空）。");
  for (const auto& r : rates) {
    RowOut(part)
        .Text(r.unit_code())
        .Text(NameOf(units, r.unit_code()))
        .Rate(r.initiation())
        .Rate(r.completion())
        .Rate(r.rectification())
        .Rate(r.overdue())
        .Rate(r.indicator_change())
        .Rate(r.cumulative_completion());
  }
}

// Counts events per theme and level: theme code → counts of levels 1..4.
std::map<std::string, std::array<int, 5>> ByTheme(const std::vector<v1::WarningEvent>& events) {
  std::map<std::string, std::array<int, 5>> out;
  for (const auto& e : events) out[e.theme_code()][std::clamp(e.level(), 1, 4)]++;
  return out;
}

int Total(const std::array<int, 5>& levels) { return levels[1] + levels[2] + levels[3] + levels[4]; }

void AddThemes(v1::ReportDocument* doc, const std::vector<v1::WarningEvent>& events, const Names& themes) {
  v1::ReportPart* part = AddPart(doc, "themes", "预警主题",
                                 {{"theme", "主题编码", kText},
                                  {"theme_name", "主题", kText},
                                  {"level1", "一级", kInt},
                                  {"level2", "二级", kInt},
                                  {"level3", "三级", kInt},
                                  {"level4", "四级", kInt},
                                  {"events", "合计", kInt}});
  for (const auto& [theme, n] : ByTheme(events)) {
    RowOut(part).Text(theme).Text(NameOf(themes, theme)).Number(n[1]).Number(n[2]).Number(n[3]).Number(n[4]).Number(
        Total(n));
  }
  AddChart(part, v1::CHART_TYPE_BAR, "各主题预警（按等级）", 1, {2, 3, 4, 5});
}

}  // namespace

// --- Documents ----------------------------------------------------------------------------

v1::ReportDocument BuildEvaluation(const DocumentHead& head, const EvaluationData& data) {
  const v1::Evaluation& e = data.evaluation;
  v1::ReportDocument doc = Head(head, absl::StrCat("质量评价报告 ", data.unit_name, " ", e.period().key()));

  v1::ReportPart* summary = AddPart(&doc, "summary", "综合评价", {{"item", "项目", kText}, {"score", "得分", kNum}});
  RowOut(summary).Text("综合得分").Number(e.composite());
  RowOut(summary).Text("主要指标").NumberIf(e.main().present(), e.main().total());
  RowOut(summary).Text("过程指标").NumberIf(e.process().present(), e.process().total());
  RowOut(summary).Text("业务评价").NumberIf(e.business().present(), e.business().total());
  RowOut(summary).Text("直接扣分").Number(e.direct_deductions());
  RowOut(summary).Text("加分").Number(e.bonus());
  summary->add_notes(absl::StrCat("排名 ", e.rank(), " / ", e.ranked(), "（同一上级、同类单位）"));
  summary->add_notes(absl::StrCat("评价方案 ", e.scheme_year(), " 第", e.scheme_version(), "版；评价批次 ", e.run_id(),
                                  e.published() ? "（已发布）" : "（未发布）"));
  if (e.missing_values() > 0) summary->add_notes(absl::StrCat("缺失指标值 ", e.missing_values(), " 个"));
  AddChart(summary, v1::CHART_TYPE_GAUGE, "综合得分", 0, {1}, 1, 100);

  v1::ReportPart* parts = AddPart(&doc, "parts", "分项得分",
                                  {{"part", "分项", kText},
                                   {"total", "得分", kNum},
                                   {"weight", "权重%", kNum},
                                   {"applied_weight", "实际权重%", kNum},
                                   {"contribution", "对综合得分贡献", kNum}});
  const std::pair<const char*, const v1::Part*> kParts[] = {
      {"主要指标", &e.main()}, {"过程指标", &e.process()}, {"业务评价", &e.business()}};
  for (const auto& [name, part] : kParts) {
    if (!part->present()) continue;
    RowOut(parts)
        .Text(name)
        .Number(part->total())
        .Number(part->weight_percent())
        .Number(part->applied_weight_percent())
        .Number(part->total() * part->applied_weight_percent() / 100.0);
  }
  AddChart(parts, v1::CHART_TYPE_BAR, "分项得分", 0, {1});
  AddChart(parts, v1::CHART_TYPE_PIE, "综合得分构成", 0, {4});

  auto indicator_row = [&](v1::ReportPart* part, const v1::IndicatorScore& s) {
    RowOut(part)
        .Text(s.indicator_code())
        .Text(NameOf(data.indicator_names, s.indicator_code()))
        .Text(s.class_() == v1::INDICATOR_CLASS_MAIN ? "主要指标" : "过程指标")
        .NumberIf(!s.missing(), s.value())
        .Number(s.base_value())
        .Number(s.full_score_value())
        .Number(s.points())
        .Number(s.score())
        .Number(s.composite_loss());
  };
  const std::initializer_list<Column> indicator_columns = {
      {"indicator", "指标编码", kText}, {"name", "指标", kText},      {"class", "类别", kText},
      {"value", "指标值", kNum},        {"base", "基准值", kNum},     {"full", "满分值", kNum},
      {"points", "分值", kNum},         {"score", "得分", kNum},      {"loss", "综合失分", kNum}};
  v1::ReportPart* indicators = AddPart(&doc, "indicators", "指标明细", indicator_columns);
  for (const auto& s : e.indicators()) indicator_row(indicators, s);
  AddChart(indicators, v1::CHART_TYPE_BAR, "指标得分与分值", 0, {6, 7});

  v1::ReportPart* deductions = AddPart(&doc, "deductions", "扣分明细",
                                       {{"deduction", "扣分编号", kInt},
                                        {"type", "类型", kText},
                                        {"standard", "扣分标准", kText},
                                        {"points", "扣分", kNum},
                                        {"work_order", "工单编号", kInt},
                                        {"incident", "事件编号", kInt},
                                        {"period", "期间", kText}});
  auto deduction_rows = [&](const auto& refs, const char* type) {
    for (const v1::DeductionRef& d : refs) {
      RowOut(deductions)
          .Number(static_cast<double>(d.deduction_id()))
          .Text(type)
          .Text(d.standard_code())
          .Number(d.points())
          .NumberIf(d.work_order_id() != 0, static_cast<double>(d.work_order_id()))
          .NumberIf(d.incident_id() != 0, static_cast<double>(d.incident_id()))
          .Text(d.period().key());
    }
  };
  deduction_rows(e.business_deductions(), "业务评价扣分");
  deduction_rows(e.direct(), "直接扣分");
  for (const auto& b : e.bonuses()) deductions->add_notes(absl::StrCat("加分 ", b.points(), "：", b.reason()));

  v1::ReportPart* trend = AddPart(&doc, "trend", "年度趋势",
                                  {{"period", "期间", kText},
                                   {"composite", "综合得分", kNum},
                                   {"rank", "排名", kInt},
                                   {"change", "环比变化", kNum}});
  for (const auto& p : data.trend) {
    if (!p.evaluated()) continue;
    RowOut(trend).Text(p.period().key()).Number(p.composite()).Number(p.rank()).Number(p.change());
  }
  AddChart(trend, v1::CHART_TYPE_LINE, "综合得分趋势", 0, {1});

  v1::ReportPart* weakest = AddPart(&doc, "weakest", "短板", indicator_columns);
  for (const auto& s : e.weakest()) indicator_row(weakest, s);
  AddChart(weakest, v1::CHART_TYPE_BAR, "短板指标综合失分", 0, {8});

  v1::ReportPart* forecast = AddPart(&doc, "forecast", "预测",
                                     {{"target", "对象", kText},
                                      {"period", "期间", kText},
                                      {"point", "预测值", kNum},
                                      {"lower", "下限", kNum},
                                      {"upper", "上限", kNum}});
  if (data.forecast) {
    const v1::ForecastResponse& f = *data.forecast;
    auto forecast_row = [&](const std::string& target, const v1::ForecastValue& v) {
      RowOut(forecast).Text(target).Text(f.period().key()).Number(v.point()).Number(v.lower()).Number(v.upper());
    };
    forecast_row("综合得分", f.composite());
    for (const auto& v : f.indicators()) forecast_row(NameOf(data.indicator_names, v.indicator_code()), v);
    forecast->add_notes(absl::StrCat(f.method(), "，", f.interval_percent(), "% 区间，依据 ", f.history(), " 个月"));
  }
  return doc;
}

v1::ReportDocument BuildDaily(const DocumentHead& head, const ActivityData& data, const Names& units,
                              const Names& themes) {
  v1::ReportDocument doc =
      Head(head, absl::StrCat("日稽查报告 ", head.scope_name, " ", head.params.period().key()));
  AddActivitySummary(&doc, data);
  AddLevels(&doc, data.events);
  AddThemes(&doc, data.events, themes);
  AddEventList(&doc, data.events, units, themes);
  AddTasks(&doc, data.tasks, themes);
  AddOrders(&doc, "orders", "派发工单", data.orders, units, themes);
  AddOrders(&doc, "overdue", "超期工单", data.overdue, units, themes);
  AddSupervision(&doc, data.supervision, units);
  return doc;
}

v1::ReportDocument BuildWeekly(const DocumentHead& head, const WeeklyData& data, const Names& units,
                               const Names& themes) {
  v1::ReportDocument doc =
      Head(head, absl::StrCat("周分析报告 ", head.scope_name, " ", head.params.period().key()));
  AddActivitySummary(&doc, data.week);

  auto group_of = [&](const std::string& unit) {
    auto it = data.group_of.find(unit);
    return it == data.group_of.end() ? std::string() : it->second;
  };
  absl::flat_hash_map<std::string, std::pair<int, int>> by_group;  // this week, the week before
  absl::flat_hash_map<std::string, int> severe;                      // levels 1–2 this week
  for (const auto& e : data.week.events) {
    by_group[group_of(e.unit_code())].first++;
    if (e.level() <= 2) severe[group_of(e.unit_code())]++;
  }
  for (const auto& e : data.previous_events) by_group[group_of(e.unit_code())].second++;
  v1::ReportPart* movements = AddPart(&doc, "units", "单位变动",
                                      {{"unit", "单位编码", kText},
                                       {"unit_name", "单位", kText},
                                       {"this_week", "本周预警", kInt},
                                       {"last_week", "上周预警", kInt},
                                       {"change", "变化", kInt},
                                       {"severe", "一二级预警", kInt}});
  for (const std::string& g : data.groups) {
    const auto [now, before] = by_group[g];
    RowOut(movements).Text(g).Text(NameOf(units, g)).Number(now).Number(before).Number(now - before).Number(severe[g]);
  }
  AddChart(movements, v1::CHART_TYPE_BAR, "各单位本周与上周预警", 1, {2, 3});

  std::map<std::string, std::pair<int, int>> by_theme;
  for (const auto& e : data.week.events) by_theme[e.theme_code()].first++;
  for (const auto& e : data.previous_events) by_theme[e.theme_code()].second++;
  v1::ReportPart* theme_part = AddPart(&doc, "themes", "主题变动",
                                       {{"theme", "主题编码", kText},
                                        {"theme_name", "主题", kText},
                                        {"this_week", "本周预警", kInt},
                                        {"last_week", "上周预警", kInt},
                                        {"change", "变化", kInt}});
  for (const auto& [theme, n] : by_theme) {
    RowOut(theme_part).Text(theme).Text(NameOf(themes, theme)).Number(n.first).Number(n.second).Number(n.first -
                                                                                                      n.second);
  }
  AddChart(theme_part, v1::CHART_TYPE_BAR, "各主题本周与上周预警", 1, {2, 3});

  AddLevels(&doc, data.week.events);
  AddRates(&doc, data.rates, units);

  // Worst performers: the units with the heaviest warnings of the week (a
  // level-1 warning weighs 4, a level-4 one 1).
  struct Worst {
    std::string unit;
    int weight = 0, events = 0, level1 = 0;
  };
  absl::flat_hash_map<std::string, Worst> worst;
  for (const auto& e : data.week.events) {
    Worst& w = worst[e.unit_code()];
    w.unit = e.unit_code();
    w.weight += 5 - std::clamp(e.level(), 1, 4);
    w.events++;
    if (e.level() == 1) w.level1++;
  }
  std::vector<Worst> ranked;
  for (auto& [unit, w] : worst) ranked.push_back(w);
  std::sort(ranked.begin(), ranked.end(), [](const Worst& a, const Worst& b) {
    return std::tie(b.weight, b.events, a.unit) < std::tie(a.weight, a.events, b.unit);
  });
  if (ranked.size() > 10) ranked.resize(10);
  v1::ReportPart* worst_part = AddPart(&doc, "worst", "问题最多单位",
                                       {{"rank", "名次", kInt},
                                        {"unit", "单位编码", kText},
                                        {"unit_name", "单位", kText},
                                        {"weight", "加权预警", kInt},
                                        {"events", "预警数", kInt},
                                        {"level1", "一级预警", kInt}});
  worst_part->add_notes("加权预警：一级计4，二级计3，三级计2，四级计1。");
  for (size_t i = 0; i < ranked.size(); ++i) {
    const Worst& w = ranked[i];
    RowOut(worst_part)
        .Number(static_cast<double>(i + 1))
        .Text(w.unit)
        .Text(NameOf(units, w.unit))
        .Number(w.weight)
        .Number(w.events)
        .Number(w.level1);
  }
  AddChart(worst_part, v1::CHART_TYPE_BAR, "加权预警最多的单位", 2, {3});
  AddOrders(&doc, "orders", "本周派发工单", data.week.orders, units, themes);
  AddOrders(&doc, "overdue", "超期工单", data.week.overdue, units, themes);
  AddSupervision(&doc, data.week.supervision, units);
  return doc;
}

std::vector<std::pair<std::string, int>> ScoreBands(const std::vector<v1::RankingRow>& rows) {
  if (rows.empty()) return {};
  double lo = rows[0].composite(), hi = lo;
  for (const auto& r : rows) {
    lo = std::min(lo, r.composite());
    hi = std::max(hi, r.composite());
  }
  // About five bands of a round width (1, 2 or 5 times a power of ten, at
  // least 1 point) over the scores there are.
  const double raw = std::max((hi - lo) / 5, 1.0);
  const double power = std::pow(10, std::floor(std::log10(raw)));
  const double width = raw <= power ? power : raw <= 2 * power ? 2 * power : raw <= 5 * power ? 5 * power : 10 * power;
  const double start = std::floor(lo / width) * width;
  const int n = static_cast<int>(std::floor((hi - start) / width)) + 1;
  std::vector<std::pair<std::string, int>> bands;
  for (int i = 0; i < n; ++i) {
    bands.emplace_back(absl::StrCat(RoundedText(start + i * width), "–", RoundedText(start + (i + 1) * width)), 0);
  }
  for (const auto& r : rows) bands[std::min(n - 1, static_cast<int>((r.composite() - start) / width))].second++;
  return bands;
}

v1::ReportDocument BuildMonthly(const DocumentHead& head, const MonthlyData& data, const Names& units) {
  v1::ReportDocument doc =
      Head(head, absl::StrCat("月度总结和评价 ", head.scope_name, " ", head.params.period().key()));

  v1::ReportPart* summary = AddPart(&doc, "summary", "月度概览", {{"item", "项目", kText}, {"value", "数值", kNum}});
  if (data.scope_evaluation) {
    const v1::Evaluation& e = *data.scope_evaluation;
    RowOut(summary).Text("综合得分").Number(e.composite());
    RowOut(summary).Text("主要指标").NumberIf(e.main().present(), e.main().total());
    RowOut(summary).Text("过程指标").NumberIf(e.process().present(), e.process().total());
    RowOut(summary).Text("业务评价").NumberIf(e.business().present(), e.business().total());
  }
  int ranked = 0;
  for (const auto& [type, rows] : data.by_type) ranked += static_cast<int>(rows.size());
  summary->add_notes(absl::StrCat("参评单位 ", ranked, " 个；督办中 ", data.supervision.size(), " 件"));
  if (data.scope_evaluation) AddChart(summary, v1::CHART_TYPE_GAUGE, "综合得分", 0, {1}, 1, 100);

  auto ranking_columns = std::initializer_list<Column>{
      {"rank", "排名", kInt},           {"unit", "单位编码", kText},         {"unit_name", "单位", kText},
      {"composite", "综合得分", kNum},  {"main", "主要指标", kNum},         {"process", "过程指标", kNum},
      {"business", "业务评价", kNum},   {"percentile", "百分位", kNum},     {"previous_rank", "上期排名", kInt},
      {"change", "得分变化", kNum}};
  auto ranking_rows = [&](v1::ReportPart* part, const std::vector<v1::RankingRow>& rows) {
    for (const auto& r : rows) {
      RowOut(part)
          .Number(r.rank())
          .Text(r.unit_code())
          .Text(NameOf(units, r.unit_code()))
          .Number(r.composite())
          .NumberIf(r.has_main_total(), r.main_total())
          .NumberIf(r.has_process_total(), r.process_total())
          .Number(r.business_total())
          .Number(r.percentile())
          .NumberIf(r.previous_rank() != 0, r.previous_rank())
          .NumberIf(r.previous_rank() != 0, r.composite() - r.previous_composite());
    }
  };
  v1::ReportPart* children = AddPart(&doc, "ranking", "下级单位排名", ranking_columns);
  ranking_rows(children, data.children);
  AddChart(children, v1::CHART_TYPE_BAR, "下级单位综合得分", 2, {3});

  for (const auto& [type, rows] : data.by_type) {
    v1::ReportPart* part = AddPart(&doc, absl::StrCat("type-", static_cast<int>(type)),
                                   absl::StrCat(UnitTypeName(type), "排名"), ranking_columns);
    ranking_rows(part, rows);
    AddChart(part, v1::CHART_TYPE_BAR, absl::StrCat(UnitTypeName(type), "前20名"), 2, {3}, 20);
  }

  if (!data.by_type.empty()) {
    const auto& [type, rows] = data.by_type.back();
    v1::ReportPart* bands =
        AddPart(&doc, "distribution", "得分分布", {{"band", "得分区间", kText}, {"units", "单位数", kInt}});
    bands->add_notes(absl::StrCat(UnitTypeName(type), "综合得分分布"));
    for (const auto& [band, n] : ScoreBands(rows)) RowOut(bands).Text(band).Number(n);
    AddChart(bands, v1::CHART_TYPE_PIE, absl::StrCat(UnitTypeName(type), "得分分布"), 0, {1});
  }
  AddRates(&doc, data.rates, units);
  AddSupervision(&doc, data.supervision, units);
  return doc;
}

std::string RegionPartId(const std::string& unit_code) { return absl::StrCat("region-", unit_code); }
std::string TimePartId(const std::string& period_key) { return absl::StrCat("time-", period_key); }

v1::ReportDocument BuildTheme(const DocumentHead& head, const ThemeData& data) {
  v1::ReportDocument doc = Head(head, absl::StrCat("专题分析 ", data.measure_name, " ", head.scope_name, " ",
                                                   head.params.period().key()));
  absl::flat_hash_map<std::string, bool> drilled_units, drilled_periods;
  for (const auto& r : data.regions) drilled_units[r.unit().unit_code()] = true;
  for (const auto& t : data.times) drilled_periods[t.unit().period().key()] = true;

  for (const auto& level : data.regions) {
    const v1::DrillDownRow& u = level.unit();
    v1::ReportPart* part = AddPart(&doc, RegionPartId(u.unit_code()), absl::StrCat(u.unit_name(), " 分区域"),
                                   {{"unit", "单位编码", kText},
                                    {"unit_name", "单位", kText},
                                    {"unit_type", "类型", kText},
                                    {"value", data.measure_name.c_str(), kNum}});
    part->add_notes(absl::StrCat(u.unit_name(), " ", u.period().key(), " ", data.measure_name, "：",
                                 u.has_value() ? RoundedText(u.value()) : "无"));
    for (const auto& c : level.children()) {
      const std::string link = drilled_units.contains(c.unit_code()) ? RegionPartId(c.unit_code()) : "";
      RowOut(part).Text(c.unit_code()).Text(c.unit_name(), link).Text(UnitTypeName(c.unit_type())).NumberIf(
          c.has_value(), c.value());
    }
    AddChart(part, v1::CHART_TYPE_BAR, absl::StrCat(u.unit_name(), " 下级", data.measure_name), 1, {3});
  }
  for (const auto& level : data.times) {
    const v1::DrillDownRow& u = level.unit();
    v1::ReportPart* part = AddPart(&doc, TimePartId(u.period().key()), absl::StrCat(u.period().key(), " 分时间"),
                                   {{"period", "期间", kText}, {"value", data.measure_name.c_str(), kNum}});
    part->add_notes(absl::StrCat(u.unit_name(), " ", u.period().key(), " ", data.measure_name, "：",
                                 u.has_value() ? RoundedText(u.value()) : "无"));
    for (const auto& p : level.periods()) {
      const std::string link = drilled_periods.contains(p.period().key()) ? TimePartId(p.period().key()) : "";
      RowOut(part).Text(p.period().key(), link).NumberIf(p.has_value(), p.value());
    }
    AddChart(part, level.periods_size() > 2 ? v1::CHART_TYPE_LINE : v1::CHART_TYPE_BAR,
             absl::StrCat(u.period().key(), " ", data.measure_name), 0, {1});
  }
  return doc;
}

}  // namespace aw::report
