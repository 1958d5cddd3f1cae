// Calls signed as the gateway signs them, for benchmarks that talk to the
// services' own ports: a context carrying a centre administrator's and
// auditor's identity under `key`, and a key file to start processes with.
#pragma once

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>

#include <grpcpp/grpcpp.h>

#include "auditwatch/v1/common.pb.h"
#include "common/identity.h"

namespace aw::testing {

inline std::unique_ptr<grpc::ClientContext> SignedContext(const IdentityKey& key, int seconds = 600) {
  auto ctx = std::make_unique<grpc::ClientContext>();
  ctx->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(seconds));
  auditwatch::v1::Identity id;
  id.mutable_principal()->set_subject("bench.centre");
  id.mutable_principal()->add_roles(auditwatch::v1::ROLE_CENTRE_ADMIN);
  id.mutable_principal()->add_roles(auditwatch::v1::ROLE_CENTRE_AUDITOR);
  id.set_request_id("bench");
  key.Sign(id, ctx.get());
  return ctx;
}

// A file holding `secret`, in a new temporary folder (remove it with
// std::filesystem::remove_all(path's parent) once the processes have read it).
inline std::string IdentityKeyFile(const std::string& secret) {
  std::string dir = (std::filesystem::temp_directory_path() / "aw-key-XXXXXX").string();
  if (mkdtemp(dir.data()) == nullptr) return "";
  const std::string path = dir + "/identity";
  std::ofstream(path) << secret << "\n";
  return path;
}

}  // namespace aw::testing
