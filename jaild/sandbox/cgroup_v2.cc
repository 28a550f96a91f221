// cgroup v2: one directory per job beneath the root jaild owns (its Delegate=yes cgroup).
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

#include <spdlog/spdlog.h>

#include "jaild/sandbox/cgroup.h"
#include "jaild/sandbox/cgroup_detect.h"

namespace jaild::cgroup {
namespace {

using namespace detail;

constexpr std::uint64_t kCpuPeriodUsec = 100000;  // cpu.max's default period; 100 % = one CPU

std::string limit_or_max(std::uint64_t value) { return value == 0 ? "max" : std::to_string(value); }

std::runtime_error start_error(const std::string& what, const std::filesystem::path& path, int err) {
    return std::runtime_error("cgroup v2: " + what + " " + path.string() + ": " + std::strerror(err));
}

// What a job's cgroup gets written, in order (create() and set_limits()).
struct LimitFile {
    const char* name;
    std::string value;
    bool optional;  // a kernel without the feature lacks the file; that is not an error
};

std::vector<LimitFile> limit_files(const JobLimits& limits, bool cpu) {
    std::vector<LimitFile> files{
        {"memory.max", limit_or_max(limits.memory_bytes), false},
        // No swap, so the memory limit is the real limit (the file is absent without swap accounting).
        {"memory.swap.max", "0", true},
        // An OOM kills the whole job rather than one random process of it (4.19+), unless the job is a live
        // sandbox (JobLimits::oom_kills_all).
        {"memory.oom.group", limits.oom_kills_all ? "1" : "0", true},
        {"pids.max", limit_or_max(limits.pids_max), false},
    };
    if (limits.cpu_quota_percent > 0 && cpu) {
        const auto quota = limits.cpu_quota_percent * kCpuPeriodUsec / 100;
        files.push_back({"cpu.max", std::to_string(quota) + " " + std::to_string(kCpuPeriodUsec), false});
    }
    return files;
}

class JobV2 final : public JobCgroup {
public:
    JobV2(std::filesystem::path dir, unique_fd dir_fd, bool cpu = false)
        : dir_(std::move(dir)), dir_fd_(std::move(dir_fd)), cpu_(cpu) {}

    // Runs in jaild after create(): the directory fd doubles as the CLONE_INTO_CGROUP fd; cgroup.procs is
    // the fallback for kernels without clone3 (before 5.7), where the child writes "0" to it.
    std::error_code open_attach() {
        procs_fd_.reset(::openat(dir_fd_.get(), "cgroup.procs", O_WRONLY | O_CLOEXEC | O_CREAT | O_NOFOLLOW, 0644));
        if (!procs_fd_) return last_error();
        attach_.clone_into_fd = dir_fd_.get();
        attach_.procs_fds[0] = procs_fd_.get();
        attach_.procs_count = 1;
        return {};
    }

    const AttachFds& attach() const override { return attach_; }

    std::error_code set_limits(const JobLimits& limits) override {
        for (const auto& f : limit_files(limits, cpu_)) {
            const auto ec = f.optional ? write_optional_at(dir_fd_.get(), f.name, f.value)
                                       : write_at(dir_fd_.get(), f.name, f.value);
            if (ec) {
                spdlog::error("cgroup: write {}/{} = {}: {}", dir_.string(), f.name, f.value, ec.message());
                return ec;
            }
        }
        return {};
    }

    // Runs in jaild (timer, cancel, teardown).
    std::error_code kill_all() override {
        if (empty()) return {};  // nothing to kill (and a stale, empty cgroup needs no write before rmdir)
        const int fd = dir_fd_.get();
        const auto ec = write_at(fd, "cgroup.kill", "1");
        if (!ec || exists_at(fd, "cgroup.kill")) return ec;
        // No cgroup.kill before 5.14: freeze first so nothing forks while we signal (v2 delivers SIGKILL to
        // frozen tasks), then thaw. Without cgroup.freeze (before 5.2) kill_listed loops until empty.
        const bool frozen = !write_at(fd, "cgroup.freeze", "1");
        const auto killed = kill_listed({fd}, frozen);
        if (frozen) write_at(fd, "cgroup.freeze", "0");
        return killed;
    }

    // Runs in jaild after the job ended.
    JobStats stats() const override {
        const int fd = dir_fd_.get();
        JobStats s;
        s.cpu_usec = keyed_value(read_at(fd, "cpu.stat").value_or(""), "usage_usec").value_or(0);
        s.memory_peak_bytes = read_number_at(fd, "memory.peak").value_or(0);  // memory.peak: 5.19+
        const auto events = read_at(fd, "memory.events").value_or("");
        s.oom_killed =
            keyed_value(events, "oom_kill").value_or(0) > 0 || keyed_value(events, "oom_group_kill").value_or(0) > 0;
        return s;
    }

    bool empty() const override {
        // cgroup.events covers descendants too; cgroup.procs is the fallback (and what a fake tree has).
        if (const auto events = read_at(dir_fd_.get(), "cgroup.events"))
            if (const auto populated = keyed_value(*events, "populated")) return *populated == 0;
        return read_pids(dir_fd_.get()).empty();
    }

