// Before a process of the program's uid joins a warm sandbox from outside (a zygote's child, zygote.h), its
// PID 1 must have settled its ids: the execve that made it jaild-reaper left the program's uid in its saved
// slot, which would let such a process signal it, until its first act puts its own uid back there
// (reaper_main.cc). A warm reaper says so with a ChildReport::settled record (child_abi.h).
#pragma once

#include <chrono>

#include "jaild/sandbox/spawn.h"

namespace jaild {

// Waits up to `timeout` for the settled record on the sandbox's report channel. A record of another kind read
// meanwhile (a failure) is kept in early_reports for the run. False when the record did not come: the sandbox
// failed or ended (its records say why), or took longer than `timeout`.
bool wait_reaper_settled(Spawned& sandbox, std::chrono::milliseconds timeout);

}  // namespace jaild
