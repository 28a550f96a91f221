#include "jaild/sandbox/stage_text.h"

#include <cstring>

#include "jaild/sandbox/child.h"

namespace jaild {

std::string stage_failure_text(const ChildReport& report, std::string_view mount) {
    std::string text(stage_name(report.stage));
    if (report.stage == Stage::mounts) text.append(": ").append(mount);
    if (report.stage == Stage::rlimits) text += " (resource " + std::to_string(report.detail) + ")";
    return text + ": " + std::strerror(report.err);
}

}  // namespace jaild
