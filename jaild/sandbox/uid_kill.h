// Chroot mode's way to end a run (sandbox.isolation = "chroot"): no PID namespace dies with the run's PID 1, so
// every process of the run's uid (each running sandbox has a uid of its own, uid_pool.h) is killed instead.
#pragma once

#include <cstdint>
#include <string_view>
#include <system_error>
#include <vector>

namespace jaild {

// SIGKILL to every process whose real or saved uid is `uid`, as kill(-1, SIGKILL) sends it from a short-lived
// process that holds that uid in all its ids and no capability: it reaches exactly the processes that uid may
// signal, however they were started, and none that a fork could add meanwhile (the kernel fails a fork whose
// parent has a fatal signal pending). Blocks for that process's life (well under a millisecond). Errors:
// the clone's, or the helper's exit status as EPERM when it could not take the uid (it then killed nothing).
std::error_code kill_uid(std::uint32_t uid);

// The uids in [first, first + count) that some process has as its real uid, from a /proc-style directory (at
// start: a run left behind by a jaild that died). Unreadable entries (processes that ended meanwhile) are
// skipped.
std::vector<std::uint32_t> uids_with_processes(std::string_view proc, std::uint32_t first, std::uint32_t count);

}  // namespace jaild
