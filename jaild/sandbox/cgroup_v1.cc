// cgroup v1: one directory per job in each controller's hierarchy (memory, pids, cpuacct, cpu, freezer).
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <limits>
#include <stdexcept>

#include <spdlog/spdlog.h>

#include "jaild/sandbox/cgroup.h"
#include "jaild/sandbox/cgroup_detect.h"

namespace jaild::cgroup {
namespace {

using namespace detail;

constexpr std::uint64_t kCpuPeriodUsec = 100000;  // cpu.cfs_period_us; 100 % = one CPU

// One job directory: a hierarchy may carry several controllers ("cpu,cpuacct" mounted together).
struct JobDir {
    std::filesystem::path path;
    unique_fd fd;
    std::vector<std::string> controllers;
    bool removed = false;
};

class JobV1 final : public JobCgroup {
public:
    explicit JobV1(std::vector<JobDir> dirs) : dirs_(std::move(dirs)) {}

    std::error_code set_limits(const JobLimits& limits) override;

    // The directory fd holding `controller`, or -1 when this host lacks it.
    int fd_of(std::string_view controller) const {
        for (const auto& d : dirs_)
            if (std::find(d.controllers.begin(), d.controllers.end(), controller) != d.controllers.end())
                return d.fd.get();
        return -1;
    }

    // Runs in jaild after create(): one open cgroup.procs per hierarchy, each of which the child writes "0"
    // to, which moves it (v1 has no CLONE_INTO_CGROUP).
    std::error_code open_attach() {
        for (const auto& d : dirs_) {
            unique_fd fd(::openat(d.fd.get(), "cgroup.procs", O_WRONLY | O_CLOEXEC | O_CREAT | O_NOFOLLOW, 0644));
            if (!fd) return last_error();
            if (attach_.procs_count == static_cast<int>(attach_.procs_fds.size()))
                return std::make_error_code(std::errc::too_many_files_open);
            attach_.procs_fds[static_cast<std::size_t>(attach_.procs_count++)] = fd.get();
            procs_fds_.push_back(std::move(fd));
        }
        return {};
    }

    const AttachFds& attach() const override { return attach_; }

    // Runs in jaild (timer, cancel, teardown): freeze so nothing forks or exits while we read the pid lists
    // and signal, SIGKILL everyone, thaw so the signals are acted on.
    std::error_code kill_all() override {
        if (empty()) return {};  // nothing to kill: spare the freeze/thaw round trip
        const int freezer = fd_of("freezer");
        const bool frozen = freezer >= 0 && freeze(freezer);
        if (freezer >= 0 && !frozen) write_at(freezer, "freezer.state", "THAWED");  // fall back to a kill loop
        const auto ec = kill_listed(dir_fds(), frozen);
        if (frozen) write_at(freezer, "freezer.state", "THAWED");
        return ec;
    }

    // Runs in jaild after the job ended.
    JobStats stats() const override {
        const int memory = fd_of("memory");
        JobStats s;
        s.cpu_usec = read_number_at(fd_of("cpuacct"), "cpuacct.usage").value_or(0) / 1000;  // ns
        s.memory_peak_bytes = read_number_at(memory, "memory.max_usage_in_bytes").value_or(0);
        const auto oom_kills = keyed_value(read_at(memory, "memory.oom_control").value_or(""), "oom_kill");
        if (oom_kills) {
            s.oom_killed = *oom_kills > 0;
        } else {
            // Before 4.13 there is no oom_kill count: a failed charge while at the limit is the best sign.
            const auto limit = read_number_at(memory, "memory.limit_in_bytes");
            s.oom_killed =
                read_number_at(memory, "memory.failcnt").value_or(0) > 0 && limit && s.memory_peak_bytes >= *limit;
        }
        return s;
    }

    bool empty() const override {
        return std::all_of(dirs_.begin(), dirs_.end(), [](const JobDir& d) { return read_pids(d.fd.get()).empty(); });
    }

    std::error_code remove() override {
        std::error_code first;
        for (auto& d : dirs_) {
            if (d.removed) continue;  // a new job-<name> may exist by now: never rmdir twice
            const auto ec = remove_dir(d.path);
            d.removed = !ec;
            if (ec && !first) first = ec;
        }
        return first;
    }

private:
    // Asks the freezer to freeze and waits (bounded) until it has: a task in an uninterruptible sleep
    // (D state) may keep it in FREEZING.
    static bool freeze(int freezer) {
        if (write_at(freezer, "freezer.state", "FROZEN")) return false;
        for (int waited = 0; waited < 100; ++waited) {
            if (read_at(freezer, "freezer.state").value_or("").starts_with("FROZEN")) return true;
            sleep_ms(1);
        }
        return false;
    }

