#include "jaild/languages.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <toml++/toml.h>
#include <algorithm>
#include <boost/json/parse.hpp>
#include <fstream>
#include <set>
#include <sstream>

#include "jaild.pb.h"

namespace jaild {

namespace {

namespace fs = std::filesystem;

[[noreturn]] void fail(const std::string& source, const toml::node* node, const std::string& key,
                       const std::string& message) {
    const auto line = node ? node->source().begin.line : 0;
    throw LanguageError(fmt::format("{}:{}: \"{}\" {}", source, line, key, message));
}

std::string get_string(const toml::table& table, const std::string& source, const std::string& key, bool required) {
    const toml::node* node = table.get(key);
    if (!node) {
        if (required) fail(source, &table, key, "is required");
        return {};
    }
    const auto value = node->value<std::string>();
    if (!value || !node->is_string()) fail(source, node, key, "must be a string");
    if (value->find('\0') != std::string::npos) fail(source, node, key, "must not contain a NUL character");
    return *value;
}

std::vector<std::string> get_strings(const toml::table& table, const std::string& source, const std::string& key,
                                     bool required, const std::string& prefix = "") {
    const toml::node* node = table.get(key);
    if (!node) {
        if (required) fail(source, &table, prefix + key, "is required");
        return {};
    }
    const toml::array* array = node->as_array();
    if (!array) fail(source, node, prefix + key, "must be an array of strings");
    std::vector<std::string> out;
    for (const toml::node& item : *array) {
        if (!item.is_string()) fail(source, &item, prefix + key, "must be an array of strings");
        // execve would cut the string at the NUL: a silently different command (found by fuzz_config).
        if (item.value<std::string>()->find('\0') != std::string::npos)
            fail(source, &item, prefix + key, "must not contain a NUL character");
        out.push_back(*item.value<std::string>());
    }
    if (required && out.empty()) fail(source, node, prefix + key, "must not be empty");
    return out;
}

// In the [compile] table: the key is named compile.<key> in errors.
std::uint64_t get_positive(const toml::table& table, const std::string& source, const std::string& key,
                           std::uint64_t max) {
    const toml::node* node = table.get(key);
    if (!node) return 0;
    // is_integer first: value<int64_t>() of a float converts it, which is undefined beyond the range (a
    // 4.9e19 found by fuzz_config under UBSan).
    const auto value = node->is_integer() ? node->value<std::int64_t>() : std::nullopt;
    if (!value || *value <= 0 || static_cast<std::uint64_t>(*value) > max)
        fail(source, node, "compile." + key, fmt::format("must be an integer between 1 and {}", max));
    return static_cast<std::uint64_t>(*value);
}

void refuse_unknown(const toml::table& table, const std::string& source, const std::set<std::string>& known,
                    const std::string& prefix) {
    for (const auto& [key, node] : table) {
        if (!known.count(std::string(key.str())))
            fail(source, &node, prefix + std::string(key.str()), "is not a known key");
    }
}

bool valid_name(const std::string& name) {
    return !name.empty() && name.size() <= 32 && std::all_of(name.begin(), name.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' || c == '-' || c == '_' || c == '.';
    });
}

// Python's keywords (3.11), which cannot be variable names.
const std::set<std::string_view> kPythonKeywords = {
    "False", "None",     "True",  "and",    "as",   "assert", "async",  "await",    "break",
    "class", "continue", "def",   "del",    "elif", "else",   "except", "finally",  "for",
    "from",  "global",   "if",    "import", "in",   "is",     "lambda", "nonlocal", "not",
    "or",    "pass",     "raise", "return", "try",  "while",  "with",   "yield"};

std::string names_of(const LanguageRegistry& registry) {
    std::string out;
    for (const Language& l : registry.all()) out += (out.empty() ? "" : ", ") + l.name;
    return out.empty() ? "none" : out;
}

// A dotted Python module name: identifiers of ASCII letters, digits and underscores.
bool valid_module_name(std::string_view name) {
    if (name.empty() || name.size() > 128) return false;
    bool at_start = true;
    for (char c : name) {
        if (c == '.') {
            if (at_start) return false;
            at_start = true;
            continue;
        }
        const bool letter = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
        if (!letter && !(c >= '0' && c <= '9' && !at_start)) return false;
        at_start = false;
    }
    return !at_start;
}

}  // namespace

