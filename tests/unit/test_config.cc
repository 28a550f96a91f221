#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <string>

#include "common/config.h"

using Catch::Matchers::Contains;
using jaild::Config;
using jaild::ConfigError;
using jaild::parse_config;

namespace {

Config parse(std::string_view text) { return parse_config(text, "jaild.toml"); }

// The error message parse_config gives for `text`, or "" when it parses.
std::string error_of(std::string_view text) {
    try {
        parse(text);
    } catch (const ConfigError& e) {
        return e.what();
    }
    return "";
}

// A fresh directory under the system temp dir, removed at the end of the test.
struct TempDir {
    std::filesystem::path path;
    TempDir() {
        std::string tmpl = (std::filesystem::temp_directory_path() / "jaild-test-config-XXXXXX").string();
        REQUIRE(::mkdtemp(tmpl.data()) != nullptr);
        path = tmpl;
    }
    ~TempDir() { std::filesystem::remove_all(path); }
};

}  // namespace

TEST_CASE("an empty file gives the built-in defaults", "[unit][config]") {
    CHECK(parse("") == Config{});
    CHECK(parse("# nothing\n\n") == Config{});
    CHECK(parse("[server]\n[log]\n[sandbox]\n[limits.default]\n[limits.max]\n") == Config{});
}

TEST_CASE("the shipped config/jaild.toml is exactly the defaults", "[unit][config]") {
    auto path = std::filesystem::path(JAILD_SOURCE_DIR) / "config/jaild.toml";
    REQUIRE(std::filesystem::exists(path));
    Config config = jaild::load_config(path, false);
    CHECK(config.server == Config{}.server);
    CHECK(config.log == Config{}.log);
    CHECK(config.sandbox == Config{}.sandbox);
    CHECK(config.zygote == Config{}.zygote);
    CHECK(config.limits_default == Config{}.limits_default);
    CHECK(config.limits_max == Config{}.limits_max);
}

