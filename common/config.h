// jaild's configuration: one TOML file (default /etc/jaild/jaild.toml), every key optional with a default.
// Loaded once at start-up by jaild (and read by jailctl/gateway for the socket path); parse errors throw
// ConfigError whose message names the key and the line.
#pragma once

#include <cstdint>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace jaild {

struct ConfigError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

// One set of run limits. [limits.default] and [limits.max] in the file.
struct LimitSet {
    std::uint32_t cpu_ms = 5'000;
    std::uint32_t wall_ms = 10'000;
    std::uint64_t memory_kb = 256 * 1024;
    std::uint64_t fsize_kb = 10 * 1024;
    std::uint32_t nofile = 64;
    std::uint32_t nproc = 64;
    std::uint64_t output_bytes = 1024 * 1024;
    std::uint64_t tmp_kb = 64 * 1024;
    std::uint64_t code_bytes = 200 * 1024;  // a 50,000-character script (seed 004's limit) in UTF-8 fits
    std::uint64_t stack_kb = 8 * 1024;

    bool operator==(const LimitSet&) const = default;
};

LimitSet default_limit_maxima();  // the "hard max" column of DESIGN.md

struct ServerConfig {
    std::string socket = "/run/jaild/jaild.sock";
    std::string socket_group = "jaild";  // group owning the socket; empty = root's group
    std::uint32_t socket_mode = 0660;
    std::vector<std::uint32_t> allowed_uids;  // besides root, which is always allowed
    std::vector<std::uint32_t>
        allowed_gids;  // peers in a listed group (primary or supplementary); socket_group is added
    std::uint64_t max_frame_bytes = 16 * 1024 * 1024;
    std::uint32_t max_jobs = 64;                // concurrent runs; more get RESOURCE_EXHAUSTED
    std::uint32_t request_timeout_ms = 10'000;  // time a client has to send its first frame
    std::uint32_t write_timeout_ms = 30'000;    // a client not reading for this long is dropped

    bool operator==(const ServerConfig&) const = default;
};

struct LogConfig {
    std::string level = "info";  // trace, debug, info, warn, error, critical, off
    bool json = false;           // format = "json": one JSON object per line

    bool operator==(const LogConfig&) const = default;
};

struct SandboxConfig {
    std::uint32_t uid_base = 60'000;  // sandbox uids/gids: [uid_base, uid_base + uid_count)
    std::uint32_t uid_count = 1'000;
    std::string hostname = "jaild";
    std::string run_dir = "/run/jaild";
    std::string rootfs;  // empty: the host's runtime directories, read-only
    std::vector<std::string> ro_binds = {"/usr", "/bin", "/sbin", "/lib", "/lib64", "/lib32", "/libx32"};
    std::vector<std::string> etc_files = {
        "/etc/alternatives", "/etc/ld.so.cache",   "/etc/ld.so.conf", "/etc/ld.so.conf.d",
        "/etc/localtime",    "/etc/nsswitch.conf", "/etc/ssl",        "/etc/ca-certificates",
        "/etc/mime.types",   "/etc/matplotlibrc",  "/etc/fonts",      "/etc/python3",
        "/etc/python3.11",   "/etc/perl",          "/etc/os-release", "/etc/debian_version"};
    bool allow_network = false;
    std::string cgroup_root;              // empty: beneath jaild's own cgroup
    std::uint32_t cpu_quota_percent = 0;  // per-job cpu.max / cfs quota; 0 = no quota
    // Sandboxes prepared ahead of the runs that can use them (jaild/sandbox/warm_pool.h); 0 = every run is built
    // when it is asked for.
    std::uint32_t warm_sandboxes = 2;
    // Where no cgroup can be used: serve anyway, with the limits enforced by rlimits and the run's PID
    // namespace (docs/security.md "Degraded mode"). false: such a host is refused.
    bool degraded = false;
    // `isolation = "chroot"`: where the host refuses namespaces (Cloud Run), each run gets a chroot into a root
    // of its own instead of namespaces (docs/security.md "Chroot mode"). false: "namespaces", the default.
    bool chroot = false;

    bool operator==(const SandboxConfig&) const = default;
};

