// The text of a host probe report, the same from `jaild --check` and `jailctl check`.
#pragma once

#include <string>

#include "jaild.pb.h"

namespace jaild {

std::string check_report_text(const v1::CheckReport& report);

// `jaild --check` and `jailctl check` exit with this when a required feature is missing (EX_CONFIG).
inline constexpr int check_failed_exit = 78;

}  // namespace jaild
