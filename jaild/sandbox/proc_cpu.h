// The CPU time of one run from /proc, where no cgroup accounts it (degraded mode). gVisor ignores RLIMIT_CPU,
// so there jaild's CPU watch (job.cc) needs this to stop a spinning run at its limit.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>

namespace jaild {

// Milliseconds of CPU used so far by the processes whose real uid is `uid` (the run's program and everything
// it started: a uid belongs to one running sandbox) and by those already reaped by `reaper` (its children's
// times, which the kernel adds to it as it reaps them) or by one of them. `proc`: where procfs is mounted.
std::uint64_t run_cpu_ms(std::uint32_t uid, pid_t reaper, const std::string& proc = "/proc");

}  // namespace jaild