// The language registry (one TOML file per language) and the files its runners need.
struct LanguagesConfig {
    std::string dir = "/etc/jaild/languages.d";  // *.toml, one per language
    std::string support_dir = "/usr/lib/jaild";  // runner.py and friends, read-only at /opt/jaild in runs

    bool operator==(const LanguagesConfig&) const = default;
};

// Sessions: stateful workspaces that persist across runs and restarts (docs/sessions.md).
struct SessionsConfig {
    std::string state_dir = "/var/lib/jaild";  // sessions/<id>/{meta.json,data/}
    std::uint32_t ttl_s = 300;                 // unused this long: deleted with its files
    std::uint64_t quota_kb = 100 * 1024;       // per session: workspace and /tmp together
    std::uint32_t max_sessions = 1000;         // in all
    std::uint32_t max_per_principal = 50;      // per caller
    // Live sessions (jaild/live/, docs/sessions.md): sandboxes that stay up between requests.
    std::uint32_t max_live = 8;                  // live sandboxes up at once, in all
    std::uint64_t live_memory_kb = 1024 * 1024;  // each one's cgroup memory (no swap)
    std::uint32_t live_nproc = 512;              // each one's processes and threads
    std::uint32_t live_processes = 64;           // processes started in one (running or kept) at once
    std::uint64_t live_output_kb = 1024;         // ring buffer per process and stream
    std::uint32_t live_cpu_s = 24 * 3600;        // CPU time of one live sandbox, all its processes
    std::uint32_t live_max_s = 24 * 3600;        // the longest a live sandbox stays up

    bool operator==(const SessionsConfig&) const = default;
};

// Python requirements (a request's `requirements`), installed offline from the operator's wheelhouse into
// shared read-only environments (jaild/packages.h, docs/languages.md).
struct PackagesConfig {
    std::string wheelhouse = "/var/lib/jaild/wheelhouse";  // the only source of packages: *.whl files
    std::string envs_dir = "/var/cache/jaild/packages";    // one directory per resolved set of requirements
    std::uint64_t budget_kb = 2 * 1024 * 1024;             // environments beyond it: least recently used go
    // The install sandbox (pip, no network).
    std::uint32_t install_cpu_ms = 120'000;
    std::uint32_t install_wall_ms = 300'000;
    std::uint64_t install_memory_kb = 1024 * 1024;
    std::uint64_t install_tmp_kb = 1024 * 1024;  // /tmp (pip unpacks there) and the largest file it writes

    bool operator==(const PackagesConfig&) const = default;
};

// Warm Python (jaild/sandbox/zygote.h, docs/languages.md): the zygotes of languages with `zygote = true`.
struct ZygoteConfig {
    bool enabled = true;             // false: every run starts cold
    std::uint32_t max_forks = 1000;  // runs one zygote starts before a fresh one replaces it (0: no bound)
    std::uint32_t max_minutes = 60;  // its age before it is replaced (0: no bound)

    bool operator==(const ZygoteConfig&) const = default;
};

// This host's name in a cluster (docs/scale-out.md): the suffix of the session ids it makes.
struct NodeConfig {
    std::string id;  // 1 to 32 of a-z 0-9 '-'; empty: the host name (resolve_node_id)

    bool operator==(const NodeConfig&) const = default;
};

struct Config {
    NodeConfig node;
    ServerConfig server;
    LogConfig log;
    SandboxConfig sandbox;
    LanguagesConfig languages;
    SessionsConfig sessions;
    PackagesConfig packages;
    ZygoteConfig zygote;
    LimitSet limits_default;
    LimitSet limits_max = default_limit_maxima();

    bool operator==(const Config&) const = default;
};

// Parses TOML text. `source` names the file in error messages. Throws ConfigError on an unknown key, a value
// of the wrong type or out of range, or a default above its maximum.
Config parse_config(std::string_view text, std::string_view source);

// The node id: [node] id when set, else the one `hostname` gives (node_id_from_hostname). ConfigError naming the
// host name when it gives none.
std::string resolve_node_id(const NodeConfig& node, std::string_view hostname);

// Loads a file. A missing file gives the built-in defaults when `missing_ok`, else ConfigError.
Config load_config(const std::filesystem::path& path, bool missing_ok);

}  // namespace jaild