    std::vector<int> dir_fds() const {
        std::vector<int> fds;
        for (const auto& d : dirs_) fds.push_back(d.fd.get());
        return fds;
    }

    std::vector<JobDir> dirs_;
    std::vector<unique_fd> procs_fds_;
    AttachFds attach_;
};

// What create() writes into a fresh job, in order. optional: a kernel without the feature lacks the
// file, which is fine; best_effort: the kernel may refuse it, which is fine too.
enum class Need { required, optional, best_effort };
struct LimitFile {
    const char* controller;
    const char* name;
    std::string value;
    Need need;
};

std::vector<LimitFile> limit_files(const JobLimits& limits, bool cpu, std::uint64_t current_memory_limit) {
    const std::uint64_t memory =
        limits.memory_bytes == 0 ? std::numeric_limits<std::uint64_t>::max() : limits.memory_bytes;
    const std::string memory_value = limits.memory_bytes == 0 ? "-1" : std::to_string(memory);
    // memsw (memory+swap) equal to the limit means no swap. The kernel keeps memsw >= limit_in_bytes, so
    // when lowering the limit (a fresh cgroup has both unlimited) it goes first, when raising memsw does.
    LimitFile limit{"memory", "memory.limit_in_bytes", memory_value, Need::required};
    LimitFile memsw{"memory", "memory.memsw.limit_in_bytes", memory_value, Need::optional};  // swapaccount=1
    std::vector<LimitFile> files;
    if (memory <= current_memory_limit)
        files = {limit, memsw};
    else
        files = {memsw, limit};
    files.push_back({"memory", "memory.swappiness", "0", Need::best_effort});
    files.push_back(
        {"pids", "pids.max", limits.pids_max == 0 ? "max" : std::to_string(limits.pids_max), Need::required});
    if (limits.cpu_quota_percent > 0 && cpu) {
        files.push_back({"cpu", "cpu.cfs_period_us", std::to_string(kCpuPeriodUsec), Need::required});
        files.push_back({"cpu", "cpu.cfs_quota_us", std::to_string(limits.cpu_quota_percent * kCpuPeriodUsec / 100),
                         Need::required});
    }
    return files;
}

std::error_code write_limit(int fd, const LimitFile& f) {
    switch (f.need) {
        case Need::required: return write_at(fd, f.name, f.value);
        case Need::optional: return write_optional_at(fd, f.name, f.value);
        case Need::best_effort: {
            // swappiness: EINVAL in some hierarchies, EACCES when absent; the job runs fine without it.
            const auto ec = write_at(fd, f.name, f.value);
            return ec.value() == EINVAL || ec.value() == EACCES ? std::error_code() : ec;
        }
    }
    return {};
}

std::error_code JobV1::set_limits(const JobLimits& limits) {
    const auto current =
        read_number_at(fd_of("memory"), "memory.limit_in_bytes").value_or(std::numeric_limits<std::uint64_t>::max());
    for (const auto& f : limit_files(limits, fd_of("cpu") >= 0, current)) {
        if (const auto ec = write_limit(fd_of(f.controller), f)) {
            spdlog::error("cgroup: write {} = {} ({}): {}", f.name, f.value, f.controller, ec.message());
            return ec;
        }
    }
    return {};
}

// A v1 hierarchy jaild uses: its base directory and the controllers mounted there.
struct Mounted {
    std::filesystem::path base;
    std::vector<std::string> controllers;
};

class ManagerV1 final : public Manager {
public:
    explicit ManagerV1(std::vector<Mounted> hierarchies) : hierarchies_(std::move(hierarchies)) {}

    std::string_view version() const override { return "v1"; }

    // Runs in jaild before spawning a job.
    std::unique_ptr<JobCgroup> create(std::string_view name, const JobLimits& limits, std::error_code& ec) override {
        ec.clear();
        if (!valid_job_name(name)) {
            ec = std::make_error_code(std::errc::invalid_argument);
            return nullptr;
        }
        auto job = make_dirs("job-" + std::string(name), ec);
        if (!job) return nullptr;
        if (!(ec = job->set_limits(limits))) ec = job->open_attach();
        if (ec) {
            job->remove();  // on real cgroupfs the interface files go with the directory
            return nullptr;
        }
        return job;
    }

