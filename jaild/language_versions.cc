#include "jaild/language_versions.h"

#include <fmt/format.h>
#include <poll.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <thread>

#include "common/linux_compat.h"
#include "jaild/child.h"
#include "jaild/spawn.h"

namespace jaild {

namespace {

constexpr std::size_t kMaxOutput = 64 * 1024;
constexpr int kTimeoutMs = 10'000;

struct Outcome {
    bool ok = false;
    std::string output;  // stdout, then stderr when stdout is empty
    std::string why;
};

// Runs argv in a sandbox as the probe uid and collects its output. Everything it holds is gone on return.
Outcome run_once(const Language& language, const Config& config, const Spawner& spawner, cgroup::Manager* cgroups) {
    Outcome out;
    RunPlan plan;
    plan.argv = language.version_argv;
    plan.env = {std::string("PATH=") + sandbox_path_env, "HOME=/workspace", "LANG=C.UTF-8", "TMPDIR=/tmp"};
    for (const auto& [key, value] : language.env) plan.env.push_back(key + "=" + value);
    plan.cwd = workspace_dir;
    plan.limits = {5000, kTimeoutMs, 256ull << 20, 1 << 20, 64, 64, kMaxOutput, 16 << 20, 8 << 20};
    std::error_code ec;
    std::unique_ptr<cgroup::JobCgroup> group;
    if (cgroups) {
        group = cgroups->create("version-" + std::to_string(::getpid()), {plan.limits.memory_bytes, 64, 0}, ec);
        if (!group) {
            out.why = "cannot create a cgroup: " + ec.message();
            return out;
        }
    }
    const std::uint32_t uid = config.sandbox.uid_base + config.sandbox.uid_count - 1;
    Spawned spawned = spawner.spawn(plan, uid, group.get(), cgroups && cgroups->version() == "v2", ec);
    if (ec) {
        out.why = "clone3: " + ec.message();
    } else {
        spawned.stdin_w.reset();
        std::string streams[2];
        pollfd fds[3] = {
            {spawned.stdout_r.get(), POLLIN, 0}, {spawned.stderr_r.get(), POLLIN, 0}, {spawned.pidfd.get(), POLLIN, 0}};
        const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(kTimeoutMs);
        int open_streams = 2;
        while (open_streams > 0) {
            const auto left =
                std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
            if (left.count() <= 0 || ::poll(fds, 2, static_cast<int>(left.count())) <= 0) {
                sys::pidfd_send_signal(spawned.pidfd.get(), SIGKILL);
                out.why = "timed out";
                break;
            }
            for (int i = 0; i < 2; ++i) {
                if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP))) continue;
                char buffer[4096];
                const ssize_t n = ::read(fds[i].fd, buffer, sizeof buffer);
                if (n <= 0) {
                    fds[i].fd = -1;
                    --open_streams;
                } else if (streams[i].size() < kMaxOutput) {
                    streams[i].append(buffer, static_cast<std::size_t>(n));
                }
            }
        }
        siginfo_t info{};
        ::waitid(static_cast<idtype_t>(P_PIDFD), static_cast<id_t>(spawned.pidfd.get()), &info, WEXITED);
        ChildReport report;
        while (::read(spawned.report_r.get(), &report, sizeof report) == sizeof report) {
            if (report.kind == ChildReport::failed && out.why.empty())
                out.why = spawner.describe_failure(report, spawned);
            if (report.kind == ChildReport::exited && out.why.empty()) {
                if (WIFEXITED(report.wait_status) && WEXITSTATUS(report.wait_status) == 0)
                    out.ok = true;
                else
                    out.why = "exited with status " + std::to_string(report.wait_status);
            }
        }
        out.output = streams[0].empty() ? streams[1] : streams[0];
    }
    for (int attempt = 0; group && attempt < 100; ++attempt) {
        if (!group->remove()) break;
        group->kill_all();
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return out;
}

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
        Outcome outcome = run_once(language, config, spawner, cgroups);
        std::string version = first_line(outcome.output);
        if (!outcome.ok || version.empty()) {
            spdlog::warn("language {} disabled: `{}` failed in the sandbox: {}", language.name,
                         fmt::join(language.version_argv, " "), outcome.why.empty() ? "no output" : outcome.why);
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
