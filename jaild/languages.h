// The language registry: how each language is run, read from one TOML file per language at start
// (docs/languages.md). jaild owns this; the gateway only passes the language's name along. A language whose
// runtime is missing on the host is disabled with a log line, not an error.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <variant>
#include <vector>

#include "common/config.h"
#include "jaild/plan_from_request.h"

namespace jaild {

namespace v1 {
class ExecuteRequest;
}

struct LanguageError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

// The compile step of a compiled language: its argv and its own limits (0 = the run's default).
struct CompileStep {
    std::vector<std::string> argv;
    std::uint32_t cpu_ms = 0;
    std::uint32_t wall_ms = 0;
    std::uint64_t memory_kb = 0;
};

struct Language {
    std::string name;
    std::vector<std::string> aliases;
    std::string source;                      // file name of the code in the workspace
    std::vector<std::string> version_argv;   // first line of its output is the version
    std::vector<std::string> run;            // the request's args are appended
    std::vector<std::string> main_run;       // main() mode; empty: not supported
    std::vector<std::string> result_run;     // `result` variable mode; empty: not supported
    std::optional<CompileStep> compile;      // compiled languages
    std::vector<std::string> binds;          // extra host directories the rootfs needs (read-only)
    std::map<std::string, std::string> env;  // defaults under the request's env
    bool zygote = false;                     // runs that fit start in a warm interpreter (jaild/sandbox/zygote.h)
    std::vector<std::string> preload;        // the modules that interpreter has imported
    std::string file;                        // where it was read from
    std::string version;                     // filled at start; empty until then
};

// Parses one language file. Throws LanguageError naming the file, line and key.
Language parse_language(std::string_view text, const std::string& source);

// Every *.toml in dir, sorted by name. A bad file is an error (the admin wrote it); a missing directory is
// an empty registry with a warning.
std::vector<Language> load_languages(const std::filesystem::path& dir);

// A request mapped to the plans that carry it out: the compile step (compiled languages) and the run.
// Both use the same workspace; the compile plan carries the files, the run plan only its program.
struct ExecutePlan {
    std::optional<RunPlan> compile;
    RunPlan run;
    int mode = 0;  // v1::ExecuteMode
    const Language* language = nullptr;
};

class LanguageRegistry {
public:
    LanguageRegistry() = default;
    explicit LanguageRegistry(std::vector<Language> languages) : languages_(std::move(languages)) {}

    // By name or alias; null when unknown or disabled.
    const Language* find(const std::string& name) const;
    const std::vector<Language>& all() const { return languages_; }
    // Host directories the enabled languages need besides sandbox.ro_binds.
    std::vector<std::string> extra_binds() const;

private:
    std::vector<Language> languages_;
};

// Validates an execute request against the registry and the limits (code size, data names, files...).
std::variant<ExecutePlan, PlanError> make_execute_plan(const v1::ExecuteRequest& request,
                                                       const LanguageRegistry& registry, const LimitSet& defaults,
                                                       const LimitSet& maxima);

// A `data` key must be a Python identifier (ASCII), not a keyword and not a dunder name.
bool valid_variable_name(std::string_view name);

}  // namespace jaild
