#include "common/worker_pool.h"

#include <atomic>

#include <catch2/catch.hpp>

#include "absl/synchronization/notification.h"

namespace aw {
namespace {

TEST_CASE("WorkerPool runs every queued task before shutting down", "[worker_pool]") {
  std::atomic<int> ran{0};
  {
    WorkerPool pool("test", 2, 100);
    for (int i = 0; i < 100; ++i) REQUIRE(pool.TrySubmit([&] { ++ran; }));
  }  // destructor drains
  CHECK(ran == 100);
}

TEST_CASE("WorkerPool refuses work beyond its queue instead of growing", "[worker_pool]") {
  WorkerPool pool("test", 1, 2);
  absl::Notification release;
  absl::Notification started;
  REQUIRE(pool.TrySubmit([&] {
    started.Notify();
    release.WaitForNotification();
  }));
  started.WaitForNotification();  // the only worker is now busy
  CHECK(pool.TrySubmit([] {}));
  CHECK(pool.TrySubmit([] {}));
  CHECK(pool.queued() == 2);
  CHECK_FALSE(pool.TrySubmit([] {}));  // full
  release.Notify();
  pool.Shutdown();
  CHECK(pool.queued() == 0);
}

TEST_CASE("WorkerPool refuses work after shutdown", "[worker_pool]") {
  WorkerPool pool("test", 2, 10);
  pool.Shutdown();
  CHECK_FALSE(pool.TrySubmit([] {}));
  pool.Shutdown();  // idempotent
}

TEST_CASE("WorkerPool runs tasks concurrently on its threads", "[worker_pool]") {
  WorkerPool pool("test", 2, 10);
  absl::Notification a_running, b_running;
  // Each task waits for the other: only two threads running at once finish.
  REQUIRE(pool.TrySubmit([&] {
    a_running.Notify();
    b_running.WaitForNotification();
  }));
  REQUIRE(pool.TrySubmit([&] {
    b_running.Notify();
    a_running.WaitForNotification();
  }));
  pool.Shutdown();
  CHECK(a_running.HasBeenNotified());
  CHECK(b_running.HasBeenNotified());
}

}  // namespace
}  // namespace aw
