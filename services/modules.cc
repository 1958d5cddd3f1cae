#include "services/modules.h"

#include "auditwatch/v1/report.grpc.pb.h"
#include "services/audit/module.h"
#include "services/gateway/module.h"
#include "services/ingest/module.h"
#include "services/monitor/module.h"
#include "services/scoring/module.h"

// Generated from services/<svc>/sql at build time.
namespace aw::report { std::vector<db::EmbeddedFile> MigrationFiles(); }

namespace aw {

namespace v1 = ::auditwatch::v1;

const google::protobuf::ServiceDescriptor* ServiceByName(const char* full_name) {
  return google::protobuf::DescriptorPool::generated_pool()->FindServiceByName(full_name);
}

const std::vector<ModuleDef>& AllModules() {
  // Services whose issue has not landed yet serve the generated base class:
  // each of their methods answers UNIMPLEMENTED.
  static const std::vector<ModuleDef> kModules = {
      ingest::Definition(),
      monitor::Definition(),
      audit::Definition(),
      scoring::Definition(),
      ModuleFor(ServiceByName(v1::ReportService::service_full_name()), {"scoring", "audit"}, &report::MigrationFiles,
                &ServiceModule<v1::ReportService::CallbackService>::Create),
      gateway::Definition(),
  };
  return kModules;
}

}  // namespace aw
