// Where jaild finds the language registry and the runners' support files. An installed jaild uses its
// configuration's paths only; a jaild run from the build tree it was built in also finds the source tree's
// languages/ when the configured paths are the defaults and do not exist (a checkout that ran no install).
#pragma once

#include <string>

#include "common/config.h"

namespace jaild {

// Compiled into the jaild executable of a build tree: its bin directory and the source tree it came from.
struct BuildTree {
    std::string bin_dir;
    std::string source_dir;
};

// What was chosen, and whether the source tree's copy stands in for the defaults.
struct LanguageDirs {
    LanguagesConfig dirs;
    bool from_source_tree = false;
};

// jaild's thread, at start. `self_exe` is the running binary (/proc/self/exe); the fallback applies only when
// it lives in `tree.bin_dir`, so an installed jaild (/usr/bin) never reads a user's checkout.
LanguageDirs choose_language_dirs(const LanguagesConfig& configured, const BuildTree& tree,
                                  const std::string& self_exe);

}  // namespace jaild
