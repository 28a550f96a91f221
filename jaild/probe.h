// What this host allows, found by trying it: what kind of host it is (host_kind.h, for advice that fits it),
// each namespace in a throw-away child, the kernel features beyond them (pidfds, private mounts, the seccomp
// kill-process action), the job cgroup with its limits, and then the complete sandbox (the same Spawner as
// every run) running `true`. Used by
// `jaild --check`, at start (jaild refuses to serve when a required item fails) and by `jailctl check`.
#pragma once

#include <string>
#include <vector>

#include "common/config.h"
#include "jaild/sandbox/cgroup.h"

namespace jaild {

class Spawner;
namespace v1 {
class CheckReport;
}

struct ProbeItem {
    std::string name;
    bool ok = false;
    bool required = true;
    std::string detail;
    std::string fix;
};

struct ProbeReport {
    std::vector<ProbeItem> items;
    bool usable = false;
    std::string cgroup_version;
    std::string kernel;
};

// jaild's thread; blocks for the few milliseconds the probe children live. `cgroups` or `spawner` are null
// when they could not be built, and `setup_error` then says why.
ProbeReport probe_host(const Config& config, cgroup::Manager* cgroups, const Spawner* spawner,
                       const std::string& setup_error = {});

v1::CheckReport to_proto(const ProbeReport& report);

}  // namespace jaild
