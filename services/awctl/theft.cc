// awctl synth-sgcc and theft-drive: the theft-suspicion loop of the demo.
//
// synth-sgcc writes synthetic customers in the SGCC layout (theft_synthetic:
// daily profiles by category, 8.5 % of them attacked, a quarter of the cells
// empty), for load-sgcc. theft-drive, as a centre auditor: saves the theme
// T-THEFT and a THEFT_SUSPICION rule over a unit's stations (level 1: an
// on-site inspection), runs the analysis over a window of days, prints the
// run by level and the top suspects with their reasons, waits for audit's
// inspection orders and prints them.
#include <cstdio>
#include <fstream>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "auditwatch/v1/audit.grpc.pb.h"
#include "auditwatch/v1/monitor.grpc.pb.h"
#include "services/awctl/commands.h"
#include "services/awctl/theft_synthetic.h"

namespace aw::awctl {
namespace {

namespace v1 = ::auditwatch::v1;

std::unique_ptr<grpc::ClientContext> Context(int seconds = 60) { return Deadline(seconds); }

bool Count(const Flags& flags, const char* name, int fallback, int min, int* out) {
  const std::string text = flags.Get(name, std::to_string(fallback));
  if (!absl::SimpleAtoi(text, out) || *out < min) {
    std::fprintf(stderr, "--%s: a whole number of at least %d, not \"%s\"\n", name, min, text.c_str());
    return false;
  }
  return true;
}

}  // namespace

int SynthSgcc(const Flags& flags) {
  const std::string path = flags.positional()[0];
  int customers = 0, days = 0, seed = 0;
  if (!Count(flags, "customers", 2000, 10, &customers) || !Count(flags, "days", 365, 60, &days) ||
      !Count(flags, "seed", 42, 0, &seed)) {
    return 2;
  }
  absl::CivilDay first;
  const std::string first_text = flags.Get("first-day", "2025-01-01");
  if (!absl::ParseCivilTime(first_text, &first)) {
    std::fprintf(stderr, "--first-day: an ISO date, e.g. 2025-01-01, not \"%s\"\n", first_text.c_str());
    return 2;
  }
  const demo::TheftData data = demo::GenerateTheftData(
      {.seed = static_cast<uint64_t>(seed), .customers = customers, .days = days, .first_day = first});
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  demo::WriteSgcc(data, static_cast<uint64_t>(seed), out);
  out.close();
  if (!out) {
    std::fprintf(stderr, "cannot write %s\n", path.c_str());
    return 1;
  }
  int attacked = 0;
  for (const auto& c : data.customers) attacked += c.attack > 0;
  std::printf("%s: %d customers × %d days from %s, %d of them attacked (FLAG 1), a quarter of the cells empty\n",
              path.c_str(), customers, days, absl::FormatCivilTime(first).c_str(), attacked);
  return 0;
}

int TheftDrive(const Flags& flags) {
  const std::string unit = flags.Get("unit", "");
  const std::string first_day = flags.Get("from", ""), last_day = flags.Get("to", "");
  if (unit.empty() || first_day.empty() || last_day.empty()) {
    std::fprintf(stderr, "theft-drive: --unit, --from and --to are required\n");
    return 2;
  }
  auto channel = Connect(flags);
  if (channel == nullptr) return 1;
  auto monitor = v1::MonitorService::NewStub(channel);
  auto audit = v1::AuditService::NewStub(channel);

  v1::UpsertThemeRequest theme;
  theme.mutable_theme()->set_code("T-THEFT");
  theme.mutable_theme()->set_name("违约窃电");
  theme.mutable_theme()->set_category(v1::BUSINESS_CATEGORY_INSPECTION);
  v1::Theme saved_theme;
  if (Refused(monitor->UpsertTheme(Context().get(), theme, &saved_theme), "UpsertTheme T-THEFT")) return 1;
  v1::UpsertRuleRequest save;
  v1::Rule* rule = save.mutable_rule();
  rule->set_code("THEFT-" + unit);
  rule->set_name("违约窃电嫌疑 " + unit);
  rule->set_theme_code("T-THEFT");
  rule->set_kind(v1::RULE_KIND_THEFT_SUSPICION);
  rule->set_period_type(v1::PERIOD_TYPE_MONTH);
  rule->mutable_scope()->set_unit_code(unit);
  rule->mutable_scope()->set_include_descendants(true);
  rule->set_enabled(true);
  const double cutoffs[] = {0.9, 0.75, 0.5};
  for (int level = 1; level <= 3; ++level) {
    v1::RuleLevel* l = rule->add_levels();
    l->set_level(level);
    l->set_threshold(cutoffs[level - 1]);
    if (level == 1) l->add_actions(v1::WARNING_ACTION_ONLINE_AUDIT);
    if (level == 2) l->add_actions(v1::WARNING_ACTION_NOTIFY);
  }
  save.set_reason("demo");
  v1::Rule saved_rule;
  if (Refused(monitor->UpsertRule(Context().get(), save, &saved_rule), "UpsertRule " + rule->code())) return 1;

  v1::AnalyzeTheftRequest analyze;
  analyze.set_rule_code(saved_rule.code());
  analyze.set_first_day(first_day);
  analyze.set_last_day(last_day);
  analyze.set_request_id(absl::StrCat("theft-drive-", saved_rule.code(), "-", first_day, "-", last_day));
  v1::TheftAnalysis run;
  if (Refused(monitor->AnalyzeTheft(Context(600).get(), analyze, &run), "AnalyzeTheft")) return 1;
  std::printf("analysis %lld of %s, %s to %s, by the %s: %d customers; levels 1-4: %d / %d / %d / %d; "
              "%d events opened, %d whitelisted (%.2f s)\n",
              static_cast<long long>(run.id()), run.rule_code().c_str(), run.first_day().c_str(),
              run.last_day().c_str(),
              run.method() == v1::THEFT_METHOD_MODEL ? absl::StrCat("model ", run.model_version()).c_str()
                                                     : "transparent score",
              run.customers(), run.per_level(0), run.per_level(1), run.per_level(2), run.per_level(3),
              run.events_opened(), run.events_suppressed(), run.seconds());

  v1::ListTheftSuspectsRequest list;
  list.set_analysis_id(run.id());
  list.mutable_page()->set_page_size(5);
  v1::ListTheftSuspectsResponse top;
  if (Refused(monitor->ListTheftSuspects(Context().get(), list, &top), "ListTheftSuspects")) return 1;
  std::printf("the most likely:\n");
  for (const v1::TheftSuspect& s : top.suspects()) {
    std::string reasons;
    for (const v1::TheftReason& r : s.reasons()) {
      absl::StrAppend(&reasons, reasons.empty() ? "" : ", ", r.message(), " ", r.code(), " ",
                      static_cast<int>(r.weight() * 100 + 0.5), "%");
    }
    std::printf("  #%d %-14s %-12s level %d, score %.3f: %s\n", s.rank(), s.customer_id().c_str(),
                s.station_code().c_str(), s.suspicion_level(), s.score(), reasons.c_str());
  }

  // Audit's inspection orders for the level-1 events (the event → task
  // path): polled until their number holds still.
  int orders = -1, before = -2;
  std::string sample;
  const absl::Time until = absl::Now() + absl::Seconds(30);
  do {
    before = orders;
    v1::ListWorkOrdersRequest req;
    req.mutable_scope()->set_unit_code(unit);
    req.mutable_scope()->set_include_descendants(true);
    req.add_theme_codes("T-THEFT");
    req.mutable_page()->set_page_size(1000);
    v1::ListWorkOrdersResponse resp;
    if (Refused(audit->ListWorkOrders(Context().get(), req, &resp), "ListWorkOrders")) return 1;
    orders = 0;
    for (const v1::WorkOrder& o : resp.work_orders()) {
      if (o.subject().empty()) continue;
      ++orders;
      if (sample.empty()) sample = absl::StrCat("order ", o.id(), " to ", o.unit_code(), ": ", o.title());
    }
    if (orders > 0 && orders == before) break;
    absl::SleepFor(absl::Seconds(1));
  } while (absl::Now() < until);
  std::printf("audit opened %d on-site inspection orders for the level-1 suspects%s%s\n", orders,
              sample.empty() ? "" : ", e.g. ", sample.c_str());
  return 0;
}

}  // namespace aw::awctl
