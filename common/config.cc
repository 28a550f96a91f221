#include "common/config.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <toml++/toml.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <limits>
#include <map>
#include <span>
#include <type_traits>
#include <variant>

#include "common/node_id.h"
#include "common/unique_fd.h"

namespace jaild {

LimitSet default_limit_maxima() {
    return LimitSet{
        .cpu_ms = 300'000,
        .wall_ms = 600'000,
        .memory_kb = 2ULL * 1024 * 1024,
        .fsize_kb = 1024ULL * 1024,
        .nofile = 4096,
        .nproc = 1024,
        .output_bytes = 64ULL * 1024 * 1024,
        .tmp_kb = 1024ULL * 1024,
        .code_bytes = 1024ULL * 1024,
        .stack_kb = 64ULL * 1024,
    };
}

namespace {

// State shared by one parse: the file's name for messages, and the line of every key seen, so that checks
// made after reading (cross-key ranges, defaults against maxima) can still point at the line.
struct Context {
    std::string_view source;
    std::map<std::string, std::uint32_t, std::less<>> lines;

    std::uint32_t line_of(std::string_view key) const {
        auto it = lines.find(key);
        return it == lines.end() ? 0 : it->second;
    }

    [[noreturn]] void fail_at(std::uint32_t line, std::string_view message) const {
        if (line == 0) throw ConfigError(fmt::format("{}: {}", source, message));
        throw ConfigError(fmt::format("{}:{}: {}", source, line, message));
    }

    [[noreturn]] void fail(std::string_view key, std::string_view message) const {
        fail_at(line_of(key), fmt::format("\"{}\" {}", key, message));
    }
};

// One value being read: its node and its dotted path ("server.socket", "sandbox.ro_binds[2]").
struct Item {
    const toml::node& node;
    std::string path;
    Context& ctx;

