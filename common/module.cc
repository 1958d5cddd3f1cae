#include "common/module.h"

#include "auditwatch/v1/options.pb.h"

namespace aw {

ModuleDef ModuleFor(const google::protobuf::ServiceDescriptor* service, std::vector<std::string> dependencies,
                    std::vector<db::EmbeddedFile> (*migration_files)(),
                    std::function<std::unique_ptr<Module>(const ModuleContext&)> create,
                    std::vector<Setting> settings) {
  const auto& options = service->options();
  return ModuleDef{
      .name = options.GetExtension(auditwatch::v1::module),
      .default_port = options.GetExtension(auditwatch::v1::default_port),
      .grpc_service = service->full_name(),
      .dependencies = std::move(dependencies),
      .migration_files = migration_files,
      .create = std::move(create),
      .settings = std::move(settings),
  };
}

}  // namespace aw
