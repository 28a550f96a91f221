// A sandbox setup failure in words, beside stage_name (child.h): "mounts: bind /usr (from /usr): Permission
// denied". Parent side only: it allocates.
#pragma once

#include <string>
#include <string_view>

#include "jaild/sandbox/child_abi.h"

namespace jaild {

// The failed report's stage, what it names (`mount`: the failing mount described, for Stage::mounts; the
// resource number for Stage::rlimits) and its errno.
std::string stage_failure_text(const ChildReport& report, std::string_view mount = {});

}  // namespace jaild