    std::uint32_t line() const { return node.source().begin.line; }
    [[noreturn]] void fail(std::string_view message) const {
        ctx.fail_at(line(), fmt::format("\"{}\" {}", path, message));
    }
};

// ---- Values ----------------------------------------------------------------------------------------------

template <class Int>
Int read_integer(const Item& item) {
    // TOML integers are int64; uint64 fields therefore top out at INT64_MAX, which no limit comes near.
    constexpr std::uint64_t max =
        std::min<std::uint64_t>(std::numeric_limits<Int>::max(), std::numeric_limits<std::int64_t>::max());
    const auto* value = item.node.as_integer();
    if (value == nullptr || value->get() < 0 || static_cast<std::uint64_t>(value->get()) > max)
        item.fail(fmt::format("must be an integer between 0 and {}", max));
    return static_cast<Int>(value->get());
}

std::string read_string(const Item& item) {
    const auto* value = item.node.as_string();
    if (value == nullptr) item.fail("must be a string");
    return value->get();
}

bool read_bool(const Item& item) {
    const auto* value = item.node.as_boolean();
    if (value == nullptr) item.fail("must be true or false");
    return value->get();
}

template <class T>
T read_value(const Item& item);

template <class Element>
std::vector<Element> read_array(const Item& item) {
    const auto* array = item.node.as_array();
    if (array == nullptr) item.fail("must be an array");
    std::vector<Element> out;
    out.reserve(array->size());
    for (std::size_t i = 0; i < array->size(); ++i)
        out.push_back(read_value<Element>(Item{(*array)[i], fmt::format("{}[{}]", item.path, i), item.ctx}));
    return out;
}

template <class T>
T read_value(const Item& item) {
    if constexpr (std::is_same_v<T, bool>)
        return read_bool(item);
    else if constexpr (std::is_integral_v<T>)
        return read_integer<T>(item);
    else if constexpr (std::is_same_v<T, std::string>)
        return read_string(item);
    else
        return read_array<typename T::value_type>(item);
}

// ---- Tables ----------------------------------------------------------------------------------------------

// A key of a table: either a plain member of `Section`, read by type, or a reader for anything else
// (sub-tables, values that need converting).
template <class Section>
using Target = std::variant<bool Section::*, std::uint32_t Section::*, std::uint64_t Section::*, std::string Section::*,
                            std::vector<std::uint32_t> Section::*, std::vector<std::string> Section::*,
                            void (*)(Section&, const Item&)>;

template <class Section>
struct Field {
    std::string_view key;
    Target<Section> target;
};

template <class Section>
void read_field(const Field<Section>& field, Section& section, const Item& item) {
    std::visit(
        [&](auto target) {
            if constexpr (std::is_pointer_v<decltype(target)>) {
                target(section, item);
            } else {
                auto& member = section.*target;
                member = read_value<std::remove_reference_t<decltype(member)>>(item);
            }
        },
        field.target);
}

std::string join(std::string_view path, std::string_view key) {
    return path.empty() ? std::string(key) : fmt::format("{}.{}", path, key);
}

template <class Section>
void read_table(const Item& item, std::span<const Field<Section>> fields, Section& section) {
    const auto* table = item.node.as_table();
    if (table == nullptr) item.fail("must be a table");
    for (auto&& [key, node] : *table) {
        Item child{node, join(item.path, key.str()), item.ctx};
        auto field = std::ranges::find(fields, key.str(), &Field<Section>::key);
        if (field == fields.end()) item.ctx.fail_at(child.line(), fmt::format("unknown key \"{}\"", child.path));
        item.ctx.lines.emplace(child.path, child.line());
        read_field(*field, section, child);
    }
}

constexpr Field<ServerConfig> server_fields[] = {
    {"socket", &ServerConfig::socket},
    {"socket_group", &ServerConfig::socket_group},
    {"socket_mode", &ServerConfig::socket_mode},
    {"allowed_uids", &ServerConfig::allowed_uids},
    {"allowed_gids", &ServerConfig::allowed_gids},
    {"max_frame_bytes", &ServerConfig::max_frame_bytes},
    {"max_jobs", &ServerConfig::max_jobs},
    {"request_timeout_ms", &ServerConfig::request_timeout_ms},
    {"write_timeout_ms", &ServerConfig::write_timeout_ms},
};

constexpr std::string_view log_levels[] = {"trace", "debug", "info", "warn", "error", "critical", "off"};

void read_log_format(LogConfig& log, const Item& item) {
    auto format = read_string(item);
    if (format != "text" && format != "json") item.fail("must be \"text\" or \"json\"");
    log.json = format == "json";
}

void read_isolation(SandboxConfig& sandbox, const Item& item) {
    auto isolation = read_string(item);
    if (isolation != "namespaces" && isolation != "chroot") item.fail("must be \"namespaces\" or \"chroot\"");
    sandbox.chroot = isolation == "chroot";
}

constexpr Field<NodeConfig> node_fields[] = {
    {"id", &NodeConfig::id},
};

constexpr Field<LogConfig> log_fields[] = {
    {"level", &LogConfig::level},
    {"format", &read_log_format},
};

constexpr Field<SandboxConfig> sandbox_fields[] = {
    {"uid_base", &SandboxConfig::uid_base},
    {"uid_count", &SandboxConfig::uid_count},
    {"hostname", &SandboxConfig::hostname},
    {"run_dir", &SandboxConfig::run_dir},
    {"rootfs", &SandboxConfig::rootfs},
    {"ro_binds", &SandboxConfig::ro_binds},
    {"etc_files", &SandboxConfig::etc_files},
    {"allow_network", &SandboxConfig::allow_network},
    {"cgroup_root", &SandboxConfig::cgroup_root},
    {"cpu_quota_percent", &SandboxConfig::cpu_quota_percent},
    {"warm_sandboxes", &SandboxConfig::warm_sandboxes},
    {"degraded", &SandboxConfig::degraded},
    {"isolation", &read_isolation},
};

constexpr Field<LanguagesConfig> languages_fields[] = {
    {"dir", &LanguagesConfig::dir},
    {"support_dir", &LanguagesConfig::support_dir},
};

constexpr Field<SessionsConfig> sessions_fields[] = {
    {"state_dir", &SessionsConfig::state_dir},
    {"ttl_s", &SessionsConfig::ttl_s},
    {"quota_kb", &SessionsConfig::quota_kb},
    {"max_sessions", &SessionsConfig::max_sessions},
    {"max_per_principal", &SessionsConfig::max_per_principal},
    {"max_live", &SessionsConfig::max_live},
    {"live_memory_kb", &SessionsConfig::live_memory_kb},
    {"live_nproc", &SessionsConfig::live_nproc},
    {"live_processes", &SessionsConfig::live_processes},
    {"live_output_kb", &SessionsConfig::live_output_kb},
    {"live_cpu_s", &SessionsConfig::live_cpu_s},
    {"live_max_s", &SessionsConfig::live_max_s},
};

constexpr Field<PackagesConfig> packages_fields[] = {
    {"wheelhouse", &PackagesConfig::wheelhouse},
    {"envs_dir", &PackagesConfig::envs_dir},
    {"budget_kb", &PackagesConfig::budget_kb},
    {"install_cpu_ms", &PackagesConfig::install_cpu_ms},
    {"install_wall_ms", &PackagesConfig::install_wall_ms},
    {"install_memory_kb", &PackagesConfig::install_memory_kb},
    {"install_tmp_kb", &PackagesConfig::install_tmp_kb},
};

constexpr Field<ZygoteConfig> zygote_fields[] = {
    {"enabled", &ZygoteConfig::enabled},
    {"max_forks", &ZygoteConfig::max_forks},
    {"max_minutes", &ZygoteConfig::max_minutes},
};

// Also drives the default-against-maximum check, so a new limit needs only a line here.
constexpr Field<LimitSet> limit_fields[] = {
    {"cpu_ms", &LimitSet::cpu_ms},
    {"wall_ms", &LimitSet::wall_ms},
    {"memory_kb", &LimitSet::memory_kb},
    {"fsize_kb", &LimitSet::fsize_kb},
    {"nofile", &LimitSet::nofile},
    {"nproc", &LimitSet::nproc},
    {"output_bytes", &LimitSet::output_bytes},
    {"tmp_kb", &LimitSet::tmp_kb},
    {"code_bytes", &LimitSet::code_bytes},
    {"stack_kb", &LimitSet::stack_kb},
};

constexpr Field<Config> limits_fields[] = {
    {"default", [](Config& c, const Item& i) { read_table<LimitSet>(i, limit_fields, c.limits_default); }},
    {"max", [](Config& c, const Item& i) { read_table<LimitSet>(i, limit_fields, c.limits_max); }},
};

constexpr Field<Config> root_fields[] = {
    {"node", [](Config& c, const Item& i) { read_table<NodeConfig>(i, node_fields, c.node); }},
    {"server", [](Config& c, const Item& i) { read_table<ServerConfig>(i, server_fields, c.server); }},
    {"log", [](Config& c, const Item& i) { read_table<LogConfig>(i, log_fields, c.log); }},
    {"sandbox", [](Config& c, const Item& i) { read_table<SandboxConfig>(i, sandbox_fields, c.sandbox); }},
    {"languages", [](Config& c, const Item& i) { read_table<LanguagesConfig>(i, languages_fields, c.languages); }},
    {"sessions", [](Config& c, const Item& i) { read_table<SessionsConfig>(i, sessions_fields, c.sessions); }},
    {"packages", [](Config& c, const Item& i) { read_table<PackagesConfig>(i, packages_fields, c.packages); }},
    {"zygote", [](Config& c, const Item& i) { read_table<ZygoteConfig>(i, zygote_fields, c.zygote); }},
    {"limits", [](Config& c, const Item& i) { read_table<Config>(i, limits_fields, c); }},
};

// ---- Checks that need more than one value's type ----------------------------------------------------------

struct Range {
    std::string_view key;
    std::uint64_t value, min, max;
    bool octal = false;
};

void check_ranges(const Config& c, const Context& ctx) {
    constexpr std::uint64_t u32_max = std::numeric_limits<std::uint32_t>::max();
    constexpr std::uint64_t kMaxKb = 1ULL << 40;  // 1 PiB
    const Range ranges[] = {
        {"server.socket_mode", c.server.socket_mode, 0, 0777, true},
        {"server.max_jobs", c.server.max_jobs, 1, u32_max},
        {"server.max_frame_bytes", c.server.max_frame_bytes, 1024, 1024ULL * 1024 * 1024},
        // Below 1000 the sandbox ids could collide with system accounts.
        {"sandbox.uid_base", c.sandbox.uid_base, 1000, u32_max},
        // A sandbox takes a pair of uids (its program's and its reaper's), and the range's last pair is
        // reserved for the host probe, so runs need at least one more (jaild/sandbox/uid_pool.h).
        {"sandbox.uid_count", c.sandbox.uid_count, 4, u32_max},
        {"server.request_timeout_ms", c.server.request_timeout_ms, 1, 3'600'000},
        {"server.write_timeout_ms", c.server.write_timeout_ms, 1, 3'600'000},
        {"sandbox.cpu_quota_percent", c.sandbox.cpu_quota_percent, 0, 100'000},
        {"sandbox.warm_sandboxes", c.sandbox.warm_sandboxes, 0, 64},
        {"sessions.ttl_s", c.sessions.ttl_s, 1, 365ULL * 24 * 3600},
        {"sessions.quota_kb", c.sessions.quota_kb, 64, 1024ULL * 1024 * 1024},
        {"sessions.max_sessions", c.sessions.max_sessions, 1, 1'000'000},
        {"sessions.max_per_principal", c.sessions.max_per_principal, 1, 1'000'000},
        {"sessions.max_live", c.sessions.max_live, 0, 100'000},
        {"sessions.live_memory_kb", c.sessions.live_memory_kb, 1024, kMaxKb},
        {"sessions.live_nproc", c.sessions.live_nproc, 8, 1'000'000},
        {"sessions.live_processes", c.sessions.live_processes, 1, 100'000},
        {"sessions.live_output_kb", c.sessions.live_output_kb, 4, 1024 * 1024},
        {"sessions.live_cpu_s", c.sessions.live_cpu_s, 1, 365ULL * 24 * 3600},
        {"sessions.live_max_s", c.sessions.live_max_s, 1, 365ULL * 24 * 3600},
        {"packages.budget_kb", c.packages.budget_kb, 0, kMaxKb},
        {"zygote.max_forks", c.zygote.max_forks, 0, u32_max},
        {"zygote.max_minutes", c.zygote.max_minutes, 0, 7 * 24 * 60},
        {"packages.install_cpu_ms", c.packages.install_cpu_ms, 1, 3'600'000},
        {"packages.install_wall_ms", c.packages.install_wall_ms, 1, 3'600'000},
        {"packages.install_memory_kb", c.packages.install_memory_kb, 1024, kMaxKb},
        {"packages.install_tmp_kb", c.packages.install_tmp_kb, 1024, kMaxKb},
        // Sizes in KiB become bytes (x 1024) in the run plan: bounded so that can never wrap to 0, which the
        // cgroup and tmpfs code would read as "no limit". 1 PiB is far above any machine.
        {"limits.default.memory_kb", c.limits_default.memory_kb, 0, kMaxKb},
        {"limits.max.memory_kb", c.limits_max.memory_kb, 0, kMaxKb},
        {"limits.default.fsize_kb", c.limits_default.fsize_kb, 0, kMaxKb},
        {"limits.max.fsize_kb", c.limits_max.fsize_kb, 0, kMaxKb},
        {"limits.default.tmp_kb", c.limits_default.tmp_kb, 0, kMaxKb},
        {"limits.max.tmp_kb", c.limits_max.tmp_kb, 0, kMaxKb},
        {"limits.default.stack_kb", c.limits_default.stack_kb, 0, kMaxKb},
        {"limits.max.stack_kb", c.limits_max.stack_kb, 0, kMaxKb},
    };
    for (const auto& r : ranges) {
        if (r.value >= r.min && r.value <= r.max) continue;
        auto bound = [&](std::uint64_t v) { return r.octal ? fmt::format("{:#o}", v) : std::to_string(v); };
        ctx.fail(r.key, fmt::format("must be between {} and {}", bound(r.min), bound(r.max)));
    }
    // (uid_t)-1 is "no id" to chown/setresuid, and overflow would wrap into root's range.
    constexpr std::uint64_t last_id = 0xFFFF'FFFEULL;
    if (std::uint64_t{c.sandbox.uid_base} + c.sandbox.uid_count > last_id) {
        auto line = std::max(ctx.line_of("sandbox.uid_base"), ctx.line_of("sandbox.uid_count"));
        ctx.fail_at(line, fmt::format("\"sandbox.uid_base\" + \"sandbox.uid_count\" must not exceed {}", last_id));
    }
}

void check_names(const Config& c, const Context& ctx) {
    if (std::ranges::find(log_levels, c.log.level) == std::end(log_levels))
        ctx.fail("log.level", "must be one of trace, debug, info, warn, error, critical, off");
    const auto& host = c.sandbox.hostname;
    auto host_char = [](char ch) {
        return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '.' ||
               ch == '-';
    };
    if (host.empty() || host.size() > 64 || !std::ranges::all_of(host, host_char))
        ctx.fail("sandbox.hostname", "must be 1 to 64 characters of A-Z, a-z, 0-9, '.' and '-'");
    if (!c.node.id.empty() && !valid_node_id(c.node.id))
        ctx.fail("node.id", "must be 1 to 32 characters of a-z, 0-9 and '-'");
}

bool is_absolute(std::string_view path) { return !path.empty() && path.front() == '/'; }

void check_paths(const Config& c, const Context& ctx) {
    struct Path {
        std::string_view key;
        const std::string& value;
        bool optional;
    };
    const Path paths[] = {
        {"server.socket", c.server.socket, false},
        {"sandbox.run_dir", c.sandbox.run_dir, false},
        {"sandbox.rootfs", c.sandbox.rootfs, true},
        {"sandbox.cgroup_root", c.sandbox.cgroup_root, true},
        {"languages.dir", c.languages.dir, false},
        {"languages.support_dir", c.languages.support_dir, false},
        {"packages.wheelhouse", c.packages.wheelhouse, false},
        {"packages.envs_dir", c.packages.envs_dir, false},
    };
    for (const auto& p : paths) {
        if (p.optional && p.value.empty()) continue;
        if (!is_absolute(p.value)) ctx.fail(p.key, "must be an absolute path");
    }
    const std::pair<std::string_view, const std::vector<std::string>&> lists[] = {
        {"sandbox.ro_binds", c.sandbox.ro_binds},
        {"sandbox.etc_files", c.sandbox.etc_files},
    };
    for (const auto& [key, list] : lists) {
        for (const auto& entry : list)
            if (!is_absolute(entry)) ctx.fail(key, fmt::format("entry \"{}\" must be an absolute path", entry));
    }
}

std::uint64_t limit_value(const Field<LimitSet>& field, const LimitSet& set) {
    if (const auto* member = std::get_if<std::uint32_t LimitSet::*>(&field.target)) return set.**member;
    return set.*std::get<std::uint64_t LimitSet::*>(field.target);
}

void check_limits(const Config& c, const Context& ctx) {
    for (const auto& field : limit_fields) {
        auto default_key = fmt::format("limits.default.{}", field.key);
        auto max_key = fmt::format("limits.max.{}", field.key);
        auto value = limit_value(field, c.limits_default), max = limit_value(field, c.limits_max);
        if (value == 0) ctx.fail(default_key, "must be greater than 0");
        if (value <= max) continue;
        // Point at whichever of the two the file set; the message names both.
        auto line = std::max(ctx.line_of(default_key), ctx.line_of(max_key));
        ctx.fail_at(line, fmt::format("\"{}\" is {}, above its maximum {} (\"{}\")", default_key, value, max, max_key));
    }
}

}  // namespace

Config parse_config(std::string_view text, std::string_view source) {
    toml::table root;
    try {
        root = toml::parse(text, source);
    } catch (const toml::parse_error& e) {
        throw ConfigError(fmt::format("{}:{}: {}", source, e.source().begin.line, e.description()));
    }
    Context ctx{source, {}};
    Config config;
    read_table<Config>(Item{root, "", ctx}, root_fields, config);
    check_ranges(config, ctx);
    check_names(config, ctx);
    check_paths(config, ctx);
    check_limits(config, ctx);
    return config;
}

std::string resolve_node_id(const NodeConfig& node, std::string_view hostname) {
    if (!node.id.empty()) return node.id;
    std::string id = node_id_from_hostname(hostname);
    if (id.empty())
        throw ConfigError(
            fmt::format("the host name \"{}\" gives no valid node id (1 to 32 of a-z, 0-9 and '-', "
                        "from the name up to its first dot): set [node] id in jaild.toml",
                        hostname));
    return id;
}

Config load_config(const std::filesystem::path& path, bool missing_ok) {
    unique_fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd && errno == ENOENT && missing_ok) return Config{};
    if (!fd) throw ConfigError(fmt::format("{}: {}", path.string(), std::strerror(errno)));
    std::string text;
    char buffer[64 * 1024];
    for (;;) {
        ssize_t n = ::read(fd.get(), buffer, sizeof buffer);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) throw ConfigError(fmt::format("{}: {}", path.string(), std::strerror(errno)));
        if (n == 0) break;
        text.append(buffer, static_cast<std::size_t>(n));
    }
    return parse_config(text, path.string());
}

}  // namespace jaild
