// The protocol's words for jaild's plain results: error codes and run verdicts become v1 messages here, and
// nowhere else.
#pragma once

#include <string_view>

#include "jaild.pb.h"
#include "jaild/error_code.h"
#include "jaild/verdict.h"

namespace jaild {

v1::ErrorCode to_proto(ErrorCode code);
v1::Status to_proto(RunStatus status);
// A verdict that was not measured (degraded mode) says so: memory_kb_unknown and the isolation it had.
v1::Exit to_proto(const Verdict& verdict);
// How degraded mode enforces the limits ([sandbox] degraded = true, no cgroups): Exit's and NodeInfo's.
// How runs are isolated where that is weaker than cgroups and namespaces: `cgroups` false in degraded mode,
// `chroot` in chroot mode, `gvisor` where degraded mode takes what gVisor offers (Spawner::remount_refused).
v1::Isolation isolation_of(bool cgroups, bool chroot, bool gvisor);

// A ServerMessage carrying an Error.
v1::ServerMessage error_reply(ErrorCode code, std::string_view message, std::string_view field = {});

}  // namespace jaild
