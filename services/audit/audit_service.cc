#include "services/audit/audit_service.h"

#include <cmath>

#include "absl/strings/str_cat.h"
#include "common/call.h"
#include "common/grpc_util.h"
#include "common/identity.h"
#include "common/paging.h"
#include "common/period.h"
#include "common/period_field.h"
#include "common/status.h"
#include "common/timestamp.h"

namespace aw::audit {
namespace {

Command CommandOf(const v1::Principal& caller, const char* method, const google::protobuf::Message& request,
                  const std::string& key) {
  return Command{.actor = caller.subject(), .key = key, .method = method, .request = DeterministicBytes(request)};
}

absl::Status RequireKey(const std::string& key, const char* field) {
  if (key.empty()) return absl::InvalidArgumentError(absl::StrCat(field, ": required (a retry sends the same key)"));
  if (key.size() > 200) return absl::InvalidArgumentError(absl::StrCat(field, ": at most 200 characters"));
  return absl::OkStatus();
}

absl::Status RequireRole(const v1::Principal& caller, v1::Role role, const char* what) {
  if (HasRole(caller, role)) return absl::OkStatus();
  return absl::PermissionDeniedError(
      absl::StrCat(what, " needs the role ", v1::Role_Name(role), "; ", caller.subject(), " lacks it"));
}

absl::StatusOr<absl::CivilDay> Day(const std::string& text, const char* field) {
  absl::CivilDay day;
  if (!absl::ParseCivilTime(text, &day)) {
    return absl::InvalidArgumentError(absl::StrCat(field, ": \"", text, "\" is not an ISO date"));
  }
  return day;
}

// `s`, a NOT_FOUND naming the request's `field` instead of the store's.
template <typename T>
absl::StatusOr<T> Naming(absl::StatusOr<T> s, absl::string_view field) {
  if (s.ok() || s.status().code() != absl::StatusCode::kNotFound) return s;
  const absl::string_view m = s.status().message();
  const size_t colon = m.find(": ");
  return absl::NotFoundError(absl::StrCat(field, ": ", colon == absl::string_view::npos ? m : m.substr(colon + 2)));
}

// The first answer to a retried command, as it was answered.
absl::Status Replay(const std::string& bytes, google::protobuf::Message* answer) {
  if (!answer->ParseFromString(bytes)) return absl::InternalError("a remembered answer does not decode");
  return absl::OkStatus();
}

KeyPage KeyPageOf(const Page& page) { return KeyPage{.before = page.after_id(), .limit = page.size + 1}; }

template <typename T>
void FinishPage(const Page& page, std::vector<T>& items, v1::PageResponse* out) {
  FinishKeysetPage(page, items, [](const T& item) { return std::vector<int64_t>{item.id()}; }, -1, out);
}

std::vector<int> Ints(const google::protobuf::RepeatedField<int>& values) {
  return std::vector<int>(values.begin(), values.end());
}

}  // namespace

// --- Commands ------------------------------------------------------------------------------

absl::Status AuditServiceImpl::Idempotent(const Command& command, google::protobuf::Message* answer,
                                          const std::function<absl::Status()>& run) {
  for (int attempt = 0;; ++attempt) {
    AW_ASSIGN_OR_RETURN(const std::optional<std::string> prior, p_.store->PriorAnswer(command));
    if (prior) return Replay(*prior, answer);
    const absl::Status ran = run();
    // A retry that raced its twin: the key is taken now, so its answer is there.
    if (ran.code() == absl::StatusCode::kAlreadyExists && attempt == 0) continue;
    return ran;
  }
}

absl::Status AuditServiceImpl::Transit(const Ctx& ctx, const char* method, const google::protobuf::Message& request,
                                       const v1::WorkOrderCommand& command, Action action, const Prepare& prepare,
                                       v1::WorkOrder* answer) {
  AW_ASSIGN_OR_RETURN(const v1::Principal caller, RequiredPrincipal(ctx));
  AW_RETURN_IF_ERROR(ValidateCommand(command));
  const Command remembered = CommandOf(caller, method, request, command.idempotency_key());
  // The order and any first answer to this key, in one read.
  AW_ASSIGN_OR_RETURN(const AuditStore::Loaded loaded, p_.store->LoadForCommand(command.work_order_id(), remembered));
  if (loaded.prior_answer) return Replay(*loaded.prior_answer, answer);
  AW_ASSIGN_OR_RETURN(const v1::WorkOrderState to,
                      Decide(action, loaded.facts, caller, command.expected_version()));
  TransitionWrite w;
  w.work_order_id = command.work_order_id();
  w.expected_version = command.expected_version();
  w.from = loaded.facts.state;
  w.to = to;
  w.action = action;
  w.actor = caller.subject();
  w.comment = command.comment();
  w.command = remembered;
  if (prepare) AW_RETURN_IF_ERROR(prepare(loaded.order, &w));
  auto applied = p_.store->ApplyTransition(w, loaded.order, p_.clock->Now());
  if (!applied.ok() && (applied.status().code() == absl::StatusCode::kAborted ||
                        applied.status().code() == absl::StatusCode::kAlreadyExists)) {
    // Its twin (a retry of the same command) may have committed meanwhile.
    AW_ASSIGN_OR_RETURN(const std::optional<std::string> prior, p_.store->PriorAnswer(remembered));
    if (prior) return Replay(*prior, answer);
  }
  AW_RETURN_IF_ERROR(applied.status());
  *answer = *std::move(applied);
  p_.metrics->Transition(action);
  return absl::OkStatus();
}

// --- Tasks --------------------------------------------------------------------------------------

grpc::ServerUnaryReactor* AuditServiceImpl::CreateTask(Ctx* ctx, const v1::CreateTaskRequest* req,
                                                       v1::AuditTask* resp) {
  return FinishOnWorker(ctx, *p_.workers, [=, this]() -> absl::Status {
    AW_ASSIGN_OR_RETURN(const v1::Principal caller, RequiredPrincipal(*ctx));
    AW_RETURN_IF_ERROR(RequireRole(caller, v1::ROLE_CENTRE_AUDITOR, "CreateTask"));
    AW_RETURN_IF_ERROR(RequireKey(req->idempotency_key(), "idempotency_key"));
    v1::AuditTask task = req->task();
    switch (task.source()) {
      case v1::TASK_SOURCE_ROUTINE:
      case v1::TASK_SOURCE_ONLINE:
      case v1::TASK_SOURCE_SPECIAL_PLAN:
        break;
      case v1::TASK_SOURCE_WARNING:
        return absl::InvalidArgumentError("task.source: tasks from warnings are opened by the service from events");
      default:
        return absl::InvalidArgumentError("task.source: ROUTINE, ONLINE or SPECIAL_PLAN");
    }
    if (Blank(task.theme_code())) return absl::InvalidArgumentError("task.theme_code: required");
    if (Blank(task.title())) return absl::InvalidArgumentError("task.title: required");
    AW_ASSIGN_OR_RETURN(const Period period, RequiredPeriod(task.period(), "task.period"));
    if (task.has_deadline()) AW_RETURN_IF_ERROR(ValidateDeadline(task.deadline(), p_.clock->Now(), "task.deadline"));
    AW_ASSIGN_OR_RETURN(const std::vector<std::string> path,
                        p_.units->PathOf(task.scope().unit_code(), "task.scope.unit_code"));
    if (task.source() == v1::TASK_SOURCE_SPECIAL_PLAN) {
      if (task.special_plan_id() <= 0) {
        return absl::InvalidArgumentError("task.special_plan_id: required for a special-plan task");
      }
      AW_ASSIGN_OR_RETURN(const v1::SpecialPlan plan, p_.store->GetPlan(task.special_plan_id()));
      if (std::find(plan.theme_codes().begin(), plan.theme_codes().end(), task.theme_code()) ==
          plan.theme_codes().end()) {
        return absl::InvalidArgumentError(
            absl::StrCat("task.theme_code: ", task.theme_code(), " is not a theme of special plan ", plan.id()));
      }
      const bool inside = task.scope().unit_code() == plan.scope().unit_code() ||
                          (plan.scope().include_descendants() &&
                           std::find(path.begin(), path.end(), plan.scope().unit_code()) != path.end());
      if (!inside) {
        return absl::InvalidArgumentError(absl::StrCat("task.scope.unit_code: ", task.scope().unit_code(),
                                                       " is outside the scope of special plan ", plan.id()));
      }
      AW_ASSIGN_OR_RETURN(const absl::CivilDay first, Day(plan.first_day(), "plan.first_day"));
      AW_ASSIGN_OR_RETURN(const absl::CivilDay last, Day(plan.last_day(), "plan.last_day"));
      if (period.last_day() < first || period.first_day() > last) {
        return absl::InvalidArgumentError(absl::StrCat("task.period: ", period.key(), " lies outside special plan ",
                                                       plan.id(), " (", plan.first_day(), " to ", plan.last_day(), ")"));
      }
    } else if (task.special_plan_id() != 0) {
      return absl::InvalidArgumentError("task.special_plan_id: only for a special-plan task");
    }
    if (task.owner().empty()) task.set_owner(caller.subject());
    task.mutable_period()->set_type(static_cast<v1::PeriodType>(period.type()));
    const Command command = CommandOf(caller, "CreateTask", *req, req->idempotency_key());
    return Idempotent(command, resp, [&]() -> absl::Status {
      AW_ASSIGN_OR_RETURN(*resp, p_.store->CreateTask(task, path, caller.subject(), p_.clock->Now(), command));
      return absl::OkStatus();
    });
  });
}

grpc::ServerUnaryReactor* AuditServiceImpl::GetTask(Ctx* ctx, const v1::GetTaskRequest* req, v1::AuditTask* resp) {
  return FinishOnWorker(ctx, *p_.workers, [=, this]() -> absl::Status {
    if (req->id() <= 0) return absl::InvalidArgumentError("id: required");
    AW_ASSIGN_OR_RETURN(*resp, p_.store->GetTask(req->id()));
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* AuditServiceImpl::ListTasks(Ctx* ctx, const v1::ListTasksRequest* req,
                                                      v1::ListTasksResponse* resp) {
  return FinishOnWorker(ctx, *p_.workers, [=, this]() -> absl::Status {
    AW_ASSIGN_OR_RETURN(const Page page, ParsePage(req->page(), *req));
    TaskFilter f{.scope_unit = req->scope().unit_code(),
                 .descendants = req->scope().include_descendants(),
                 .states = Ints(req->states()),
                 .sources = Ints(req->sources()),
                 .themes = {req->theme_codes().begin(), req->theme_codes().end()}};
    AW_ASSIGN_OR_RETURN(f.period_keys, PeriodKeys(req->periods(), "periods"));
    AW_ASSIGN_OR_RETURN(auto tasks, p_.store->ListTasks(f, KeyPageOf(page)));
    FinishPage(page, tasks, resp->mutable_page());
    for (auto& t : tasks) *resp->add_tasks() = std::move(t);
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* AuditServiceImpl::CreateSpecialPlan(Ctx* ctx, const v1::CreateSpecialPlanRequest* req,
                                                              v1::SpecialPlan* resp) {
  return FinishOnWorker(ctx, *p_.workers, [=, this]() -> absl::Status {
    AW_ASSIGN_OR_RETURN(const v1::Principal caller, RequiredPrincipal(*ctx));
    AW_RETURN_IF_ERROR(RequireRole(caller, v1::ROLE_CENTRE_AUDITOR, "CreateSpecialPlan"));
    AW_RETURN_IF_ERROR(RequireKey(req->idempotency_key(), "idempotency_key"));
    const v1::SpecialPlan& plan = req->plan();
    if (Blank(plan.name())) return absl::InvalidArgumentError("plan.name: required");
    AW_ASSIGN_OR_RETURN(const absl::CivilDay first, Day(plan.first_day(), "plan.first_day"));
    AW_ASSIGN_OR_RETURN(const absl::CivilDay last, Day(plan.last_day(), "plan.last_day"));
    if (last < first) return absl::InvalidArgumentError("plan.last_day: before plan.first_day");
    if (plan.theme_codes().empty()) return absl::InvalidArgumentError("plan.theme_codes: at least one theme");
    for (int i = 0; i < plan.theme_codes_size(); ++i) {
      if (Blank(plan.theme_codes(i))) return absl::InvalidArgumentError(absl::StrCat("plan.theme_codes[", i, "]: empty"));
    }
    AW_RETURN_IF_ERROR(p_.units->PathOf(plan.scope().unit_code(), "plan.scope.unit_code").status());
    const Command command = CommandOf(caller, "CreateSpecialPlan", *req, req->idempotency_key());
    return Idempotent(command, resp, [&]() -> absl::Status {
      AW_ASSIGN_OR_RETURN(*resp, p_.store->CreatePlan(plan, caller.subject(), p_.clock->Now(), command));
      return absl::OkStatus();
    });
  });
}

grpc::ServerUnaryReactor* AuditServiceImpl::ListSpecialPlans(Ctx* ctx, const v1::ListSpecialPlansRequest* req,
                                                             v1::ListSpecialPlansResponse* resp) {
  return FinishOnWorker(ctx, *p_.workers, [=, this]() -> absl::Status {
    AW_ASSIGN_OR_RETURN(const Page page, ParsePage(req->page(), *req));
    AW_ASSIGN_OR_RETURN(auto plans, p_.store->ListPlans(KeyPageOf(page)));
    FinishPage(page, plans, resp->mutable_page());
    for (auto& p : plans) *resp->add_plans() = std::move(p);
    return absl::OkStatus();
  });
}

// --- Work orders -----------------------------------------------------------------------------------

grpc::ServerUnaryReactor* AuditServiceImpl::CreateWorkOrder(Ctx* ctx, const v1::CreateWorkOrderRequest* req,
                                                            v1::WorkOrder* resp) {
  return FinishOnWorker(ctx, *p_.workers, [=, this]() -> absl::Status {
    AW_ASSIGN_OR_RETURN(const v1::Principal caller, RequiredPrincipal(*ctx));
    AW_RETURN_IF_ERROR(RequireRole(caller, v1::ROLE_CENTRE_AUDITOR, "CreateWorkOrder"));
    AW_RETURN_IF_ERROR(RequireKey(req->idempotency_key(), "idempotency_key"));
    if (req->task_id() <= 0) return absl::InvalidArgumentError("task_id: required");
    if (Blank(req->title())) return absl::InvalidArgumentError("title: required");
    if (req->dispatch() || req->has_deadline()) {
      AW_RETURN_IF_ERROR(ValidateDeadline(req->deadline(), p_.clock->Now(), "deadline"));
    }
    AW_ASSIGN_OR_RETURN(const std::vector<std::string> path, p_.units->PathOf(req->unit_code(), "unit_code"));
    AW_ASSIGN_OR_RETURN(const v1::AuditTask task, Naming(p_.store->GetTask(req->task_id()), "task_id"));
    const bool inside = req->unit_code() == task.scope().unit_code() ||
                        (task.scope().include_descendants() &&
                         std::find(path.begin(), path.end(), task.scope().unit_code()) != path.end());
    if (!inside) {
      return absl::InvalidArgumentError(absl::StrCat("unit_code: ", req->unit_code(), " is outside the scope of task ",
                                                     task.id(), " (", task.scope().unit_code(), ")"));
    }
    const Command command = CommandOf(caller, "CreateWorkOrder", *req, req->idempotency_key());
    return Idempotent(command, resp, [&]() -> absl::Status {
      AW_ASSIGN_OR_RETURN(*resp, p_.store->CreateWorkOrder(*req, path, caller.subject(), p_.clock->Now(), command));
      if (req->dispatch()) p_.metrics->Transition(Action::kDispatch);
      return absl::OkStatus();
    });
  });
}

grpc::ServerUnaryReactor* AuditServiceImpl::DispatchWorkOrder(Ctx* ctx, const v1::WorkOrderCommand* req,
                                                              v1::WorkOrder* resp) {
  return FinishOnWorker(ctx, *p_.workers, [=, this]() -> absl::Status {
    return Transit(*ctx, "DispatchWorkOrder", *req, *req, Action::kDispatch,
                   [this](const v1::WorkOrder& current, TransitionWrite*) {
                     return ValidateDeadline(current.deadline(), p_.clock->Now(), "deadline (of the draft)");
                   },
                   resp);
  });
}

grpc::ServerUnaryReactor* AuditServiceImpl::StartRectification(Ctx* ctx, const v1::WorkOrderCommand* req,
                                                               v1::WorkOrder* resp) {
  return FinishOnWorker(ctx, *p_.workers, [=, this]() -> absl::Status {
    return Transit(*ctx, "StartRectification", *req, *req, Action::kStart, nullptr, resp);
  });
}

grpc::ServerUnaryReactor* AuditServiceImpl::SubmitRectification(Ctx* ctx, const v1::SubmitRectificationRequest* req,
                                                                v1::WorkOrder* resp) {
  return FinishOnWorker(ctx, *p_.workers, [=, this]() -> absl::Status {
    AW_RETURN_IF_ERROR(ValidateRectification(req->rectification()));
    return Transit(*ctx, "SubmitRectification", *req, req->command(), Action::kSubmit,
                   [req](const v1::WorkOrder&, TransitionWrite* w) {
                     w->rectification = &req->rectification();
                     return absl::OkStatus();
                   },
                   resp);
  });
}

grpc::ServerUnaryReactor* AuditServiceImpl::ReviewWorkOrder(Ctx* ctx, const v1::ReviewWorkOrderRequest* req,
                                                            v1::WorkOrder* resp) {
  return FinishOnWorker(ctx, *p_.workers, [=, this]() -> absl::Status {
    Action action;
    switch (req->stage()) {
      case v1::REVIEW_STAGE_UNIT: action = req->approve() ? Action::kUnitApprove : Action::kUnitReject; break;
      case v1::REVIEW_STAGE_CENTRE: action = req->approve() ? Action::kCentreApprove : Action::kCentreReject; break;
      default: return absl::InvalidArgumentError("stage: UNIT or CENTRE");
    }
    if (!req->approve() && Blank(req->command().comment())) {
      return absl::InvalidArgumentError("command.comment: a rejection says what to mend");
    }
    return Transit(*ctx, "ReviewWorkOrder", *req, req->command(), action, nullptr, resp);
  });
}

grpc::ServerUnaryReactor* AuditServiceImpl::CancelWorkOrder(Ctx* ctx, const v1::WorkOrderCommand* req,
                                                            v1::WorkOrder* resp) {
  return FinishOnWorker(ctx, *p_.workers, [=, this]() -> absl::Status {
    if (Blank(req->comment())) return absl::InvalidArgumentError("comment: the reason for cancelling is required");
    return Transit(*ctx, "CancelWorkOrder", *req, *req, Action::kCancel, nullptr, resp);
  });
}

grpc::ServerUnaryReactor* AuditServiceImpl::ConfirmFalsePositive(Ctx* ctx, const v1::ConfirmFalsePositiveRequest* req,
                                                                 v1::WorkOrder* resp) {
  return FinishOnWorker(ctx, *p_.workers, [=, this]() -> absl::Status {
    if (Blank(req->command().comment())) {
      return absl::InvalidArgumentError("command.comment: the reason is required (it goes to the whitelist entry)");
    }
    if (req->freeze_days() < 1 || req->freeze_days() > p_.max_false_positive_freeze_days) {
      return absl::InvalidArgumentError(
          absl::StrCat("freeze_days: 1 to ", p_.max_false_positive_freeze_days, " (--max_false_positive_freeze)"));
    }
    auto whitelist = std::make_shared<v1::CreateWhitelistEntryRequest>();
    return Transit(
        *ctx, "ConfirmFalsePositive", *req, req->command(), Action::kFalsePositive,
        [&, whitelist](const v1::WorkOrder& current, TransitionWrite* w) -> absl::Status {
          AW_ASSIGN_OR_RETURN(const v1::AuditTask task, p_.store->GetTask(current.task_id()));
          v1::WhitelistEntry* e = whitelist->mutable_entry();
          if (!task.rule_code().empty()) {
            e->set_rule_code(task.rule_code());
          } else {
            e->set_theme_code(current.theme_code());
          }
          e->mutable_scope()->set_unit_code(current.unit_code());
          e->set_subject(task.subject());  // a theft suspicion: that customer only
          e->set_reason(absl::StrCat("false positive confirmed on work order ", current.id(), ": ",
                                     req->command().comment()));
          const absl::Time now = p_.clock->Now();
          SetTimestamp(now, e->mutable_frozen_from());
          SetTimestamp(now + absl::Hours(24) * req->freeze_days(), e->mutable_frozen_until());
          whitelist->set_actor(w->actor);
          w->whitelist = whitelist.get();
          return absl::OkStatus();
        },
        resp);
  });
}

grpc::ServerUnaryReactor* AuditServiceImpl::ExtendDeadline(Ctx* ctx, const v1::ExtendDeadlineRequest* req,
                                                           v1::WorkOrder* resp) {
  return FinishOnWorker(ctx, *p_.workers, [=, this]() -> absl::Status {
    if (Blank(req->command().comment())) return absl::InvalidArgumentError("command.comment: the reason is required");
    AW_RETURN_IF_ERROR(ValidateDeadline(req->deadline(), p_.clock->Now(), "deadline"));
    return Transit(*ctx, "ExtendDeadline", *req, req->command(), Action::kExtend,
                   [req](const v1::WorkOrder& current, TransitionWrite* w) -> absl::Status {
                     w->deadline = TimeOf(req->deadline());
                     w->comment = absl::StrCat(req->command().comment(), " (deadline ",
                                               current.has_deadline()
                                                   ? absl::FormatTime(TimeOf(current.deadline()), absl::UTCTimeZone())
                                                   : "none",
                                               " → ", absl::FormatTime(*w->deadline, absl::UTCTimeZone()), ")");
                     return absl::OkStatus();
                   },
                   resp);
  });
}

grpc::ServerUnaryReactor* AuditServiceImpl::GetWorkOrder(Ctx* ctx, const v1::GetWorkOrderRequest* req,
                                                         v1::WorkOrder* resp) {
  return FinishOnWorker(ctx, *p_.workers, [=, this]() -> absl::Status {
    if (req->id() <= 0) return absl::InvalidArgumentError("id: required");
    AW_ASSIGN_OR_RETURN(*resp, Naming(p_.store->GetWorkOrder(req->id(), /*with_log=*/true), "id"));
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* AuditServiceImpl::ListWorkOrders(Ctx* ctx, const v1::ListWorkOrdersRequest* req,
                                                           v1::ListWorkOrdersResponse* resp) {
  return FinishOnWorker(ctx, *p_.workers, [=, this]() -> absl::Status {
    AW_ASSIGN_OR_RETURN(const Page page, ParsePage(req->page(), *req));
    OrderFilter f{.scope_unit = req->scope().unit_code(),
                  .descendants = req->scope().include_descendants(),
                  .states = Ints(req->states()),
                  .sources = Ints(req->sources()),
                  .themes = {req->theme_codes().begin(), req->theme_codes().end()},
                  .overdue_only = req->overdue_only(),
                  .task_id = req->task_id()};
    AW_ASSIGN_OR_RETURN(f.period_keys, PeriodKeys(req->periods(), "periods"));
    AW_ASSIGN_OR_RETURN(auto orders, p_.store->ListWorkOrders(f, KeyPageOf(page)));
    FinishPage(page, orders, resp->mutable_page());
    for (auto& o : orders) *resp->add_work_orders() = std::move(o);
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* AuditServiceImpl::GetInbox(Ctx* ctx, const v1::GetInboxRequest* req,
                                                     v1::ListWorkOrdersResponse* resp) {
  return FinishOnWorker(ctx, *p_.workers, [=, this]() -> absl::Status {
    AW_ASSIGN_OR_RETURN(const v1::Principal caller, RequiredPrincipal(*ctx));
    AW_ASSIGN_OR_RETURN(const Page page, ParsePage(req->page(), *req));
    OrderFilter f;
    f.under_any.assign(caller.unit_codes().begin(), caller.unit_codes().end());
    if (HasRole(caller, v1::ROLE_CENTRE_AUDITOR)) {
      f.states.push_back(v1::WORK_ORDER_STATE_DRAFT);
      f.states.push_back(v1::WORK_ORDER_STATE_UNIT_APPROVED);
    }
    if (HasRole(caller, v1::ROLE_UNIT_SPECIALIST)) {
      f.states.push_back(v1::WORK_ORDER_STATE_DISPATCHED);
      f.states.push_back(v1::WORK_ORDER_STATE_RECTIFYING);
      f.states.push_back(v1::WORK_ORDER_STATE_SUBMITTED);
    }
    if (f.states.empty()) return absl::OkStatus();
    // A review waits for someone other than its submitter (four eyes).
    f.not_submitted_by = caller.subject();
    AW_ASSIGN_OR_RETURN(auto orders, p_.store->ListWorkOrders(f, KeyPageOf(page)));
    FinishPage(page, orders, resp->mutable_page());
    for (auto& o : orders) *resp->add_work_orders() = std::move(o);
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* AuditServiceImpl::ListSupervisionOrders(Ctx* ctx,
                                                                  const v1::ListSupervisionOrdersRequest* req,
                                                                  v1::ListSupervisionOrdersResponse* resp) {
  return FinishOnWorker(ctx, *p_.workers, [=, this]() -> absl::Status {
    AW_ASSIGN_OR_RETURN(const Page page, ParsePage(req->page(), *req));
    AW_ASSIGN_OR_RETURN(auto orders,
                        p_.store->ListSupervision(req->scope().unit_code(), req->scope().include_descendants(),
                                                  req->open_only(), req->work_order_id(), KeyPageOf(page)));
    FinishPage(page, orders, resp->mutable_page());
    for (auto& o : orders) *resp->add_orders() = std::move(o);
    return absl::OkStatus();
  });
}

// --- Deductions ---------------------------------------------------------------------------------------------

grpc::ServerUnaryReactor* AuditServiceImpl::UpsertDeductionStandard(Ctx* ctx,
                                                                    const v1::UpsertDeductionStandardRequest* req,
                                                                    v1::DeductionStandard* resp) {
  return FinishOnWorker(ctx, *p_.workers, [=, this]() -> absl::Status {
    AW_ASSIGN_OR_RETURN(const v1::Principal caller, RequiredPrincipal(*ctx));
    AW_RETURN_IF_ERROR(RequireRole(caller, v1::ROLE_CENTRE_ADMIN, "UpsertDeductionStandard"));
    AW_RETURN_IF_ERROR(ValidateStandard(req->standard()));
    if (req->expected_version() > 0 && Blank(req->reason())) {
      return absl::InvalidArgumentError("reason: required when changing an item");
    }
    AW_ASSIGN_OR_RETURN(*resp, p_.store->SaveStandard(req->standard(), caller.subject(), req->reason(),
                                                      req->expected_version(), p_.clock->Now()));
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* AuditServiceImpl::ListDeductionStandards(Ctx* ctx,
                                                                   const v1::ListDeductionStandardsRequest* req,
                                                                   v1::ListDeductionStandardsResponse* resp) {
  return FinishOnWorker(ctx, *p_.workers, [=, this]() -> absl::Status {
    AW_ASSIGN_OR_RETURN(const Page page, ParsePage(req->page(), *req));
    AW_ASSIGN_OR_RETURN(auto standards, p_.store->Standards(req->year()));
    PageOut(page, standards, [&](const v1::DeductionStandard& s) { *resp->add_standards() = s; },
            resp->mutable_page());
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* AuditServiceImpl::RecordFinding(Ctx* ctx, const v1::RecordFindingRequest* req,
                                                          v1::Deduction* resp) {
  return FinishOnWorker(ctx, *p_.workers, [=, this]() -> absl::Status {
    AW_ASSIGN_OR_RETURN(const v1::Principal caller, RequiredPrincipal(*ctx));
    AW_RETURN_IF_ERROR(RequireRole(caller, v1::ROLE_CENTRE_AUDITOR, "RecordFinding"));
    AW_RETURN_IF_ERROR(RequireKey(req->idempotency_key(), "idempotency_key"));
    if (req->work_order_id() <= 0) return absl::InvalidArgumentError("work_order_id: required");
    if (req->occurrences() < 0 || req->occurrences() > 1000) {
      return absl::InvalidArgumentError("occurrences: 1 to 1000 (0 means 1)");
    }
    const Command command = CommandOf(caller, "RecordFinding", *req, req->idempotency_key());
    return Idempotent(command, resp, [&]() -> absl::Status {
      AW_ASSIGN_OR_RETURN(const v1::WorkOrder order, p_.store->GetWorkOrder(req->work_order_id(), false));
      if (order.state() == v1::WORK_ORDER_STATE_CANCELLED || order.state() == v1::WORK_ORDER_STATE_FALSE_POSITIVE) {
        return absl::FailedPreconditionError(absl::StrCat("work order ", order.id(), " is ",
                                                          StateName(order.state()), ": it has no findings"));
      }
      AW_ASSIGN_OR_RETURN(const Period period, Period::Parse(order.period().key()));
      const int year = static_cast<int>(period.first_day().year());
      AW_ASSIGN_OR_RETURN(const auto standards, p_.store->Standards(year));
      const v1::DeductionStandard* item = nullptr;
      for (const auto& s : standards) {
        if (s.code() == req->standard_code()) item = &s;
      }
      if (item == nullptr || !item->enabled() || item->direct()) {
        return absl::NotFoundError(absl::StrCat("standard_code: the standard of ", year,
                                                " has no enabled business item ", req->standard_code()));
      }
      AW_ASSIGN_OR_RETURN(*resp, p_.store->RecordFinding(*req, *item, caller.subject(), p_.clock->Now(), command));
      return absl::OkStatus();
    });
  });
}

grpc::ServerUnaryReactor* AuditServiceImpl::RegisterIncident(Ctx* ctx, const v1::RegisterIncidentRequest* req,
                                                             v1::Incident* resp) {
  return FinishOnWorker(ctx, *p_.workers, [=, this]() -> absl::Status {
    AW_ASSIGN_OR_RETURN(const v1::Principal caller, RequiredPrincipal(*ctx));
    AW_RETURN_IF_ERROR(RequireRole(caller, v1::ROLE_CENTRE_AUDITOR, "RegisterIncident"));
    AW_RETURN_IF_ERROR(RequireKey(req->idempotency_key(), "idempotency_key"));
    v1::Incident incident = req->incident();
    if (incident.kind() == v1::INCIDENT_KIND_UNSPECIFIED) {
      return absl::InvalidArgumentError("incident.kind: MARKETING_ERROR or RESPONSIBILITY_ACCIDENT");
    }
    if (incident.level() < 1 || incident.level() > 4) return absl::InvalidArgumentError("incident.level: 1 to 4");
    if (Blank(incident.description())) return absl::InvalidArgumentError("incident.description: required");
    const Command command = CommandOf(caller, "RegisterIncident", *req, req->idempotency_key());
    return Idempotent(command, resp, [&]() -> absl::Status {
      if (incident.work_order_id() != 0) {
        AW_ASSIGN_OR_RETURN(const v1::WorkOrder order, Naming(p_.store->GetWorkOrder(incident.work_order_id(), false),
                                                              "incident.work_order_id"));
        if (incident.unit_code().empty()) incident.set_unit_code(order.unit_code());
        if (incident.period().key().empty()) *incident.mutable_period() = order.period();
      }
      AW_ASSIGN_OR_RETURN(const Period period, RequiredPeriod(incident.period(), "incident.period"));
      AW_ASSIGN_OR_RETURN(const std::vector<std::string> path,
                          p_.units->PathOf(incident.unit_code(), "incident.unit_code"));
      const int year = static_cast<int>(period.first_day().year());
      AW_ASSIGN_OR_RETURN(const auto standards, p_.store->Standards(year));
      AW_ASSIGN_OR_RETURN(const v1::DeductionStandard item,
                          DirectItemFor(standards, incident.kind(), incident.level(), year));
      AW_ASSIGN_OR_RETURN(*resp,
                          p_.store->RegisterIncident(incident, path, item, caller.subject(), p_.clock->Now(), command));
      return absl::OkStatus();
    });
  });
}

grpc::ServerUnaryReactor* AuditServiceImpl::CorrectDeduction(Ctx* ctx, const v1::CorrectDeductionRequest* req,
                                                             v1::Deduction* resp) {
  return FinishOnWorker(ctx, *p_.workers, [=, this]() -> absl::Status {
    AW_ASSIGN_OR_RETURN(const v1::Principal caller, RequiredPrincipal(*ctx));
    AW_RETURN_IF_ERROR(RequireRole(caller, v1::ROLE_CENTRE_AUDITOR, "CorrectDeduction"));
    AW_RETURN_IF_ERROR(RequireKey(req->idempotency_key(), "idempotency_key"));
    if (req->deduction_id() <= 0) return absl::InvalidArgumentError("deduction_id: required");
    if (!std::isfinite(req->points()) || req->points() < 0 || req->points() > 1000) {
      return absl::InvalidArgumentError("points: 0 (void) to 1000");
    }
    if (Blank(req->reason())) return absl::InvalidArgumentError("reason: required");
    const Command command = CommandOf(caller, "CorrectDeduction", *req, req->idempotency_key());
    return Idempotent(command, resp, [&]() -> absl::Status {
      AW_ASSIGN_OR_RETURN(*resp, p_.store->CorrectDeduction(*req, caller.subject(), p_.clock->Now(), command));
      return absl::OkStatus();
    });
  });
}

grpc::ServerUnaryReactor* AuditServiceImpl::ListDeductions(Ctx* ctx, const v1::ListDeductionsRequest* req,
                                                           v1::ListDeductionsResponse* resp) {
  return FinishOnWorker(ctx, *p_.workers, [=, this]() -> absl::Status {
    AW_ASSIGN_OR_RETURN(const Page page, ParsePage(req->page(), *req));
    AW_ASSIGN_OR_RETURN(const auto keys, PeriodKeys(req->periods(), "periods"));
    std::string first, last;
    if (!keys.empty()) {
      first = absl::FormatCivilTime(Period::Parse(keys.front())->first_day());
      last = absl::FormatCivilTime(Period::Parse(keys.back())->last_day());
    }
    AW_ASSIGN_OR_RETURN(auto deductions,
                        p_.store->ListDeductions(req->scope().unit_code(), req->scope().include_descendants(), first,
                                                 last, Ints(req->types()), req->effective_only(), KeyPageOf(page)));
    FinishPage(page, deductions, resp->mutable_page());
    for (auto& d : deductions) *resp->add_deductions() = std::move(d);
    return absl::OkStatus();
  });
}

// --- Rates, checks, feed ----------------------------------------------------------------------------------------

grpc::ServerUnaryReactor* AuditServiceImpl::GetRates(Ctx* ctx, const v1::GetRatesRequest* req,
                                                     v1::GetRatesResponse* resp) {
  return FinishOnWorker(ctx, *p_.workers, [=, this]() -> absl::Status {
    AW_ASSIGN_OR_RETURN(const Page page, ParsePage(req->page(), *req));
    if (req->scope().unit_code().empty()) return absl::InvalidArgumentError("scope.unit_code: required");
    if (req->depth() < 0) return absl::InvalidArgumentError("depth: 0 (every level) or more");
    AW_ASSIGN_OR_RETURN(const Period period, RequiredPeriod(req->period(), "period"));
    AW_ASSIGN_OR_RETURN(const std::vector<std::string> root_path,
                        p_.units->PathOf(req->scope().unit_code(), "scope.unit_code"));
    AW_ASSIGN_OR_RETURN(const std::vector<v1::Unit> subtree, p_.units->Subtree(req->scope().unit_code()));
    absl::flat_hash_map<std::string, std::vector<std::string>> paths;
    std::vector<std::string> rows{req->scope().unit_code()};
    for (const v1::Unit& u : subtree) {
      paths[u.code()] = std::vector<std::string>(u.path().begin(), u.path().end());
      const int below = u.path_size() - static_cast<int>(root_path.size());
      if (req->scope().include_descendants() && below > 0 && (req->depth() == 0 || below <= req->depth())) {
        rows.push_back(u.code());
      }
    }
    AnomalyRows anomalies;
    auto summary = [&](const Period& p, std::vector<v1::AnomalySummaryRow>* out) {
      v1::GetAnomalySummaryRequest request;
      request.mutable_scope()->set_unit_code(req->scope().unit_code());
      request.mutable_scope()->set_include_descendants(true);
      request.mutable_period()->set_key(p.key());
      return ForEachPage(*p_.monitor, &v1::MonitorService::Stub::GetAnomalySummary, request,
                         "monitor GetAnomalySummary", [&] { return ChildContext(*ctx, p_.call_timeout); },
                         [&](const v1::GetAnomalySummaryResponse& r) {
                           out->insert(out->end(), r.rows().begin(), r.rows().end());
                           return absl::OkStatus();
                         });
    };
    AW_RETURN_IF_ERROR(summary(period, &anomalies.now));
    AW_RETURN_IF_ERROR(summary(period.Previous(), &anomalies.before));
    AW_RETURN_IF_ERROR(summary(Period::Containing(period.type(), absl::CivilDay(period.first_day().year(), 1, 1)),
                               &anomalies.year_first));
    AW_ASSIGN_OR_RETURN(const auto tallies, p_.store->Tallies(req->scope().unit_code(), period.key()));
    v1::Period out_period;
    out_period.set_key(period.key());
    out_period.set_type(static_cast<v1::PeriodType>(period.type()));
    const auto rates = ComputeRates(rows, paths, tallies, anomalies, out_period);
    PageOut(page, rates, [&](const v1::UnitRates& r) { *resp->add_rates() = r; }, resp->mutable_page());
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* AuditServiceImpl::RunQualityCheck(Ctx* ctx, const v1::RunQualityCheckRequest* req,
                                                            v1::RunQualityCheckResponse* resp) {
  return FinishOnWorker(ctx, *p_.workers, [=, this]() -> absl::Status {
    AW_ASSIGN_OR_RETURN(const absl::CivilDay first, Day(req->first_day(), "first_day"));
    AW_ASSIGN_OR_RETURN(const absl::CivilDay last, Day(req->last_day(), "last_day"));
    if (last < first) return absl::InvalidArgumentError("last_day: before first_day");
    if (last - first > 366) return absl::InvalidArgumentError("last_day: at most 366 days after first_day");
    const std::string& scope = req->scope().unit_code();
    if (!scope.empty()) AW_RETURN_IF_ERROR(p_.units->PathOf(scope, "scope.unit_code").status());
    AW_ASSIGN_OR_RETURN(const auto orders, p_.store->OrdersToCheck(scope, req->first_day(), req->last_day()));
    AW_ASSIGN_OR_RETURN(const auto plans, p_.store->PlansToCheck(scope, req->first_day(), req->last_day()));
    std::vector<v1::WhitelistEntry> entries;
    v1::ListWhitelistRequest request;
    request.set_include_expired(true);
    request.mutable_scope()->set_unit_code(scope);
    request.mutable_scope()->set_include_descendants(!scope.empty());
    AW_RETURN_IF_ERROR(ForEachPage(*p_.monitor, &v1::MonitorService::Stub::ListWhitelist, request,
                                   "monitor ListWhitelist", [&] { return ChildContext(*ctx, p_.call_timeout); },
                                   [&](const v1::ListWhitelistResponse& r) {
                                     for (const v1::WhitelistEntry& e : r.entries()) {
                                       const absl::CivilDay made = absl::ToCivilDay(
                                           TimeOf(e.audit().created_at()), absl::UTCTimeZone());
                                       if (made >= first && made <= last) entries.push_back(e);
                                     }
                                     return absl::OkStatus();
                                   }));
    const absl::CivilDay today = absl::ToCivilDay(p_.clock->Now(), absl::UTCTimeZone());
    for (const auto& part : {CheckPlans(plans, std::min(today, last)), CheckOrders(orders, p_.quality),
                             CheckWhitelist(entries, p_.quality)}) {
      for (const auto& f : part) *resp->add_findings() = f;
    }
    return absl::OkStatus();
  });
}

grpc::ServerWriteReactor<v1::AuditFactChange>* AuditServiceImpl::WatchAuditFacts(
    Ctx* ctx, const v1::WatchAuditFactsRequest* req) {
  if (grpc::Status s = CheckIdentity(*ctx); !s.ok()) return new FailedWriteReactor<v1::AuditFactChange>(s);
  if (req->from_seq() < 0) {
    return new FailedWriteReactor<v1::AuditFactChange>(
        grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "from_seq: must not be negative"));
  }
  return p_.feed->Subscribe(NewFactsReader(p_.store), req->from_seq());
}

}  // namespace aw::audit
