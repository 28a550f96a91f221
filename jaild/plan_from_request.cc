#include "jaild/plan_from_request.h"

#include <algorithm>
#include <map>
#include <optional>
#include <set>

#include "jaild.pb.h"

namespace jaild {

namespace {

constexpr std::size_t kMaxArgs = 4096;
constexpr std::size_t kMaxEnv = 1024;
constexpr std::size_t kMaxArgvEnvBytes = 1024 * 1024;  // below the kernel's ARG_MAX for our stack limit
// Well below PATH_MAX: the child writes files at <run_dir>/root/workspace/<path>.
constexpr std::size_t kMaxPath = 2048;
constexpr std::size_t kMaxName = 255;
constexpr std::size_t kMaxFiles = 1024;

bool has_nul(const std::string& s) { return s.find('\0') != std::string::npos; }

template <class T>
std::string limit_error(const char* name, T value, T maximum) {
    return std::string(name) + " " + std::to_string(value) + " exceeds the maximum " + std::to_string(maximum);
}

// One table row per limit: how to read it from the request, its default and maximum, and how it lands in
// the plan (with the unit conversion).
struct LimitRow {
    const char* name;
    std::uint64_t (*requested)(const v1::Limits&);
    std::uint64_t LimitSet::*wide = nullptr;
    std::uint32_t LimitSet::*narrow = nullptr;
    void (*store)(ResolvedLimits&, std::uint64_t);
};

std::uint64_t get(const LimitSet& set, const LimitRow& row) { return row.wide ? set.*row.wide : set.*row.narrow; }

const LimitRow kLimitRows[] = {
    {"cpu_ms", [](const v1::Limits& l) -> std::uint64_t { return l.cpu_ms(); }, nullptr, &LimitSet::cpu_ms,
     [](ResolvedLimits& r, std::uint64_t v) { r.cpu_ms = static_cast<std::uint32_t>(v); }},
    {"wall_ms", [](const v1::Limits& l) -> std::uint64_t { return l.wall_ms(); }, nullptr, &LimitSet::wall_ms,
     [](ResolvedLimits& r, std::uint64_t v) { r.wall_ms = static_cast<std::uint32_t>(v); }},
    {"memory_kb", [](const v1::Limits& l) { return l.memory_kb(); }, &LimitSet::memory_kb, nullptr,
     [](ResolvedLimits& r, std::uint64_t v) { r.memory_bytes = v * 1024; }},
    {"fsize_kb", [](const v1::Limits& l) { return l.fsize_kb(); }, &LimitSet::fsize_kb, nullptr,
     [](ResolvedLimits& r, std::uint64_t v) { r.fsize_bytes = v * 1024; }},
    {"nofile", [](const v1::Limits& l) -> std::uint64_t { return l.nofile(); }, nullptr, &LimitSet::nofile,
     [](ResolvedLimits& r, std::uint64_t v) { r.nofile = static_cast<std::uint32_t>(v); }},
    {"nproc", [](const v1::Limits& l) -> std::uint64_t { return l.nproc(); }, nullptr, &LimitSet::nproc,
     [](ResolvedLimits& r, std::uint64_t v) { r.nproc = static_cast<std::uint32_t>(v); }},
    {"output_bytes", [](const v1::Limits& l) { return l.output_bytes(); }, &LimitSet::output_bytes, nullptr,
     [](ResolvedLimits& r, std::uint64_t v) { r.output_bytes = v; }},
    {"tmp_kb", [](const v1::Limits& l) { return l.tmp_kb(); }, &LimitSet::tmp_kb, nullptr,
     [](ResolvedLimits& r, std::uint64_t v) { r.tmp_bytes = v * 1024; }},
};

std::optional<PlanError> resolve_limits(const v1::Limits& requested, const LimitSet& defaults, const LimitSet& maxima,
                                        ResolvedLimits& out) {
    for (const LimitRow& row : kLimitRows) {
        std::uint64_t value = row.requested(requested);
        if (value == 0) value = get(defaults, row);
        if (value > get(maxima, row))
            return PlanError{std::string("limits.") + row.name, limit_error(row.name, value, get(maxima, row))};
        row.store(out, value);
    }
    out.stack_bytes = defaults.stack_kb * 1024;
    return std::nullopt;
}

std::optional<PlanError> check_argv(const v1::RunRequest& request, std::size_t& bytes) {
    if (request.argv_size() == 0) return PlanError{"argv", "argv must name a program"};
    if (static_cast<std::size_t>(request.argv_size()) > kMaxArgs)
        return PlanError{"argv", "argv has more than " + std::to_string(kMaxArgs) + " arguments"};
    if (request.argv(0).empty()) return PlanError{"argv", "argv[0] is empty"};
    for (const std::string& arg : request.argv()) {
        if (has_nul(arg)) return PlanError{"argv", "argv contains a NUL byte"};
        bytes += arg.size() + 1;
    }
    return std::nullopt;
}

}  // namespace

std::map<std::string, std::string> default_run_env() {
    return {
        {"PATH", sandbox_path_env}, {"HOME", workspace_dir}, {"LANG", "C.UTF-8"},
        {"TMPDIR", "/tmp"},         {"USER", "sandbox"},     {"LOGNAME", "sandbox"},
    };
}

namespace {

std::optional<PlanError> build_env(const v1::RunRequest& request, std::vector<std::string>& out, std::size_t& bytes) {
    if (static_cast<std::size_t>(request.env_size()) > kMaxEnv)
        return PlanError{"env", "env has more than " + std::to_string(kMaxEnv) + " variables"};
    std::map<std::string, std::string> env = default_run_env();
    for (const auto& [key, value] : request.env()) {
        if (key.empty() || key.find('=') != std::string::npos || has_nul(key))
            return PlanError{"env", "invalid environment variable name \"" + key + "\""};
        if (has_nul(value)) return PlanError{"env", "value of " + key + " contains a NUL byte"};
        env[key] = value;
    }
    for (const auto& [key, value] : env) {
        out.push_back(key + "=" + value);
        bytes += out.back().size() + 1;
    }
    return std::nullopt;
}

std::optional<PlanError> check_cwd(const std::string& cwd) {
    if (cwd.empty()) return std::nullopt;
    if (cwd.front() != '/') return PlanError{"cwd", "cwd must be an absolute path"};
    if (cwd.size() > kMaxPath || has_nul(cwd)) return PlanError{"cwd", "cwd is not a valid path"};
    if (cwd == "/") return std::nullopt;
    if (auto message = check_relative_path(cwd.substr(1)); !message.empty()) return PlanError{"cwd", message};
    return std::nullopt;
}

std::optional<PlanError> check_files(const v1::RunRequest& request, std::uint64_t tmp_bytes,
                                     std::vector<PlanFile>& out) {
    if (static_cast<std::size_t>(request.files_size()) > kMaxFiles)
        return PlanError{"files", "more than " + std::to_string(kMaxFiles) + " files"};
    std::set<std::string> paths;
    std::uint64_t total = 0;
    for (const v1::File& file : request.files()) {
        if (auto message = check_relative_path(file.path()); !message.empty())
            return PlanError{"files", "file \"" + file.path() + "\": " + message};
        if (!paths.insert(file.path()).second) return PlanError{"files", "file \"" + file.path() + "\" given twice"};
        total += file.content().size();
        out.push_back({file.path(), file.content(), file.executable()});
    }
    // A file whose path is a directory of another file cannot be both.
    for (const std::string& path : paths) {
        for (auto slash = path.find('/'); slash != std::string::npos; slash = path.find('/', slash + 1)) {
            if (paths.count(path.substr(0, slash)))
                return PlanError{"files",
                                 "file \"" + path.substr(0, slash) + "\" is also a directory of \"" + path + "\""};
        }
    }
    if (total > tmp_bytes)
        return PlanError{"files", "files total " + std::to_string(total) + " bytes, more than the workspace size of " +
                                      std::to_string(tmp_bytes) + " bytes"};
    return std::nullopt;
}

}  // namespace

std::string check_cwd_path(const std::string& cwd) {
    if (cwd.empty()) return "cwd must not be empty";
    auto error = check_cwd(cwd);
    return error ? error->message : std::string();
}

std::string check_relative_path(const std::string& path) {
    if (path.empty()) return "path is empty";
    if (path.size() > kMaxPath) return "path is longer than " + std::to_string(kMaxPath) + " bytes";
    if (has_nul(path)) return "path contains a NUL byte";
    if (path.front() == '/') return "path must be relative";
    std::size_t start = 0;
    while (start <= path.size()) {
        const std::size_t end = std::min(path.find('/', start), path.size());
        const std::string_view part(path.data() + start, end - start);
        if (part.empty()) return "path has an empty component";
        if (part == "." || part == "..") return "path must not contain \".\" or \"..\"";
        if (part.size() > kMaxName) return "path component longer than 255 bytes";
        start = end + 1;
    }
    return {};
}

std::variant<RunPlan, PlanError> make_run_plan(const v1::RunRequest& request, const LimitSet& defaults,
                                               const LimitSet& maxima) {
    RunPlan plan;
    std::size_t bytes = 0;
    if (auto error = resolve_limits(request.limits(), defaults, maxima, plan.limits)) return *error;
    if (auto error = check_argv(request, bytes)) return *error;
    if (auto error = build_env(request, plan.env, bytes)) return *error;
    if (bytes > kMaxArgvEnvBytes)
        return PlanError{"argv", "argv and env together exceed " + std::to_string(kMaxArgvEnvBytes) + " bytes"};
    if (auto error = check_cwd(request.cwd())) return *error;
    if (auto error = check_files(request, plan.limits.tmp_bytes, plan.files)) return *error;
    plan.argv.assign(request.argv().begin(), request.argv().end());
    plan.cwd = request.cwd().empty() ? workspace_dir : request.cwd();
    plan.stdin_data = request.stdin();
    plan.stdin_stream = request.stdin_stream();
    plan.session_id = request.session_id();
    return plan;
}

}  // namespace jaild
