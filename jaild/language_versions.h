// Reads each language's version at start by running its version command through the full sandbox (so
// the answer is what runs will see, rootfs and all). A language whose command fails is disabled with a
// log line: its runtime is missing or broken on this host.
#pragma once

#include <vector>

#include "common/config.h"
#include "jaild/languages.h"
#include "jaild/sandbox/cgroup.h"

namespace jaild {

class Spawner;

// Blocks jaild's thread for a few tens of milliseconds per language. Returns the enabled languages with
// their versions set.
std::vector<Language> read_versions(std::vector<Language> languages, const Config& config, const Spawner& spawner,
                                    cgroup::Manager* cgroups);

}  // namespace jaild
