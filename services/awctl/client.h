// What every awctl command shares: its --name=value flags, and the channel to
// the gateway with the caller's credentials on every call.
//
// Credentials come from files or the environment, never from the command
// line (where `ps` and shell history would show them): --key-file=PATH or
// AW_API_KEY for an API key, --token-file=PATH or AW_TOKEN for a bearer
// token. The gateway is --gateway=HOST:PORT or AW_GATEWAY (127.0.0.1:7100);
// --tls-ca=PEM or AW_GATEWAY_CA makes the channel TLS, trusting that CA.
#pragma once

#include <istream>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "absl/status/statusor.h"

namespace aw::awctl {

// --flag=value arguments of a command.
class Flags {
 public:
  explicit Flags(const std::vector<std::string>& args);
  // The value of --name, or `fallback`.
  std::string Get(const std::string& name, const std::string& fallback) const;
  // Every value of a flag that may repeat (--role=A --role=B).
  std::vector<std::string> All(const std::string& name) const;
  bool Has(const std::string& name) const;
  // The first argument not of the form --name=value, or a flag not in
  // `known` (the connection flags are always known).
  std::string Unknown(const std::vector<std::string>& known) const;
  // Arguments that are not flags (a file name), in order.
  const std::vector<std::string>& positional() const { return positional_; }

 private:
  std::vector<std::pair<std::string, std::string>> values_;
  std::vector<std::string> positional_;
};

// A channel whose calls carry the metadata `key: value` (credentials).
std::shared_ptr<grpc::Channel> ChannelWithMetadata(const std::string& address, const std::string& key,
                                                   const std::string& value,
                                                   std::shared_ptr<grpc::ChannelCredentials> credentials,
                                                   const grpc::ChannelArguments& args = grpc::ChannelArguments());

// The gateway's address from the flags or the environment.
std::string GatewayAddress(const Flags& flags);

// A channel to the gateway carrying the caller's key or token;
// `need_credentials` false allows none (the bootstrap). An error names the
// flag or file at fault.
absl::StatusOr<std::shared_ptr<grpc::Channel>> OpenGateway(const Flags& flags, bool need_credentials = true);

// OpenGateway, printing the error (and returning null) when it fails.
std::shared_ptr<grpc::Channel> Connect(const Flags& flags, bool need_credentials = true);

// The caller's API key from --key-file or AW_API_KEY ("" when none).
absl::StatusOr<std::string> ApiKey(const Flags& flags);

// Prints "awctl: <what>: <status>" to stderr; returns 1.
int Failed(const std::string& what, const grpc::Status& status);
// True (having printed it as Failed does) when `status` is not OK.
bool Refused(const grpc::Status& status, const std::string& what);

// A context for one call that must end within `seconds`.
std::unique_ptr<grpc::ClientContext> Deadline(int seconds);

// One line of progress on stderr: "<verb> [####....]  42%  <detail>",
// redrawn in place on a terminal, every tenth on a log.
class ProgressBar {
 public:
  ProgressBar(std::string verb, int64_t total);
  // `last`: the final state, shown whatever was shown before.
  void Show(int64_t done, const std::string& detail, bool last = false);
  void Done();

 private:
  const std::string verb_;
  const int64_t total_;
  const bool tty_;
  int last_tenth_ = -1;
};

// The SHA-256 of everything `in` holds, in hex.
std::string Sha256Hex(std::istream& in);

}  // namespace aw::awctl
