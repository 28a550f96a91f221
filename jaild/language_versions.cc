#include "jaild/language_versions.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include "jaild/sandbox/one_shot.h"
#include "jaild/sandbox/uid_pool.h"

namespace jaild {

namespace {

constexpr int kTimeoutMs = 10'000;

std::string first_line(const std::string& text) {
    std::string line = text.substr(0, text.find('\n'));
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.pop_back();
    return line;
}

}  // namespace

std::vector<Language> read_versions(std::vector<Language> languages, const Config& config, const Spawner& spawner,
                                    cgroup::Manager* cgroups) {
    std::vector<Language> enabled;
    for (Language& language : languages) {
        RunPlan plan;
        plan.argv = language.version_argv;
        plan.env = {std::string("PATH=") + sandbox_path_env, "HOME=/workspace", "LANG=C.UTF-8", "TMPDIR=/tmp"};
        for (const auto& [key, value] : language.env) plan.env.push_back(key + "=" + value);
        plan.cwd = workspace_dir;
        plan.limits = {5000, kTimeoutMs, 256ull << 20, 1 << 20, 64, 64, 64 * 1024, 16 << 20, 8 << 20};
        const std::uint32_t uid = probe_uid(config.sandbox.uid_base, config.sandbox.uid_count);
        // Its cgroup's name starts with jaild's pid, so another jaild's stale-cgroup sweep leaves it alone (cgroup.cc).
        const OneShot shot =
            run_one_shot(spawner, cgroups, plan, uid, std::to_string(::getpid()) + "-version", kTimeoutMs);
        std::string version = first_line(shot.out.empty() ? shot.err : shot.out);
        if (!shot.exited_zero() || version.empty()) {
            const std::string why = !shot.failure.empty() ? shot.failure
                                    : !shot.error.empty() ? shot.error
                                    : shot.exited_zero()  ? "no output"
                                                          : "it did not exit 0";
            spdlog::warn("language {} disabled: `{}` failed in the sandbox: {}", language.name,
                         fmt::join(language.version_argv, " "), why);
            continue;
        }
        // "Python 3.11.2" -> "3.11.2"; "v20.1.0" -> "20.1.0": the version, not the product's name.
        if (const auto space = version.rfind(' '); space != std::string::npos) version = version.substr(space + 1);
        if (!version.empty() && version.front() == 'v') version.erase(0, 1);
        language.version = version;
        spdlog::info("language {} {} ({})", language.name, language.version, language.file);
        enabled.push_back(std::move(language));
    }
    return enabled;
}

}  // namespace jaild
