#include "jaild/language_dirs.h"

#include <filesystem>
#include <system_error>

namespace jaild {

namespace fs = std::filesystem;

namespace {

bool same_directory(const fs::path& a, const fs::path& b) {
    std::error_code ec;
    return !a.empty() && !b.empty() && fs::equivalent(a, b, ec) && !ec;
}

bool exists(const std::string& path) {
    std::error_code ec;
    return fs::exists(path, ec);
}

}  // namespace

LanguageDirs choose_language_dirs(const LanguagesConfig& configured, const BuildTree& tree,
                                  const std::string& self_exe) {
    LanguageDirs out{configured, false};
    if (tree.bin_dir.empty() || tree.source_dir.empty()) return out;
    if (!same_directory(fs::path(self_exe).parent_path(), tree.bin_dir)) return out;
    const LanguagesConfig defaults;
    const fs::path source = tree.source_dir;
    if (configured.dir == defaults.dir && !exists(configured.dir) && exists(source / "languages")) {
        out.dirs.dir = source / "languages";
        out.from_source_tree = true;
    }
    if (configured.support_dir == defaults.support_dir && !exists(configured.support_dir) &&
        exists(source / "languages" / "support")) {
        out.dirs.support_dir = source / "languages" / "support";
        out.from_source_tree = true;
    }
    return out;
}

}  // namespace jaild
