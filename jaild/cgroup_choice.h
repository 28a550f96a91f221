// Which cgroups jaild's runs get: the host's, or — in degraded mode ([sandbox] degraded = true) where those
// cannot be used — none (cgroup::make_none), with what degraded mode turns off.
#pragma once

#include <memory>
#include <string>

#include "common/config.h"
#include "jaild/sandbox/cgroup.h"

namespace jaild {

// The host's cgroup manager, its stale job cgroups removed. When they cannot be used: in degraded mode the
// manager without cgroups, with warm sandboxes and zygotes turned off in `config` (their runs would start
// before the run's memory limit is known, and it is an rlimit there); otherwise nullptr and `setup_error`
// says why.
std::unique_ptr<cgroup::Manager> choose_cgroups(Config& config, std::string& setup_error);

// True when `cgroups` is degraded mode's manager, without cgroups.
bool is_degraded(const cgroup::Manager* cgroups);

}  // namespace jaild
