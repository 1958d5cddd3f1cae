// awctl: the operator's command-line client of auditwatch.
//   awctl health [--wait=DURATION] [--addr=SERVICE=HOST:PORT ...]
// prints each service's grpc.health.v1 status; exits 0 when all are SERVING
// (waiting up to DURATION for that), 1 otherwise.
#include <cstdio>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "services/modules.h"

namespace {

using grpc::health::v1::HealthCheckResponse;

struct Target {
  std::string service;
  std::string grpc_service;
  std::string address;
};

std::string Check(const Target& t, const std::shared_ptr<grpc::Channel>& channel) {
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(2));
  grpc::health::v1::HealthCheckRequest request;
  request.set_service(t.grpc_service);
  HealthCheckResponse response;
  const grpc::Status s = grpc::health::v1::Health::NewStub(channel)->Check(&ctx, request, &response);
  if (!s.ok()) return absl::StrCat("UNREACHABLE (", s.error_message(), ")");
  return HealthCheckResponse::ServingStatus_Name(response.status());
}

int Health(const std::vector<std::string>& args) {
  absl::Duration wait = absl::ZeroDuration();
  std::map<std::string, std::string> addrs;
  for (const std::string& a : args) {
    if (absl::StartsWith(a, "--wait=")) {
      if (!absl::ParseDuration(a.substr(7), &wait)) {
        std::fprintf(stderr, "awctl: --wait: expected a duration such as 60s\n");
        return 2;
      }
    } else if (absl::StartsWith(a, "--addr=") && a.find('=', 7) != std::string::npos) {
      const size_t eq = a.find('=', 7);
      addrs[a.substr(7, eq - 7)] = a.substr(eq + 1);
    } else {
      std::fprintf(stderr, "awctl health: unknown argument %s\n", a.c_str());
      return 2;
    }
  }
  std::vector<Target> targets;
  for (const aw::ModuleDef& d : aw::AllModules()) {
    std::string addr = absl::StrCat("127.0.0.1:", d.default_port);
    if (auto it = addrs.find(d.name); it != addrs.end()) addr = it->second;
    targets.push_back({d.name, d.grpc_service, addr});
  }
  std::vector<std::shared_ptr<grpc::Channel>> channels;
  for (const Target& t : targets) {
    channels.push_back(grpc::CreateChannel(t.address, grpc::InsecureChannelCredentials()));
  }
  const absl::Time give_up = absl::Now() + wait;
  for (;;) {
    std::vector<std::string> states;
    bool all = true;
    for (size_t i = 0; i < targets.size(); ++i) {
      states.push_back(Check(targets[i], channels[i]));
      all = all && states.back() == "SERVING";
    }
    if (all || absl::Now() >= give_up) {
      std::printf("%-8s %-21s %-32s %s\n", "SERVICE", "ADDRESS", "GRPC SERVICE", "HEALTH");
      for (size_t i = 0; i < targets.size(); ++i) {
        std::printf("%-8s %-21s %-32s %s\n", targets[i].service.c_str(),
                    targets[i].address.c_str(), targets[i].grpc_service.c_str(),
                    states[i].c_str());
      }
      return all ? 0 : 1;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
  }
}

void Usage() {
  std::fputs(
      "usage: awctl <command> [flags]\n\n"
      "commands:\n"
      "  health [--wait=60s] [--addr=SERVICE=HOST:PORT ...]\n"
      "      grpc.health.v1 status of every service; exit 0 when all are SERVING\n",
      stderr);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    Usage();
    return 2;
  }
  const std::string command = argv[1];
  const std::vector<std::string> args(argv + 2, argv + argc);
  if (command == "health") return Health(args);
  Usage();
  return 2;
}