Language parse_language(std::string_view text, const std::string& source) {
    toml::table root;
    try {
        root = toml::parse(text, source);
    } catch (const toml::parse_error& e) {
        throw LanguageError(fmt::format("{}:{}: {}", source, e.source().begin.line, e.description()));
    }
    refuse_unknown(root, source,
                   {"name", "aliases", "source", "version", "run", "main", "result_variable", "compile", "binds", "env",
                    "zygote", "preload"},
                   "");
    Language l;
    l.file = source;
    l.name = get_string(root, source, "name", true);
    if (!valid_name(l.name)) fail(source, root.get("name"), "name", "must be 1-32 of a-z 0-9 + - _ .");
    l.aliases = get_strings(root, source, "aliases", false);
    for (const std::string& alias : l.aliases)
        if (!valid_name(alias)) fail(source, root.get("aliases"), "aliases", "entries must be 1-32 of a-z 0-9 + - _ .");
    l.source = get_string(root, source, "source", true);
    if (!check_relative_path(l.source).empty() || l.source.find('/') != std::string::npos)
        fail(source, root.get("source"), "source", "must be a plain file name");
    l.version_argv = get_strings(root, source, "version", true);
    l.run = get_strings(root, source, "run", true);
    l.main_run = get_strings(root, source, "main", false);
    l.result_run = get_strings(root, source, "result_variable", false);
    l.binds = get_strings(root, source, "binds", false);
    for (const std::string& bind : l.binds)
        if (bind.empty() || bind.front() != '/') fail(source, root.get("binds"), "binds", "entries must be absolute");
    if (const toml::node* zygote = root.get("zygote")) {
        if (!zygote->is_boolean()) fail(source, zygote, "zygote", "must be true or false");
        l.zygote = *zygote->value<bool>();
    }
    l.preload = get_strings(root, source, "preload", false);
    for (const std::string& module : l.preload)
        if (!valid_module_name(module))
            fail(source, root.get("preload"), "preload",
                 "entries must be module names such as \"numpy\" or \"sklearn.linear_model\"");
    if (!l.preload.empty() && !l.zygote) fail(source, root.get("preload"), "preload", "needs zygote = true");
    if (const toml::node* env = root.get("env")) {
        const toml::table* table = env->as_table();
        if (!table) fail(source, env, "env", "must be a table of strings");
        for (const auto& [key, value] : *table) {
            if (!value.is_string() || value.value<std::string>()->find('\0') != std::string::npos)
                fail(source, &value, "env." + std::string(key.str()), "must be a string without NUL characters");
            l.env[std::string(key.str())] = *value.value<std::string>();
        }
    }
    if (const toml::node* compile = root.get("compile")) {
        const toml::table* table = compile->as_table();
        if (!table) fail(source, compile, "compile", "must be a table");
        refuse_unknown(*table, source, {"argv", "cpu_ms", "wall_ms", "memory_kb"}, "compile.");
        CompileStep step;
        step.argv = get_strings(*table, source, "argv", true, "compile.");
        step.cpu_ms = static_cast<std::uint32_t>(get_positive(*table, source, "cpu_ms", 3'600'000));
        step.wall_ms = static_cast<std::uint32_t>(get_positive(*table, source, "wall_ms", 3'600'000));
        step.memory_kb = get_positive(*table, source, "memory_kb", 64ULL * 1024 * 1024);
        l.compile = std::move(step);
    }
    return l;
}

std::vector<Language> load_languages(const fs::path& dir) {
    std::vector<Language> out;
    std::error_code ec;
    if (!fs::is_directory(dir, ec)) {
        spdlog::warn("language directory {} does not exist: no languages for execute requests", dir.string());
        return out;
    }
    std::vector<fs::path> files;
    for (const auto& entry : fs::directory_iterator(dir, ec))
        if (entry.path().extension() == ".toml" && entry.is_regular_file()) files.push_back(entry.path());
    if (ec) throw LanguageError(dir.string() + ": " + ec.message());
    std::sort(files.begin(), files.end());
    std::set<std::string> names;
    for (const fs::path& file : files) {
        std::ifstream in(file);
        std::stringstream text;
        text << in.rdbuf();
        if (!in) throw LanguageError(file.string() + ": cannot read");
        Language language = parse_language(text.str(), file.string());
        std::vector<std::string> all_names = language.aliases;
        all_names.push_back(language.name);
        for (const std::string& name : all_names) {
            if (!names.insert(name).second)
                throw LanguageError(file.string() + ": the name \"" + name + "\" is already taken by another language");
        }
        out.push_back(std::move(language));
    }
    return out;
}

const Language* LanguageRegistry::find(const std::string& name) const {
    for (const Language& l : languages_) {
        if (l.name == name || std::find(l.aliases.begin(), l.aliases.end(), name) != l.aliases.end()) return &l;
    }
    return nullptr;
}

std::vector<std::string> LanguageRegistry::extra_binds() const {
    std::set<std::string> binds;
    for (const Language& l : languages_) binds.insert(l.binds.begin(), l.binds.end());
    return {binds.begin(), binds.end()};
}

bool valid_variable_name(std::string_view name) {
    if (name.empty() || name.size() > 255) return false;
    const auto head = [](char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; };
    if (!head(name.front())) return false;
    if (!std::all_of(name.begin(), name.end(), [&](char c) { return head(c) || (c >= '0' && c <= '9'); })) return false;
    if (name.size() >= 4 && name.substr(0, 2) == "__" && name.substr(name.size() - 2) == "__") return false;
    return !kPythonKeywords.count(name);
}

