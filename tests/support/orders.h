// A work-order command for tests: the order's id and the version it was last
// read at, an idempotency key and an optional comment.
#pragma once

#include <string>

#include "auditwatch/v1/audit.pb.h"

namespace aw::testing {

inline auditwatch::v1::WorkOrderCommand Cmd(const auditwatch::v1::WorkOrder& order, const std::string& key,
                                             const std::string& comment = "") {
  auditwatch::v1::WorkOrderCommand c;
  c.set_work_order_id(order.id());
  c.set_expected_version(order.audit().version());
  c.set_idempotency_key(key);
  c.set_comment(comment);
  return c;
}

}  // namespace aw::testing