    std::error_code remove() override {
        if (removed_) return {};  // a new job-<name> may exist by now: never rmdir twice
        const auto ec = remove_dir(dir_);
        removed_ = !ec;
        return ec;
    }

private:
    std::filesystem::path dir_;
    unique_fd dir_fd_;
    bool cpu_;
    unique_fd procs_fd_;
    AttachFds attach_;
    bool removed_ = false;
};

class ManagerV2 final : public Manager {
public:
    ManagerV2(std::filesystem::path root, bool cpu) : root_(std::move(root)), cpu_(cpu) {}

    std::string_view version() const override { return "v2"; }

    // Runs in jaild before spawning a job.
    std::unique_ptr<JobCgroup> create(std::string_view name, const JobLimits& limits, std::error_code& ec) override {
        ec.clear();
        if (!valid_job_name(name)) {
            ec = std::make_error_code(std::errc::invalid_argument);
            return nullptr;
        }
        const auto dir = root_ / ("job-" + std::string(name));
        if (::mkdir(dir.c_str(), 0755) != 0) {
            ec = last_error();
            spdlog::error("cgroup: mkdir {}: {}", dir.string(), ec.message());
            return nullptr;
        }
        auto job = populate(dir, limits, ec);
        if (!job) remove_dir(dir);  // on real cgroupfs this removes the interface files with it
        return job;
    }

    // Runs in jaild at start-up, before it accepts requests.
    int cleanup_stale() override {
        std::vector<std::unique_ptr<JobCgroup>> jobs;
        for (const auto& name : list_jobs()) {
            if (owned_by_live_jaild(name)) continue;
            auto fd = open_dir(root_ / name);
            if (fd) jobs.push_back(std::make_unique<JobV2>(root_ / name, std::move(fd)));
        }
        return cleanup_jobs(jobs);
    }

    std::vector<std::string> list_jobs() const override { return list_job_dirs(root_); }

    // Runs in jaild --check.
    std::vector<std::string> describe() const override {
        const auto fd = open_dir(root_);
        const auto subtree = fd ? read_at(fd.get(), "cgroup.subtree_control").value_or("") : "";
        std::vector<std::string> lines;
        for (const std::string c : {"memory", "pids", "cpu"}) {
            // The kernel lists enabled controllers bare; a fake tree keeps the "+name" we wrote.
            const bool enabled = has_word(subtree, c) || has_word(subtree, "+" + c);
            std::string state = enabled ? "ok" : "not enabled";
            if (c == "cpu" && !cpu_) state = "not available (cpu quotas are ignored)";
            lines.push_back(c + ": " + root_.string() + " " + state);
        }
        return lines;
    }

    bool has_cpu_controller() const override { return cpu_; }

private:
    std::unique_ptr<JobV2> populate(const std::filesystem::path& dir, const JobLimits& limits,
                                    std::error_code& ec) const {
        auto fd = open_dir(dir);
        if (!fd) {
            ec = last_error();
            return nullptr;
        }
        auto job = std::make_unique<JobV2>(dir, std::move(fd), cpu_);
        if ((ec = job->set_limits(limits)) || (ec = job->open_attach())) return nullptr;
        return job;
    }

    std::filesystem::path root_;
    bool cpu_;
};

// Moves every process of `root` into root/supervisor: controllers can only be enabled in the
// subtree_control of a cgroup without member processes (the "no internal processes" rule).
void move_into_supervisor(const std::filesystem::path& root, int root_fd) {
    const auto pids = read_pids(root_fd);
    if (pids.empty()) return;
    if (::mkdirat(root_fd, "supervisor", 0755) != 0 && errno != EEXIST)
        throw start_error("cannot create", root / "supervisor", errno);
    const auto sup = open_dir_at(root_fd, "supervisor");
    if (!sup) throw start_error("cannot open", root / "supervisor", errno);
    for (const pid_t pid : pids) {
        const auto ec = write_at(sup.get(), "cgroup.procs", std::to_string(pid));
        if (ec && ec.value() != ESRCH)  // ESRCH: it exited meanwhile
            throw start_error("cannot move pid " + std::to_string(pid) + " into", root / "supervisor", ec.value());
    }
}

}  // namespace

// Runs in jaild at start-up (detect()), or in tests over a fake tree with move_self = false.
std::unique_ptr<Manager> make_v2(const std::filesystem::path& root, bool move_self) {
    const auto fd = open_dir(root);
    if (!fd) throw start_error("cannot open cgroup root", root, errno);
    if (move_self) move_into_supervisor(root, fd.get());
    const auto controllers = read_at(fd.get(), "cgroup.controllers").value_or("");
    for (const auto* c : {"memory", "pids"})
        if (!has_word(controllers, c))
            throw std::runtime_error(std::string("cgroup v2 ") + c + " controller not delegated to " + root.string() +
                                     ": set Delegate=yes in jaild.service");
    bool cpu = has_word(controllers, "cpu");
    auto ec = write_at(fd.get(), "cgroup.subtree_control", cpu ? "+memory +pids +cpu" : "+memory +pids");
    if (ec && cpu) {
        // The write is all-or-nothing, and cpu may be refused (e.g. a realtime task in the subtree).
        ec = write_at(fd.get(), "cgroup.subtree_control", "+memory +pids");
        if (!ec) spdlog::warn("cgroup: cannot enable cpu in {}: cpu quotas are ignored", root.string());
        cpu = false;
    }
    if (ec) throw start_error("cannot enable +memory +pids in", root / "cgroup.subtree_control", ec.value());
    return std::make_unique<ManagerV2>(root, cpu);
}

}  // namespace jaild::cgroup