std::variant<ExecutePlan, PlanError> make_execute_plan(const v1::ExecuteRequest& request,
                                                       const LanguageRegistry& registry, const LimitSet& defaults,
                                                       const LimitSet& maxima) {
    ExecutePlan out;
    const Language* language = registry.find(request.language());
    if (request.language().empty()) return PlanError{"language", "language is required"};
    if (!language)
        return PlanError{"language",
                         "unknown language \"" + request.language() + "\"; available: " + names_of(registry)};
    out.language = language;
    out.mode = request.mode();
    const std::vector<std::string>* program = &language->run;
    if (request.mode() == v1::EXECUTE_MODE_MAIN) program = &language->main_run;
    if (request.mode() == v1::EXECUTE_MODE_RESULT_VARIABLE) program = &language->result_run;
    if (program->empty())
        return PlanError{"mode",
                         "language " + language->name + " has no " +
                             (request.mode() == v1::EXECUTE_MODE_MAIN ? "main() mode" : "result-variable mode")};
    if (request.code().size() > defaults.code_bytes)
        return PlanError{"code", "code is " + std::to_string(request.code().size()) + " bytes, more than the maximum " +
                                     std::to_string(defaults.code_bytes)};
    if (!request.data_json().empty()) {
        if (request.mode() == v1::EXECUTE_MODE_PLAIN)
            return PlanError{"data", "data needs main() or result-variable mode"};
        boost::system::error_code ec;
        const boost::json::value data = boost::json::parse(request.data_json(), ec);
        if (ec || !data.is_object()) return PlanError{"data", "data must be a JSON object"};
        for (const auto& entry : data.as_object()) {
            const std::string_view key = entry.key();
            if (!valid_variable_name(key))
                return PlanError{"data", "data key \"" + std::string(key) +
                                             "\" is not a valid variable name (ASCII identifier, not a keyword)"};
        }
    }
    for (const v1::File& file : request.files()) {
        if (file.path() == language->source)
            return PlanError{"files", "file \"" + file.path() + "\" is where the code goes; give it another name"};
    }

    v1::RunRequest run;
    run.mutable_argv()->Add(program->begin(), program->end());
    run.mutable_argv()->Add(request.args().begin(), request.args().end());
    for (const auto& [key, value] : language->env) (*run.mutable_env())[key] = value;
    for (const auto& [key, value] : request.env()) (*run.mutable_env())[key] = value;
    *run.mutable_limits() = request.limits();
    run.set_stdin(request.stdin());
    run.set_stdin_stream(request.stdin_stream());
    run.set_session_id(request.session_id());
    v1::RunRequest with_files = run;
    *with_files.mutable_files() = request.files();
    v1::File* source = with_files.add_files();
    source->set_path(language->source);
    source->set_content(request.code());

    if (!language->compile) {
        auto planned = make_run_plan(with_files, defaults, maxima);
        if (auto* error = std::get_if<PlanError>(&planned)) return *error;
        out.run = std::move(std::get<RunPlan>(planned));
    } else {
        // Validated with the run's limits first, so a request error names the request's field.
        auto planned = make_run_plan(with_files, defaults, maxima);
        if (auto* error = std::get_if<PlanError>(&planned)) return *error;
        RunPlan compile = std::move(std::get<RunPlan>(planned));
        compile.argv = language->compile->argv;
        compile.stdin_data.clear();
        compile.stdin_stream = false;
        if (language->compile->cpu_ms) compile.limits.cpu_ms = language->compile->cpu_ms;
        if (language->compile->wall_ms) compile.limits.wall_ms = language->compile->wall_ms;
        if (language->compile->memory_kb) compile.limits.memory_bytes = language->compile->memory_kb * 1024;
        // The compiler's processes (cc1, as, ld) and files are not the program's: the run's defaults apply.
        compile.limits.nproc = std::max(compile.limits.nproc, defaults.nproc);
        compile.limits.nofile = std::max(compile.limits.nofile, defaults.nofile);
        compile.limits.fsize_bytes = std::max<std::uint64_t>(compile.limits.fsize_bytes, defaults.fsize_kb * 1024);
        compile.limits.output_bytes = std::max<std::uint64_t>(compile.limits.output_bytes, defaults.output_bytes);
        out.compile = std::move(compile);
        auto run_planned = make_run_plan(run, defaults, maxima);
        if (auto* error = std::get_if<PlanError>(&run_planned)) return *error;
        out.run = std::move(std::get<RunPlan>(run_planned));
    }
    out.run.transient_file = language->source;
    if (language->zygote && !language->compile) out.run.zygote = language->name;
    if (request.mode() != v1::EXECUTE_MODE_PLAIN) {
        out.run.result_channel = true;
        out.run.result_input = request.data_json().empty() ? "{}" : request.data_json();
    }
    return out;
}

}  // namespace jaild
