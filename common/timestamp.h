// Times in messages: google.protobuf.Timestamp to and from absl::Time. Times
// are kept to the microsecond, PostgreSQL's resolution.
#pragma once

#include <google/protobuf/timestamp.pb.h>

#include "absl/time/time.h"

namespace aw {

void SetTimestamp(absl::Time t, google::protobuf::Timestamp* out);
absl::Time TimeOf(const google::protobuf::Timestamp& timestamp);

}  // namespace aw