TEST_CASE("default_limit_maxima is the hard-max column", "[unit][config]") {
    auto max = jaild::default_limit_maxima();
    CHECK(max.cpu_ms == 300'000);
    CHECK(max.wall_ms == 600'000);
    CHECK(max.memory_kb == 2ull * 1024 * 1024);
    CHECK(max.fsize_kb == 1024 * 1024);
    CHECK(max.nofile == 4096);
    CHECK(max.nproc == 1024);
    CHECK(max.output_bytes == 64ull * 1024 * 1024);
    CHECK(max.tmp_kb == 1024 * 1024);
    CHECK(max.code_bytes == 1024 * 1024);
    CHECK(max.stack_kb == 64 * 1024);
    CHECK(Config{}.limits_max == max);
}

TEST_CASE("every key is read", "[unit][config]") {
    auto c = parse(R"(
[node]
id = "node-7"

[server]
socket = "/tmp/j.sock"
socket_group = ""
socket_mode = 0o600
allowed_uids = [1000, 1001]
allowed_gids = [50]
max_frame_bytes = 1024
max_jobs = 3
request_timeout_ms = 250

[log]
level = "debug"
format = "json"

[sandbox]
uid_base = 100000
uid_count = 10
hostname = "box-1.local"
run_dir = "/var/run/j"
rootfs = "/srv/rootfs"
ro_binds = []
etc_files = ["/etc/hosts"]
allow_network = true
degraded = true
isolation = "chroot"
cgroup_root = "/sys/fs/cgroup/jaild"
cpu_quota_percent = 150

[limits.default]
cpu_ms = 1
wall_ms = 2
memory_kb = 3
fsize_kb = 4
nofile = 5
nproc = 6
output_bytes = 7
tmp_kb = 8
code_bytes = 9
stack_kb = 10

[limits.max]
cpu_ms = 100000
wall_ms = 200000
memory_kb = 8589934592
fsize_kb = 4
nofile = 5
nproc = 6
output_bytes = 7
tmp_kb = 8
code_bytes = 9
stack_kb = 10
)");
    CHECK(c.server.socket == "/tmp/j.sock");
    CHECK(c.server.socket_group.empty());
    CHECK(c.server.socket_mode == 0600);
    CHECK(c.server.allowed_uids == std::vector<std::uint32_t>{1000, 1001});
    CHECK(c.server.allowed_gids == std::vector<std::uint32_t>{50});
    CHECK(c.server.max_frame_bytes == 1024);
    CHECK(c.server.max_jobs == 3);
    CHECK(c.server.request_timeout_ms == 250);
    CHECK(c.log.level == "debug");
    CHECK(c.log.json);
    CHECK(c.node.id == "node-7");
    CHECK(c.sandbox.uid_base == 100'000);
    CHECK(c.sandbox.uid_count == 10);
    CHECK(c.sandbox.hostname == "box-1.local");
    CHECK(c.sandbox.run_dir == "/var/run/j");
    CHECK(c.sandbox.rootfs == "/srv/rootfs");
    CHECK(c.sandbox.ro_binds.empty());
    CHECK(c.sandbox.etc_files == std::vector<std::string>{"/etc/hosts"});
    CHECK(c.sandbox.allow_network);
    CHECK(c.sandbox.degraded);
    CHECK(c.sandbox.chroot);
    CHECK(c.sandbox.cgroup_root == "/sys/fs/cgroup/jaild");
    CHECK(c.sandbox.cpu_quota_percent == 150);
    CHECK(c.limits_default == jaild::LimitSet{1, 2, 3, 4, 5, 6, 7, 8, 9, 10});
    CHECK(c.limits_max == jaild::LimitSet{100'000, 200'000, 8'589'934'592, 4, 5, 6, 7, 8, 9, 10});
}

TEST_CASE("a key left out keeps its default", "[unit][config]") {
    auto c = parse("[server]\nmax_jobs = 5\n[limits.max]\ncpu_ms = 6000\n");
    Config expected;
    expected.server.max_jobs = 5;
    expected.limits_max.cpu_ms = 6000;
    CHECK(c == expected);
    CHECK(parse("[log]\nformat = \"text\"\n").log.json == false);
}

TEST_CASE("unknown keys and tables are rejected with their line", "[unit][config]") {
    CHECK(error_of("# x\n[server]\nsockte = \"/a\"\n") == R"(jaild.toml:3: unknown key "server.sockte")");
    CHECK(error_of("[limits.foo]\ncpu_ms = 1\n") == R"(jaild.toml:1: unknown key "limits.foo")");
    CHECK(error_of("[limits.default]\n\ncpu = 1\n") == R"(jaild.toml:3: unknown key "limits.default.cpu")");
    CHECK(error_of("[serve]\n") == R"(jaild.toml:1: unknown key "serve")");
    CHECK(error_of("[sandbox]\nisolation = \"jail\"\n") ==
          R"(jaild.toml:2: "sandbox.isolation" must be "namespaces" or "chroot")");
    CHECK(error_of("top = 1\n") == R"(jaild.toml:1: unknown key "top")");
    CHECK(error_of("[log.level]\n") == R"(jaild.toml:1: "log.level" must be a string)");
}

TEST_CASE("values of the wrong type are rejected with key and line", "[unit][config]") {
    struct Case {
        std::string_view text, error;
    };
    const Case cases[] = {
        {"[server]\n\nmax_jobs = \"8\"\n",
         R"(jaild.toml:3: "server.max_jobs" must be an integer between 0 and 4294967295)"},
        {"[server]\nmax_jobs = -1\n", R"(jaild.toml:2: "server.max_jobs" must be an integer between 0 and 4294967295)"},
        {"[server]\nmax_jobs = 4294967296\n",
         R"(jaild.toml:2: "server.max_jobs" must be an integer between 0 and 4294967295)"},
        {"[server]\nmax_jobs = 2.0\n", R"(jaild.toml:2: "server.max_jobs" must be an integer)"},
        {"[limits.max]\nmemory_kb = -5\n",
         R"(jaild.toml:2: "limits.max.memory_kb" must be an integer between 0 and 9223372036854775807)"},
        {"[server]\nsocket = 5\n", R"(jaild.toml:2: "server.socket" must be a string)"},
        {"[sandbox]\nallow_network = \"yes\"\n", R"(jaild.toml:2: "sandbox.allow_network" must be true or false)"},
        {"[sandbox]\nallow_network = 1\n", R"(jaild.toml:2: "sandbox.allow_network" must be true or false)"},
        {"[sandbox]\nro_binds = \"/usr\"\n", R"(jaild.toml:2: "sandbox.ro_binds" must be an array)"},
        {"[sandbox]\nro_binds = [\"/usr\",\n  5]\n", R"(jaild.toml:3: "sandbox.ro_binds[1]" must be a string)"},
        {"[server]\nallowed_uids = [1000, \"1001\"]\n", R"(jaild.toml:2: "server.allowed_uids[1]" must be an integer)"},
        {"[server]\nallowed_gids = [-1]\n", R"(jaild.toml:2: "server.allowed_gids[0]" must be an integer)"},
        {"server = 1\n", R"(jaild.toml:1: "server" must be a table)"},
        {"limits = { default = 3 }\n", R"(jaild.toml:1: "limits.default" must be a table)"},
    };
    for (const auto& c : cases) {
        INFO(c.text);
        CHECK_THAT(error_of(c.text), Catch::Matchers::StartsWith(std::string(c.error)));
    }
}

TEST_CASE("a TOML syntax error names the source and line", "[unit][config]") {
    auto error = error_of("[server]\nmax_jobs = = 3\n");
    CHECK_THAT(error, Catch::Matchers::StartsWith("jaild.toml:2: "));
    CHECK(error.size() > std::string("jaild.toml:2: ").size());
    CHECK_THAT(error_of("[server]\nmax_jobs = 1\nmax_jobs = 2\n"), Catch::Matchers::StartsWith("jaild.toml:3: "));
    CHECK_THAT(error_of("[server\n"), Catch::Matchers::StartsWith("jaild.toml:1: "));
}

TEST_CASE("values out of their allowed range are rejected, naming the key", "[unit][config]") {
    struct Case {
        std::string_view text, error;
    };
    const Case cases[] = {
        {"[sandbox]\nuid_base = 999\n", R"(jaild.toml:2: "sandbox.uid_base" must be between 1000)"},
        {"[sandbox]\nuid_count = 3\n", R"(jaild.toml:2: "sandbox.uid_count" must be between 4)"},
        {"[server]\nrequest_timeout_ms = 0\n", R"(jaild.toml:2: "server.request_timeout_ms" must be between 1)"},
        {"[sandbox]\nuid_base = 4294966295\nuid_count = 1001\n",
         R"(jaild.toml:3: "sandbox.uid_base" + "sandbox.uid_count")"},
        {"[sandbox]\nuid_base = 4294967295\n", R"(jaild.toml:2: "sandbox.uid_base" + "sandbox.uid_count")"},
        {"[server]\nsocket_mode = 0o1000\n", R"(jaild.toml:2: "server.socket_mode" must be between 0 and 0777)"},
        {"[server]\nmax_jobs = 0\n", R"(jaild.toml:2: "server.max_jobs" must be between 1)"},
        // Sizes in KiB that would wrap to 0 bytes ("no limit") once multiplied by 1024 (found by fuzz_config).
        {"[limits.max]\nmemory_kb = 18014398509481984\n",
         R"(jaild.toml:2: "limits.max.memory_kb" must be between 0 and 1099511627776)"},
        {"[limits.default]\ntmp_kb = 1099511627777\n", R"(jaild.toml:2: "limits.default.tmp_kb" must be between 0)"},
        {"[server]\nmax_frame_bytes = 1023\n",
         R"(jaild.toml:2: "server.max_frame_bytes" must be between 1024 and 1073741824)"},
        {"[server]\nmax_frame_bytes = 1073741825\n", R"(jaild.toml:2: "server.max_frame_bytes" must be between)"},
        {"[sandbox]\ncpu_quota_percent = 100001\n",
         R"(jaild.toml:2: "sandbox.cpu_quota_percent" must be between 0 and 100000)"},
        {"[log]\nlevel = \"warning\"\n",
         R"(jaild.toml:2: "log.level" must be one of trace, debug, info, warn, error, critical, off)"},
        {"[log]\nformat = \"xml\"\n", R"(jaild.toml:2: "log.format" must be "text" or "json")"},
        {"[server]\nsocket = \"run/j.sock\"\n", R"(jaild.toml:2: "server.socket" must be an absolute path)"},
        {"[server]\nsocket = \"\"\n", R"(jaild.toml:2: "server.socket" must be an absolute path)"},
        {"[sandbox]\nrun_dir = \"run\"\n", R"(jaild.toml:2: "sandbox.run_dir" must be an absolute path)"},
        {"[sandbox]\nrootfs = \"srv\"\n", R"(jaild.toml:2: "sandbox.rootfs" must be an absolute path)"},
        {"[sandbox]\ncgroup_root = \"jaild\"\n", R"(jaild.toml:2: "sandbox.cgroup_root" must be an absolute path)"},
        {"[sandbox]\nro_binds = [\"/usr\", \"lib\"]\n",
         R"(jaild.toml:2: "sandbox.ro_binds" entry "lib" must be an absolute path)"},
        {"[sandbox]\netc_files = [\"\"]\n", R"(jaild.toml:2: "sandbox.etc_files" entry "" must be an absolute path)"},
        {"[sandbox]\nhostname = \"\"\n", R"(jaild.toml:2: "sandbox.hostname" must be 1 to 64 characters)"},
        {"[node]\nid = \"Node-A\"\n", R"(jaild.toml:2: "node.id" must be 1 to 32 characters of a-z, 0-9 and '-')"},
        {"[node]\nid = \"node_a\"\n", R"(jaild.toml:2: "node.id" must be 1 to 32 characters of a-z, 0-9 and '-')"},
        {"[node]\nid = \"node.lan\"\n", R"(jaild.toml:2: "node.id" must be 1 to 32 characters of a-z, 0-9 and '-')"},
        {"[sandbox]\nhostname = \"a_b\"\n", R"(jaild.toml:2: "sandbox.hostname" must be 1 to 64 characters)"},
        {"[sandbox]\nhostname = \"h\u00e9\"\n", R"(jaild.toml:2: "sandbox.hostname" must be 1 to 64 characters)"},
    };
    for (const auto& c : cases) {
        INFO(c.text);
        CHECK_THAT(error_of(c.text), Catch::Matchers::StartsWith(std::string(c.error)));
    }
    CHECK_THAT(error_of("[sandbox]\nhostname = \"" + std::string(65, 'a') + "\"\n"), Contains("sandbox.hostname"));
    CHECK(parse("[sandbox]\nhostname = \"" + std::string(64, 'a') + "\"\n").sandbox.hostname.size() == 64);
    CHECK_THAT(error_of("[node]\nid = \"" + std::string(33, 'n') + "\"\n"), Contains("node.id"));
    CHECK(parse("[node]\nid = \"" + std::string(32, 'n') + "\"\n").node.id.size() == 32);
    CHECK(parse("[node]\nid = \"\"\n").node.id.empty());  // as unset: the host name's (resolve_node_id)
    CHECK(parse("[server]\nsocket_mode = 0o777\nmax_frame_bytes = 1073741824\n").server.socket_mode == 0777);
    CHECK(parse("[sandbox]\nuid_base = 1000\nuid_count = 4294966294\n").sandbox.uid_count == 4'294'966'294u);
}

TEST_CASE("a default above its maximum or zero is rejected", "[unit][config]") {
    CHECK(error_of("[limits.default]\ncpu_ms = 600000\n") ==
          R"(jaild.toml:2: "limits.default.cpu_ms" is 600000, above its maximum 300000 ("limits.max.cpu_ms"))");
    // Lowering only the maximum below the built-in default points at the maximum's line.
    CHECK(error_of("[limits.max]\n\nmemory_kb = 1024\n") ==
          R"(jaild.toml:3: "limits.default.memory_kb" is 262144, above its maximum 1024 ("limits.max.memory_kb"))");
    CHECK(error_of("[limits.default]\nnproc = 0\n") ==
          R"(jaild.toml:2: "limits.default.nproc" must be greater than 0)");
    CHECK(error_of("[limits.max]\nnofile = 0\n") ==
          R"(jaild.toml:2: "limits.default.nofile" is 64, above its maximum 0 ("limits.max.nofile"))");
    CHECK(parse("[limits.default]\nstack_kb = 65536\n").limits_default.stack_kb == 65536);
}

TEST_CASE("load_config reads a file and reports a missing or unreadable one", "[unit][config]") {
    TempDir dir;
    auto missing = dir.path / "absent.toml";
    CHECK(jaild::load_config(missing, true) == Config{});
    CHECK_THROWS_WITH(jaild::load_config(missing, false), Contains(missing.string()) && Contains("No such file"));

    // A directory opens but cannot be read: the error carries strerror(EISDIR).
    CHECK_THROWS_WITH(jaild::load_config(dir.path, true), Contains(dir.path.string()) && Contains("Is a directory"));

    auto file = dir.path / "jaild.toml";
    std::ofstream(file) << "[server]\nmax_jobs = 7\nbogus = 1\n";
    CHECK_THROWS_WITH(jaild::load_config(file, true), file.string() + R"(:3: unknown key "server.bogus")");
    std::ofstream(file) << "[server]\nmax_jobs = 7\n";
    CHECK(jaild::load_config(file, false).server.max_jobs == 7);
}
