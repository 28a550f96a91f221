// Detection of the host's cgroup hierarchy, and the file helpers cgroup_v1.cc and cgroup_v2.cc share.
#include "jaild/sandbox/cgroup.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <fstream>
#include <stdexcept>
#include <thread>

#include <spdlog/spdlog.h>

#include "jaild/sandbox/cgroup_detect.h"

namespace jaild::cgroup {
namespace detail {
namespace {

std::vector<std::string_view> split(std::string_view text, char sep) {
    std::vector<std::string_view> out;
    while (!text.empty()) {
        const auto pos = text.find(sep);
        const auto part = text.substr(0, pos);
        if (!part.empty()) out.push_back(part);
        if (pos == std::string_view::npos) break;
        text.remove_prefix(pos + 1);
    }
    return out;
}

// mountinfo escapes space, tab, newline and backslash as \ooo (proc_pid_mountinfo(5)).
std::string unescape_octal(std::string_view field) {
    std::string out;
    for (std::size_t i = 0; i < field.size(); ++i) {
        const bool octal =
            field[i] == '\\' && i + 3 < field.size() &&
            std::all_of(field.begin() + i + 1, field.begin() + i + 4, [](char c) { return c >= '0' && c <= '7'; });
        if (octal) {
            out += static_cast<char>((field[i + 1] - '0') * 64 + (field[i + 2] - '0') * 8 + (field[i + 3] - '0'));
            i += 3;
        } else {
            out += field[i];
        }
    }
    return out;
}

// The part of jaild's cgroup path `own` below a mount that shows cgroup `mount_root`, or nullopt when the
// mount does not show it (another container's bind mount, or "/.." paths from outside a cgroup namespace).
std::optional<std::string> relative_to_mount(const std::string& own, const std::string& mount_root) {
    if (own.empty() || own.front() != '/') return std::nullopt;
    for (const auto part : split(own, '/'))
        if (part == "..") return std::nullopt;
    if (mount_root == "/") return own;
    if (own.compare(0, mount_root.size(), mount_root) != 0) return std::nullopt;
    if (own.size() > mount_root.size() && own[mount_root.size()] != '/') return std::nullopt;
    const std::string rest = own.substr(mount_root.size());
    return rest.empty() ? std::string("/") : rest;
}

// mount_point / rel, where rel may start with '/' (operator/ would otherwise discard mount_point).
std::filesystem::path join(const std::filesystem::path& mount_point, std::string_view rel) {
    while (!rel.empty() && rel.front() == '/') rel.remove_prefix(1);
    return rel.empty() ? mount_point : mount_point / rel;
}

std::string lookup(const std::map<std::string, std::string>& own, const std::string& key) {
    const auto it = own.find(key);
    return it == own.end() ? std::string("/") : it->second;
}

// v1 base of one controller: the first mount carrying it as a super option that shows jaild's cgroup.
std::optional<std::filesystem::path> v1_base(const std::vector<CgroupMount>& mounts,
                                             const std::map<std::string, std::string>& own, std::string_view controller,
                                             const std::string& configured_root) {
    for (const auto& m : mounts) {
        if (m.fstype != "cgroup") continue;
        if (std::find(m.super_options.begin(), m.super_options.end(), controller) == m.super_options.end()) continue;
        if (!configured_root.empty()) return join(m.mount_point, configured_root);
        const auto rel = relative_to_mount(lookup(own, std::string(controller)), m.root);
        if (rel) return join(m.mount_point, *rel) / "jaild";
    }
    return std::nullopt;
}

std::string joined(const std::vector<std::string>& words) {
    std::string out;
    for (const auto& w : words) out += (out.empty() ? "" : ", ") + w;
    return out;
}

[[noreturn]] void throw_missing(const std::filesystem::path& v2_root, std::string_view v2_controllers,
                                const std::vector<std::string>& v1_missing, bool any_v1) {
    std::vector<std::string> v2_missing;
    for (const auto* name : {"memory", "pids"})
        if (!has_word(v2_controllers, name)) v2_missing.emplace_back(name);
    if (!any_v1 && !v2_root.empty())
        throw std::runtime_error("cgroup v2 " + joined(v2_missing) + " controller not delegated to " +
                                 v2_root.string() + ": set Delegate=yes in jaild.service (or enable " +
                                 "+memory +pids in the parent's cgroup.subtree_control, or set cgroup_root)");
    if (!any_v1)
        throw std::runtime_error(
            "no cgroup filesystem is mounted: mount cgroup2 on /sys/fs/cgroup and "
            "set Delegate=yes in jaild.service");
    throw std::runtime_error("cgroup v1 controller(s) " + joined(v1_missing) + " not mounted (jaild needs " +
                             "memory, pids and cpuacct, e.g. at /sys/fs/cgroup/<name>): mount them, or " +
                             "boot with systemd.unified_cgroup_hierarchy=1 and set Delegate=yes in " + "jaild.service");
}

}  // namespace

std::vector<CgroupMount> parse_mountinfo(std::string_view mountinfo) {
    std::vector<CgroupMount> out;
    for (const auto line : split(mountinfo, '\n')) {
        const auto fields = split(line, ' ');
        // id parent major:minor root mount-point options [optional...] - fstype source super-options
        if (fields.size() < 10) continue;
        const auto sep = std::find(fields.begin() + 6, fields.end(), "-");
        if (fields.end() - sep < 4) continue;
        const std::string_view fstype = sep[1];
        if (fstype != "cgroup" && fstype != "cgroup2") continue;
        CgroupMount m{std::string(fstype), unescape_octal(fields[3]), unescape_octal(fields[4]), {}};
        for (const auto opt : split(sep[3], ',')) m.super_options.emplace_back(opt);
        out.push_back(std::move(m));
    }
    return out;
}

std::map<std::string, std::string> parse_proc_cgroup(std::string_view proc_cgroup) {
    std::map<std::string, std::string> out;
    for (const auto line : split(proc_cgroup, '\n')) {
        const auto first = line.find(':');
        const auto second = first == std::string_view::npos ? first : line.find(':', first + 1);
        if (second == std::string_view::npos) continue;
        const std::string path(line.substr(second + 1));  // may itself contain ':'
        const auto controllers = line.substr(first + 1, second - first - 1);
        if (controllers.empty()) out[""] = path;
        for (const auto c : split(controllers, ',')) out[std::string(c)] = path;
    }
    return out;
}

std::filesystem::path v2_root_candidate(const std::vector<CgroupMount>& mounts,
                                        const std::map<std::string, std::string>& own,
                                        const std::string& configured_root) {
    for (const auto& m : mounts) {
        if (m.fstype != "cgroup2") continue;
        if (!configured_root.empty())
            return join(m.mount_point, configured_root);  // a cgroup path, as /proc/self/cgroup shows it
        const auto it = own.find("");
        if (it == own.end()) continue;
        if (const auto rel = relative_to_mount(it->second, m.root)) return join(m.mount_point, *rel);
    }
    return {};
}

Hierarchy choose_hierarchy(const std::vector<CgroupMount>& mounts, const std::map<std::string, std::string>& own,
                           std::string_view v2_controllers, const std::string& configured_root) {
    const auto v2_root = v2_root_candidate(mounts, own, configured_root);
    if (!v2_root.empty() && has_word(v2_controllers, "memory") && has_word(v2_controllers, "pids"))
        return Hierarchy{true, v2_root, {}};

    Hierarchy h;
    std::vector<std::string> missing;
    for (const auto& c : kV1Controllers) {
        if (auto base = v1_base(mounts, own, c.name, configured_root))
            h.v1_bases.emplace(c.name, std::move(*base));
        else if (c.required)
            missing.emplace_back(c.name);
    }
    if (!missing.empty()) throw_missing(v2_root, v2_controllers, missing, !h.v1_bases.empty());
    return h;
}

bool has_word(std::string_view list, std::string_view name) {
    for (const auto line : split(list, '\n'))
        for (const auto word : split(line, ' '))
            if (word == name) return true;
    return false;
}

std::optional<std::uint64_t> keyed_value(std::string_view text, std::string_view key) {
    for (const auto line : split(text, '\n')) {
        const auto words = split(line, ' ');
        if (words.size() < 2 || words[0] != key) continue;
        std::uint64_t value = 0;
        const auto [ptr, ec] = std::from_chars(words[1].data(), words[1].data() + words[1].size(), value);
        if (ec == std::errc()) return value;
    }
    return std::nullopt;
}

bool valid_job_name(std::string_view name) {
    if (name.empty() || name.size() > 64 || name == "." || name == "..") return false;
    return std::all_of(name.begin(), name.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-' ||
               c == '.';
    });
}

std::error_code last_error() { return {errno, std::system_category()}; }

unique_fd open_dir(const std::filesystem::path& path) { return open_dir_at(AT_FDCWD, path.c_str()); }

unique_fd open_dir_at(int dirfd, const char* name) {
    return unique_fd(::openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
}

std::error_code write_at(int dirfd, const char* name, std::string_view value) {
    unique_fd fd(::openat(dirfd, name, O_WRONLY | O_CLOEXEC | O_CREAT | O_TRUNC | O_NOFOLLOW, 0644));
    if (!fd) return last_error();
    // cgroupfs takes a value in one write(2); a short write means the kernel rejected part of it.
    const ssize_t n = ::write(fd.get(), value.data(), value.size());
    if (n < 0) return last_error();
    if (static_cast<std::size_t>(n) != value.size()) return std::make_error_code(std::errc::io_error);
    return {};
}

std::error_code write_optional_at(int dirfd, const char* name, std::string_view value) {
    const auto ec = write_at(dirfd, name, value);
    return ec && !exists_at(dirfd, name) ? std::error_code() : ec;
}

bool exists_at(int dirfd, const char* name) {
    struct stat st {};
    return ::fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0;
}

std::optional<std::string> read_at(int dirfd, const char* name) {
    unique_fd fd(::openat(dirfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
    if (!fd) return std::nullopt;
    std::string out;
    std::array<char, 4096> buf{};
    constexpr std::size_t kMax = 4 << 20;  // cgroup.procs of a huge cgroup; anything larger is not ours
    while (out.size() < kMax) {
        const ssize_t n = ::read(fd.get(), buf.data(), buf.size());
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return std::nullopt;
        if (n == 0) break;
        out.append(buf.data(), static_cast<std::size_t>(n));
    }
    return out;
}

std::vector<pid_t> read_pids(int dirfd) {
    std::vector<pid_t> pids;
    const auto text = read_at(dirfd, "cgroup.procs");
    if (!text) return pids;
    for (const auto line : split(*text, '\n')) {
        pid_t pid = 0;
        const auto [ptr, ec] = std::from_chars(line.data(), line.data() + line.size(), pid);
        if (ec == std::errc() && pid > 0) pids.push_back(pid);
    }
    return pids;
}

std::optional<std::uint64_t> read_number_at(int dirfd, const char* name) {
    const auto text = read_at(dirfd, name);
    if (!text) return std::nullopt;
    std::uint64_t value = 0;
    const auto [ptr, ec] = std::from_chars(text->data(), text->data() + text->size(), value);
    if (ec != std::errc()) return std::nullopt;
    return value;
}

std::error_code kill_listed(const std::vector<int>& dirfds, bool frozen) {
    std::error_code result;
    // Unfrozen, a listed process may fork after our read (pids.max bounds how often that wins), or exit, be
    // reaped and have its pid reused before our kill: windows the freezer closes, hence freezing first.
    for (int round = 0; round < 100; ++round) {
        std::vector<pid_t> pids;
        for (const int fd : dirfds) {
            const auto listed = read_pids(fd);
            pids.insert(pids.end(), listed.begin(), listed.end());
        }
        std::sort(pids.begin(), pids.end());  // v1 lists each process once per hierarchy: signal it once
        pids.erase(std::unique(pids.begin(), pids.end()), pids.end());
        for (const pid_t pid : pids)
            if (::kill(pid, SIGKILL) != 0 && errno != ESRCH && !result) result = last_error();  // ESRCH: gone
        if (pids.empty() || frozen) break;
        sleep_ms(1);
    }
    return result;
}

int cleanup_jobs(const std::vector<std::unique_ptr<JobCgroup>>& jobs) {
    for (const auto& job : jobs)
        if (const auto ec = job->kill_all()) spdlog::warn("cgroup: killing a stale job failed: {}", ec.message());
    // Killed processes leave the cgroup only once they have exited; give them a bounded moment.
    for (int waited = 0; waited < 1000; waited += 10) {
        if (std::all_of(jobs.begin(), jobs.end(), [](const auto& job) { return job->empty(); })) break;
        sleep_ms(10);
    }
    int removed = 0;
    for (const auto& job : jobs) {
        if (const auto ec = job->remove())
            spdlog::warn("cgroup: stale job cgroup not removed: {}", ec.message());
        else
            ++removed;
    }
    return removed;
}

// A job cgroup is named job-<pid of its jaild>-<job id>. One whose jaild still runs (another jaild sharing
// the cgroup base, e.g. a test's beside a developer's) is not stale: killing it would kill that jaild's runs.
bool owned_by_live_jaild(const std::string& name) {
    const std::size_t start = 4, end = name.find('-', start);
    if (end == std::string::npos || end == start) return false;
    const std::string pid = name.substr(start, end - start);
    if (!std::all_of(pid.begin(), pid.end(), [](char c) { return c >= '0' && c <= '9'; })) return false;
    if (pid == std::to_string(::getpid())) return false;
    std::ifstream comm("/proc/" + pid + "/comm");
    std::string command;
    return comm >> command && command == "jaild";
}

std::vector<std::string> list_job_dirs(const std::filesystem::path& dir) {
    std::vector<std::string> names;
    std::error_code ec;
    for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
        const auto name = entry.path().filename().string();
        // symlink_status: a job-* symlink is not ours and must not lead us elsewhere.
        if (name.starts_with("job-") && entry.symlink_status(ec).type() == std::filesystem::file_type::directory)
            names.push_back(name);
    }
    std::sort(names.begin(), names.end());
    return names;
}

std::error_code remove_dir(const std::filesystem::path& path) {
    if (::rmdir(path.c_str()) == 0 || errno == ENOENT) return {};
    return last_error();
}

void sleep_ms(int ms) { std::this_thread::sleep_for(std::chrono::milliseconds(ms)); }

}  // namespace detail

bool Teardown::attempt() {
    ++attempts_;
    if (!group_.empty()) group_.kill_all();
    error_ = group_.remove();
    return !error_;
}

std::chrono::milliseconds Teardown::next_pause() {
    const auto pause = pause_;
    pause_ = std::min(pause_ * 2, std::chrono::milliseconds(1000));
    return pause;
}

constexpr std::chrono::milliseconds kMaxBlockingPause{10};

std::error_code remove_within(JobCgroup& group, std::chrono::milliseconds deadline) {
    const auto give_up = std::chrono::steady_clock::now() + deadline;
    Teardown teardown(group);
    while (!teardown.attempt()) {
        const auto left = give_up - std::chrono::steady_clock::now();
        if (left <= std::chrono::steady_clock::duration::zero()) break;
        // A blocked caller waits at most kMaxBlockingPause between attempts: the kernel usually lets go
        // within milliseconds, and the doubling pauses of the event loop's retire would overshoot that.
        const std::chrono::steady_clock::duration pause = std::min(teardown.next_pause(), kMaxBlockingPause);
        std::this_thread::sleep_for(std::min(pause, left));
    }
    return teardown.error();
}

// Runs in jaild at start-up (and in jaild --check): reads /proc/self, picks v2 or v1, builds the manager.
std::unique_ptr<Manager> detect(const std::string& configured_root) {
    const auto mountinfo = detail::read_at(AT_FDCWD, "/proc/self/mountinfo");
    const auto proc_cgroup = detail::read_at(AT_FDCWD, "/proc/self/cgroup");
    if (!mountinfo || !proc_cgroup)
        throw std::runtime_error("cannot read /proc/self/mountinfo or /proc/self/cgroup: is /proc mounted?");
    const auto mounts = detail::parse_mountinfo(*mountinfo);
    const auto own = detail::parse_proc_cgroup(*proc_cgroup);
    const auto candidate = detail::v2_root_candidate(mounts, own, configured_root);
    std::string controllers;
    if (!candidate.empty())
        controllers = detail::read_at(AT_FDCWD, (candidate / "cgroup.controllers").c_str()).value_or("");
    const auto h = detail::choose_hierarchy(mounts, own, controllers, configured_root);
    if (h.v2) return make_v2(h.v2_root, true);
    return make_v1(h.v1_bases);
}

}  // namespace jaild::cgroup
