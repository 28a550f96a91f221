// Internals of the cgroup module, shared by cgroup.cc, cgroup_v1.cc and cgroup_v2.cc and exposed for unit
// tests: the pure parsers behind detect(), and the few file helpers both hierarchies use. Runs in jaild only.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "common/unique_fd.h"
#include "jaild/sandbox/cgroup.h"

namespace jaild::cgroup::detail {

// ---- detection (pure: the file contents come in as strings) ----

// One line of /proc/self/mountinfo that mounts a cgroup or cgroup2 filesystem.
struct CgroupMount {
    std::string fstype;                      // "cgroup" or "cgroup2"
    std::string root;                        // field 4: the cgroup shown at the mount point
    std::filesystem::path mount_point;       // octal escapes (\040) decoded
    std::vector<std::string> super_options;  // after " - fstype source ": "rw", "cpu", "cpuacct", ...
};

// The cgroup/cgroup2 mounts of a mountinfo text, in file order; other filesystems are skipped.
std::vector<CgroupMount> parse_mountinfo(std::string_view mountinfo);

// /proc/self/cgroup as controller -> path. The v2 line ("0::/x") has the key ""; a combined v1 line
// ("4:cpu,cpuacct:/x") gives one key per controller; named hierarchies keep their "name=..." key.
std::map<std::string, std::string> parse_proc_cgroup(std::string_view proc_cgroup);

// Where a v2 manager would be rooted: configured_root when absolute, else <cgroup2 mount>/<configured_root
// or jaild's own v2 path>. Empty when no cgroup2 filesystem is mounted.
std::filesystem::path v2_root_candidate(const std::vector<CgroupMount>& mounts,
                                        const std::map<std::string, std::string>& own,
                                        const std::string& configured_root);

// The controllers a v1 manager uses, in describe() order, and what a missing optional one costs.
struct V1Controller {
    const char* name;
    bool required;
    const char* if_missing;
};
inline constexpr V1Controller kV1Controllers[] = {
    {"memory", true, ""},
    {"pids", true, ""},
    {"cpuacct", true, ""},
    {"cpu", false, "not mounted (cpu quotas are ignored)"},
    {"freezer", false, "not mounted (kill_all signals without freezing: a forking job may race it)"},
};

// What detect() decided: v2 with its root, or v1 with one base directory per controller.
struct Hierarchy {
    bool v2 = false;
    std::filesystem::path v2_root;
    std::map<std::string, std::filesystem::path> v1_bases;  // keys as make_v1() takes them
};

// The decision of detect(): v2 when `v2_controllers` (the text of the candidate's cgroup.controllers) has
// memory and pids, else v1 from the separately mounted controllers. Throws std::runtime_error saying what
// is missing and how to fix it.
Hierarchy choose_hierarchy(const std::vector<CgroupMount>& mounts, const std::map<std::string, std::string>& own,
                           std::string_view v2_controllers, const std::string& configured_root);

// True when the space-separated `list` (cgroup.controllers, subtree_control) contains `name`.
bool has_word(std::string_view list, std::string_view name);

// The number after `key` in "key value" lines (cpu.stat, memory.events, memory.oom_control).
std::optional<std::uint64_t> keyed_value(std::string_view text, std::string_view key);

// ---- file helpers over a cgroup directory fd (never follow a symlink out of the job directory) ----

// Job names are ours, but they become path components: [A-Za-z0-9_.-], 1..64, not "." or "..".
bool valid_job_name(std::string_view name);

std::error_code last_error();
// Opens a directory without following a final symlink; an invalid fd and errno on failure.
unique_fd open_dir(const std::filesystem::path& path);
unique_fd open_dir_at(int dirfd, const char* name);
// open(O_WRONLY|O_CLOEXEC|O_CREAT|O_TRUNC|O_NOFOLLOW, 0644) + one write: on cgroupfs O_CREAT|O_TRUNC on
// an existing file is harmless (a missing one fails with EACCES); in a fake tree it creates the file.
std::error_code write_at(int dirfd, const char* name, std::string_view value);
// Like write_at, but a file that does not exist (a feature the kernel lacks) is not an error.
std::error_code write_optional_at(int dirfd, const char* name, std::string_view value);
bool exists_at(int dirfd, const char* name);
// Whole file (cgroup files are small); nullopt with errno set when it cannot be opened or read.
std::optional<std::string> read_at(int dirfd, const char* name);
// A file holding one number (memory.peak, cpuacct.usage); nullopt when missing or not a number ("max").
std::optional<std::uint64_t> read_number_at(int dirfd, const char* name);
// The pids listed in cgroup.procs; empty when the file is missing.
std::vector<pid_t> read_pids(int dirfd);
// SIGKILLs every pid listed in any of the directories' cgroup.procs. `frozen`: the cgroups are frozen, so
// one pass sees everyone; otherwise it repeats until the lists are empty (bounded, ~100 ms).
std::error_code kill_listed(const std::vector<int>& dirfds, bool frozen);
// cleanup_stale() of both managers: kill_all() every job, wait up to 1 s in all for them to empty, remove()
// them. Returns how many were removed.
int cleanup_jobs(const std::vector<std::unique_ptr<JobCgroup>>& jobs);
// Names of the job-* subdirectories of `dir` (not symlinks), sorted.
std::vector<std::string> list_job_dirs(const std::filesystem::path& dir);
// job-<pid>-... of a jaild that still runs (not this one): not stale, whatever another jaild thinks.
bool owned_by_live_jaild(const std::string& name);
// rmdir; a directory that is already gone counts as removed (so remove() is idempotent).
std::error_code remove_dir(const std::filesystem::path& path);
void sleep_ms(int ms);

}  // namespace jaild::cgroup::detail