    // Runs in jaild at start-up, before it accepts requests.
    int cleanup_stale() override {
        std::vector<std::unique_ptr<JobCgroup>> jobs;
        for (const auto& name : list_jobs())
            if (!owned_by_live_jaild(name)) jobs.push_back(adopt(name));
        return cleanup_jobs(jobs);
    }

    std::vector<std::string> list_jobs() const override {
        std::vector<std::string> names;
        for (const auto& h : hierarchies_)
            for (auto& name : list_job_dirs(h.base)) names.push_back(std::move(name));
        std::sort(names.begin(), names.end());
        names.erase(std::unique(names.begin(), names.end()), names.end());
        return names;
    }

    // Runs in jaild --check.
    std::vector<std::string> describe() const override {
        std::vector<std::string> lines;
        for (const auto& c : kV1Controllers) {
            const auto* h = find(c.name);
            if (!h)
                lines.push_back(std::string(c.name) + ": " + c.if_missing);
            else
                lines.push_back(std::string(c.name) + ": " + h->base.string() +
                                (open_dir(h->base) ? " ok" : " missing"));
        }
        return lines;
    }

    bool has_cpu_controller() const override { return find("cpu") != nullptr; }

private:
    const Mounted* find(std::string_view controller) const {
        for (const auto& h : hierarchies_)
            if (std::find(h.controllers.begin(), h.controllers.end(), controller) != h.controllers.end()) return &h;
        return nullptr;
    }

    // mkdir job_name in every hierarchy; on failure removes the ones it made (never a pre-existing one).
    std::unique_ptr<JobV1> make_dirs(const std::string& job_name, std::error_code& ec) const {
        std::vector<JobDir> dirs;
        for (const auto& h : hierarchies_) {
            JobDir d{h.base / job_name, {}, h.controllers};
            if (::mkdir(d.path.c_str(), 0755) != 0) {
                ec = last_error();
                spdlog::error("cgroup: mkdir {}: {}", d.path.string(), ec.message());
                break;
            }
            d.fd = open_dir(d.path);
            const bool opened = static_cast<bool>(d.fd);
            if (!opened) ec = last_error();
            dirs.push_back(std::move(d));
            if (!opened) break;
        }
        auto job = std::make_unique<JobV1>(std::move(dirs));
        if (ec) {
            job->remove();
            return nullptr;
        }
        return job;
    }

    // The existing directories of a job a previous jaild left behind.
    std::unique_ptr<JobV1> adopt(const std::string& job_name) const {
        std::vector<JobDir> dirs;
        for (const auto& h : hierarchies_) {
            JobDir d{h.base / job_name, open_dir(h.base / job_name), h.controllers};
            if (d.fd) dirs.push_back(std::move(d));
        }
        return std::make_unique<JobV1>(std::move(dirs));
    }

    std::vector<Mounted> hierarchies_;
};

}  // namespace

// Runs in jaild at start-up (detect()), or in tests with bases of their own.
std::unique_ptr<Manager> make_v1(const std::map<std::string, std::filesystem::path>& roots) {
    std::vector<Mounted> hierarchies;
    for (const auto& c : kV1Controllers) {
        const auto it = roots.find(c.name);
        if (it == roots.end()) {
            if (c.required)
                throw std::runtime_error(std::string("cgroup v1 ") + c.name +
                                         " controller is not mounted: " + "mount it at /sys/fs/cgroup/" + c.name +
                                         " or use cgroup v2 with Delegate=yes");
            continue;
        }
        const auto base = it->second.lexically_normal();
        // Controllers mounted together ("cpu,cpuacct") share one directory: make and remove it once.
        const auto same =
            std::find_if(hierarchies.begin(), hierarchies.end(), [&](const Mounted& h) { return h.base == base; });
        if (same != hierarchies.end()) {
            same->controllers.emplace_back(c.name);
            continue;
        }
        if (::mkdir(base.c_str(), 0755) != 0 && errno != EEXIST)
            throw std::runtime_error("cgroup v1: cannot create " + base.string() + ": " + std::strerror(errno));
        hierarchies.push_back({base, {c.name}});
    }
    return std::make_unique<ManagerV1>(std::move(hierarchies));
}

}  // namespace jaild::cgroup
