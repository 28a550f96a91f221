// Configuration parsing: the same TOML text as jaild's config file (parse_config) and as a language file
// (parse_language), both with toml++.
//
// Invariants:
// - only ConfigError / LanguageError ever leave the parsers (an admin's typo must be a message naming the line,
//   never another exception or a crash);
// - an accepted config satisfies every documented range: defaults above 0 and at most their maxima, absolute
//   paths, the uid range below (uid_t)-1, a valid log level and hostname; parsing is deterministic;
// - with an accepted config, jaild plans a request that asks for nothing: the plan's limits are exactly the
//   configured defaults, kilobytes times 1024 without wrapping round;
// - an accepted language has a valid name and aliases, a plain source file name inside the workspace, a run
//   command, absolute binds; a request in every mode it supports plans with its source file and program.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz_common.h"
#include "jaild.pb.h"
#include "jaild/languages.h"

using namespace jaild;

namespace {

bool absolute(const std::string& path) { return !path.empty() && path.front() == '/'; }

bool valid_language_name(const std::string& name) {
    return !name.empty() && name.size() <= 32 && std::all_of(name.begin(), name.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' || c == '-' || c == '_' || c == '.';
    });
}

// kb * 1024 as jaild must store it: exactly, or the config should have been refused.
std::uint64_t bytes(std::uint64_t kb) {
    std::uint64_t out = 0;
    const bool overflow = __builtin_mul_overflow(kb, std::uint64_t{1024}, &out);
    if (overflow) std::fprintf(stderr, "%llu KiB does not fit in 64 bits of bytes\n", (unsigned long long)kb);
    FUZZ_CHECK(!overflow);
    return out;
}

