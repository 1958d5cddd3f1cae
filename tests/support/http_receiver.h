// A tiny HTTP server on 127.0.0.1 standing in for the SMS/webhook gateway in
// tests: it records every POST and answers 200, or 503 while set to fail.
#pragma once

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"

namespace aw::testing {

class HttpReceiver {
 public:
  struct Request {
    std::string idempotency_key;
    std::string body;
  };

  HttpReceiver();
  ~HttpReceiver();

  std::string url() const;
  void SetFailing(bool failing) { failing_ = failing; }
  // Requests answered 200, in arrival order.
  std::vector<Request> accepted() const;
  int refused() const { return refused_; }

 private:
  void Serve();
  void Handle(int fd);

  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<bool> failing_{false};
  std::atomic<bool> stop_{false};
  std::atomic<int> refused_{0};
  mutable absl::Mutex mu_;
  std::vector<Request> accepted_ ABSL_GUARDED_BY(mu_);
  std::thread thread_;
};

}  // namespace aw::testing
