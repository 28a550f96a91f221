#include "common/check_report_text.h"

#include <fmt/format.h>

namespace jaild {

std::string check_report_text(const v1::CheckReport& report) {
    std::string out = fmt::format("kernel: {}\ncgroups: {}\n\n", report.kernel(), report.cgroup_version());
    for (const v1::CheckItem& item : report.items()) {
        const char* mark = item.ok() ? "ok  " : (item.required() ? "FAIL" : "WARN");
        out += fmt::format("  [{}] {}{}\n", mark, item.name(), item.detail().empty() ? "" : ": " + item.detail());
        if (!item.ok() && !item.fix().empty()) out += fmt::format("         fix: {}\n", item.fix());
    }
    out += report.usable() ? "\njaild can run sandboxes on this host.\n"
                           : "\njaild cannot run sandboxes on this host: fix the FAIL items above.\n";
    return out;
}

}  // namespace jaild