void check_config(const Config& c, std::string_view text) {
    const LimitSet& d = c.limits_default;
    const LimitSet& m = c.limits_max;
    FUZZ_CHECK(d.cpu_ms > 0 && d.cpu_ms <= m.cpu_ms && d.wall_ms > 0 && d.wall_ms <= m.wall_ms);
    FUZZ_CHECK(d.memory_kb > 0 && d.memory_kb <= m.memory_kb && d.fsize_kb > 0 && d.fsize_kb <= m.fsize_kb);
    FUZZ_CHECK(d.nofile > 0 && d.nofile <= m.nofile && d.nproc > 0 && d.nproc <= m.nproc);
    FUZZ_CHECK(d.output_bytes > 0 && d.output_bytes <= m.output_bytes && d.tmp_kb > 0 && d.tmp_kb <= m.tmp_kb);
    FUZZ_CHECK(d.code_bytes > 0 && d.code_bytes <= m.code_bytes && d.stack_kb > 0 && d.stack_kb <= m.stack_kb);
    FUZZ_CHECK(c.server.socket_mode <= 0777 && c.server.max_jobs >= 1);
    FUZZ_CHECK(c.server.max_frame_bytes >= 1024 && c.server.max_frame_bytes <= 1024ULL * 1024 * 1024);
    FUZZ_CHECK(c.sandbox.uid_base >= 1000 && c.sandbox.uid_count >= 4);
    FUZZ_CHECK(std::uint64_t{c.sandbox.uid_base} + c.sandbox.uid_count <= 0xFFFF'FFFEULL);
    FUZZ_CHECK(absolute(c.server.socket) && absolute(c.sandbox.run_dir) && absolute(c.languages.dir) &&
               absolute(c.languages.support_dir));
    FUZZ_CHECK(c.sandbox.rootfs.empty() || absolute(c.sandbox.rootfs));
    FUZZ_CHECK(c.sandbox.cgroup_root.empty() || absolute(c.sandbox.cgroup_root));
    FUZZ_CHECK(std::all_of(c.sandbox.ro_binds.begin(), c.sandbox.ro_binds.end(), absolute));
    FUZZ_CHECK(std::all_of(c.sandbox.etc_files.begin(), c.sandbox.etc_files.end(), absolute));
    const std::string_view levels[] = {"trace", "debug", "info", "warn", "error", "critical", "off"};
    FUZZ_CHECK(std::find(std::begin(levels), std::end(levels), c.log.level) != std::end(levels));
    FUZZ_CHECK(!c.sandbox.hostname.empty() && c.sandbox.hostname.size() <= 64);
    FUZZ_CHECK(c.sessions.ttl_s >= 1 && c.sessions.quota_kb >= 64 && c.sessions.max_sessions >= 1);
    FUZZ_CHECK(parse_config(text, "again.toml") == c);

    // A request that asks for nothing gets the defaults, exactly.
    v1::RunRequest request;
    request.add_argv("/bin/true");
    auto planned = make_run_plan(request, d, m);
    FUZZ_CHECK(std::holds_alternative<RunPlan>(planned));
    const ResolvedLimits& l = std::get<RunPlan>(planned).limits;
    FUZZ_CHECK(l.cpu_ms == d.cpu_ms && l.wall_ms == d.wall_ms && l.nofile == d.nofile && l.nproc == d.nproc);
    FUZZ_CHECK(l.output_bytes == d.output_bytes);
    // tests/fuzz/crashes/fuzz_config-limit-kb-wraps: sizes in KiB once wrapped to 0 bytes ("no limit").
    FUZZ_CHECK(l.memory_bytes == bytes(d.memory_kb) && l.fsize_bytes == bytes(d.fsize_kb));
    FUZZ_CHECK(l.tmp_bytes == bytes(d.tmp_kb) && l.stack_bytes == bytes(d.stack_kb));
    fuzz::check_plan(std::get<RunPlan>(planned), m);
}

void check_language(const Language& l) {
    FUZZ_CHECK(valid_language_name(l.name));
    FUZZ_CHECK(std::all_of(l.aliases.begin(), l.aliases.end(), valid_language_name));
    FUZZ_CHECK(check_relative_path(l.source).empty() && l.source.find('/') == std::string::npos);
    FUZZ_CHECK(!l.run.empty() && !l.version_argv.empty());
    FUZZ_CHECK(std::all_of(l.binds.begin(), l.binds.end(), absolute));
    if (l.compile) {
        FUZZ_CHECK(!l.compile->argv.empty());
        FUZZ_CHECK(l.compile->cpu_ms <= 3'600'000 && l.compile->wall_ms <= 3'600'000);
    }

    const LanguageRegistry registry({l});
    FUZZ_CHECK(registry.find(l.name) == &registry.all().front());
    const Config config;
    for (auto mode : {v1::EXECUTE_MODE_PLAIN, v1::EXECUTE_MODE_MAIN, v1::EXECUTE_MODE_RESULT_VARIABLE}) {
        v1::ExecuteRequest request;
        request.set_language(l.aliases.empty() ? l.name : l.aliases.back());
        request.set_code("print(1)\n");
        request.set_mode(mode);
        request.add_args("arg");
        auto planned = make_execute_plan(request, registry, config.limits_default, config.limits_max);
        const std::vector<std::string>& program = mode == v1::EXECUTE_MODE_MAIN              ? l.main_run
                                                  : mode == v1::EXECUTE_MODE_RESULT_VARIABLE ? l.result_run
                                                                                             : l.run;
        if (auto* error = std::get_if<PlanError>(&planned)) {
            // Refused only for a mode the language lacks, or a program the plan rejects (NUL, too many args).
            FUZZ_CHECK(program.empty() || !error->field.empty());
            continue;
        }
        FUZZ_CHECK(!program.empty());
        const ExecutePlan& plan = std::get<ExecutePlan>(planned);
        fuzz::check_plan(plan.run, config.limits_max);
        FUZZ_CHECK(plan.run.argv.size() == program.size() + 1 && plan.run.argv.back() == "arg");
        FUZZ_CHECK(std::equal(program.begin(), program.end(), plan.run.argv.begin()));
        FUZZ_CHECK(plan.run.transient_file == l.source);
        FUZZ_CHECK(plan.compile.has_value() == l.compile.has_value());
        const std::vector<PlanFile>& files = plan.compile ? plan.compile->files : plan.run.files;
        FUZZ_CHECK(files.size() == 1 && files.front().path == l.source && files.front().content == "print(1)\n");
        if (plan.compile) {
            fuzz::check_plan(*plan.compile, config.limits_max, true);
            FUZZ_CHECK(plan.compile->argv == l.compile->argv && plan.run.files.empty());
        }
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    try {
        check_config(parse_config(text, "fuzz.toml"), text);
    } catch (const ConfigError& e) {
        FUZZ_CHECK(std::string_view(e.what()).starts_with("fuzz.toml"));
    }
    try {
        check_language(parse_language(text, "fuzz.toml"));
    } catch (const LanguageError& e) {
        FUZZ_CHECK(std::string_view(e.what()).starts_with("fuzz.toml"));
    }
    return 0;
}
