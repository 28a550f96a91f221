#include "gateway/request_parsing.h"

#include <algorithm>
#include <boost/json/serialize.hpp>
#include <cmath>
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <vector>

#include "common/requirements.h"
#include "gateway/limits.h"
#include "gateway/precise_json.h"

namespace jaild::gateway {

namespace json = boost::json;

namespace {

constexpr std::uint64_t kU32 = std::numeric_limits<std::uint32_t>::max();
constexpr std::uint64_t kU64 = std::numeric_limits<std::uint64_t>::max();

// One row per limit: its name in HTTP requests (seed 003's vocabulary), in the proto, and how it is stored.
struct LimitField {
    const char* http;
    const char* proto;
    std::uint64_t max;
    void (*set)(v1::Limits&, std::uint64_t);
};

const LimitField kLimitFields[] = {
    {"time", "cpu_ms", kU32, [](v1::Limits& l, std::uint64_t v) { l.set_cpu_ms(static_cast<std::uint32_t>(v)); }},
    {"wall", "wall_ms", kU32, [](v1::Limits& l, std::uint64_t v) { l.set_wall_ms(static_cast<std::uint32_t>(v)); }},
    {"mem", "memory_kb", kU64, [](v1::Limits& l, std::uint64_t v) { l.set_memory_kb(v); }},
    {"fsize", "fsize_kb", kU64, [](v1::Limits& l, std::uint64_t v) { l.set_fsize_kb(v); }},
    {"nofile", "nofile", kU32, [](v1::Limits& l, std::uint64_t v) { l.set_nofile(static_cast<std::uint32_t>(v)); }},
    {"nproc", "nproc", kU32, [](v1::Limits& l, std::uint64_t v) { l.set_nproc(static_cast<std::uint32_t>(v)); }},
    {"output", "output_bytes", kU64, [](v1::Limits& l, std::uint64_t v) { l.set_output_bytes(v); }},
    {"tmp", "tmp_kb", kU64, [](v1::Limits& l, std::uint64_t v) { l.set_tmp_kb(v); }},
};

const LimitField* find_limit(std::string_view http_name) {
    for (const LimitField& field : kLimitFields)
        if (http_name == field.http) return &field;
    return nullptr;
}

// Field names are reported as the request spells them: a limit by its own name wherever it was given ("time",
// also inside "limits"), a map's entry with its map ("env.FOO").
std::string join(std::string_view prefix, std::string_view name) {
    return prefix.empty() ? std::string(name) : std::string(prefix) + "." + std::string(name);
}

std::optional<std::uint64_t> as_uint(const json::value& value, std::uint64_t max) {
    std::uint64_t n = 0;
    if (value.is_uint64()) {
        n = value.get_uint64();
    } else if (value.is_int64() && value.get_int64() >= 0) {
        n = static_cast<std::uint64_t>(value.get_int64());
    } else {
        return std::nullopt;  // negative, fractional (1.5 or 1e3 as a double) or not a number at all
    }
    if (n > max) return std::nullopt;
    return n;
}

std::optional<FieldError> set_limit(const LimitField& field, const json::value& value, v1::Limits& limits) {
    const auto n = as_uint(value, field.max);
    if (!n) {
        return FieldError{field.http, std::string(field.http) + " must be a non-negative integer of at most " +
                                          std::to_string(field.max)};
    }
    field.set(limits, *n);
    return std::nullopt;
}

std::optional<FieldError> get_string(const json::value& value, const std::string& field, std::string& out) {
    if (!value.is_string()) return FieldError{field, field + " must be a string"};
    out = std::string(value.get_string());
    return std::nullopt;
}

std::optional<FieldError> get_strings(const json::value& value, const std::string& field,
                                      google::protobuf::RepeatedPtrField<std::string>& out) {
    if (!value.is_array()) return FieldError{field, field + " must be an array of strings"};
    for (const json::value& item : value.get_array()) {
        if (!item.is_string()) return FieldError{field, field + " must be an array of strings"};
        out.Add(std::string(item.get_string()));
    }
    return std::nullopt;
}

std::optional<FieldError> get_string_map(const json::value& value, const std::string& field,
                                         google::protobuf::Map<std::string, std::string>& out) {
    if (!value.is_object()) return FieldError{field, field + " must be an object of strings"};
    for (const auto& entry : value.get_object()) {
        if (!entry.value().is_string()) {
            const std::string name = join(field, entry.key());
            return FieldError{name, name + " must be a string"};
        }
        out[std::string(entry.key())] = std::string(entry.value().get_string());
    }
    return std::nullopt;
}

// Fields every run-like request shares: stream, encoding.
std::optional<FieldError> common_field(std::string_view key, const json::value& value, ParsedRequest& out,
                                       bool& known) {
    known = true;
    if (key == "stream") {
        if (!value.is_bool()) return FieldError{"stream", "stream must be a boolean"};
        out.stream = value.get_bool();
    } else if (key == "encoding") {
        if (!value.is_string()) return FieldError{"encoding", "encoding must be a string"};
        const std::string_view name = value.get_string();
        if (name == "utf-8" || name == "utf8") {
            out.encoding = Encoding::utf8;
        } else if (name == "base64") {
            out.encoding = Encoding::base64;
        } else {
            return FieldError{"encoding", "encoding must be \"utf-8\" or \"base64\""};
        }
    } else {
        known = false;
    }
    return std::nullopt;
}

std::optional<FieldError> run_field(std::string_view key, const json::value& value, ParsedRequest& out) {
    v1::RunRequest& run = *out.message.mutable_run();
    const std::string name(key);
    if (key == "command") return get_strings(value, name, *run.mutable_argv());
    if (key == "env") return get_string_map(value, name, *run.mutable_env());
    if (key == "cwd") return get_string(value, name, *run.mutable_cwd());
    if (key == "stdin") return get_string(value, name, *run.mutable_stdin());
    if (const LimitField* limit = find_limit(key)) return set_limit(*limit, value, *run.mutable_limits());
    bool known = false;
    auto error = common_field(key, value, out, known);
    if (!known) return FieldError{name, "unknown field " + name};
    return error;
}

// /execute's limits: inside "limits", or at the top level as /run takes them; one meaning, given once.
std::optional<FieldError> get_limit(const LimitField& field, const json::value& value, v1::ExecuteRequest& execute,
                                    std::vector<const LimitField*>& given) {
    if (std::find(given.begin(), given.end(), &field) != given.end())
        return FieldError{field.http, std::string(field.http) + " is given twice: at the top level and in limits"};
    given.push_back(&field);
    return set_limit(field, value, *execute.mutable_limits());
}

std::optional<FieldError> get_limits(const json::value& value, v1::ExecuteRequest& execute,
                                     std::vector<const LimitField*>& given) {
    if (!value.is_object()) return FieldError{"limits", "limits must be an object"};
    for (const auto& entry : value.get_object()) {
        const LimitField* limit = find_limit(entry.key());
        if (!limit) {
            const std::string name(entry.key());
            return FieldError{name, "unknown field " + name + " in limits"};
        }
        if (auto error = get_limit(*limit, entry.value(), execute, given)) return error;
    }
    return std::nullopt;
}

std::optional<FieldError> get_files(const json::value& value, v1::ExecuteRequest& execute) {
    if (!value.is_object()) return FieldError{"files", "files must be an object of {name: content}"};
    for (const auto& entry : value.get_object()) {
        const std::string name = join("files", entry.key());
        if (!entry.value().is_string()) return FieldError{name, name + " must be a string"};
        v1::File& file = *execute.add_files();
        file.set_path(std::string(entry.key()));
        file.set_content(std::string(entry.value().get_string()));
    }
    return std::nullopt;
}

// What /execute's fields leave to be checked once all are read.
struct ExecuteFields {
    std::string script;
    bool has_code = false;
    std::vector<const LimitField*> limits_given;
};

// Seed 000's requirements.txt text, checked line by line here (and again by jaild).
std::optional<FieldError> get_requirements(const json::value& value, v1::ExecuteRequest& execute) {
    if (auto error = get_string(value, "requirements", *execute.mutable_requirements())) return error;
    const auto parsed = requirements::parse(execute.requirements());
    if (const auto* error = std::get_if<requirements::Error>(&parsed))
        return FieldError{"requirements", error->message};
    return std::nullopt;
}

std::optional<FieldError> execute_field(std::string_view key, const json::value& value, ParsedRequest& out,
                                        ExecuteFields& fields) {
    v1::ExecuteRequest& execute = *out.message.mutable_execute();
    const std::string name(key);
    if (key == "language") return get_string(value, name, *execute.mutable_language());
    if (key == "code") {
        fields.has_code = true;
        return get_string(value, name, *execute.mutable_code());
    }
    if (key == "script") {
        out.script = true;
        return get_string(value, name, fields.script);
    }
    if (key == "stdin") return get_string(value, name, *execute.mutable_stdin());
    if (key == "args") return get_strings(value, name, *execute.mutable_args());
    if (key == "env") return get_string_map(value, name, *execute.mutable_env());
    if (key == "files") return get_files(value, execute);
    if (key == "limits") return get_limits(value, execute, fields.limits_given);
    if (const LimitField* limit = find_limit(key)) return get_limit(*limit, value, execute, fields.limits_given);
    if (key == "requirements") return get_requirements(value, execute);
    bool known = false;
    auto error = common_field(key, value, out, known);
    if (!known) return FieldError{name, "unknown field " + name};
    return error;
}

// Whether a number in value overflowed to infinity (1e400): Boost.JSON reads it as inf and would spell it
// 1e99999, which is not JSON another reader accepts.
bool has_non_finite(const json::value& value) {
    if (value.is_double()) return !std::isfinite(value.get_double());
    if (value.is_object()) {
        for (const auto& entry : value.get_object())
            if (has_non_finite(entry.value())) return true;
    }
    if (value.is_array()) {
        for (const json::value& item : value.get_array())
            if (has_non_finite(item)) return true;
    }
    return false;
}

// Seed 002's body: user_id, code, data, plus /run's limits, stream and encoding.
std::optional<FieldError> user_run_field(std::string_view key, const json::value& value, ParsedRequest& out) {
    v1::ExecuteRequest& execute = *out.message.mutable_execute();
    const std::string name(key);
    if (key == "user_id") return get_string(value, name, out.user_id);
    if (key == "code") return get_string(value, name, *execute.mutable_code());
    if (key == "data") {
        if (!value.is_object()) return FieldError{"data", "data must be an object of {variable: value}"};
        if (has_non_finite(value)) return FieldError{"data", "data holds a number too large for a double"};
        execute.set_data_json(json::serialize(value));
        return std::nullopt;
    }
    if (key == "command") return FieldError{"command", "give either command or user_id, not both"};
    if (const LimitField* limit = find_limit(key)) return set_limit(*limit, value, *execute.mutable_limits());
    bool known = false;
    auto error = common_field(key, value, out, known);
    if (!known) return FieldError{name, "unknown field " + name};
    return error;
}

ParseResult parse_user_run(const json::object& body) {
    ParsedRequest out;
    out.kind = RequestKind::execute;
    v1::ExecuteRequest& execute = *out.message.mutable_execute();
    for (const auto& entry : body)
        if (auto error = user_run_field(entry.key(), entry.value(), out)) return *error;
    if (!valid_user_id(out.user_id))
        return FieldError{"user_id", "user_id must be 1 to 128 printable ASCII characters"};
    if (!body.contains("code")) return FieldError{"code", "code is required with user_id"};
    execute.set_language("python");
    execute.set_mode(v1::EXECUTE_MODE_RESULT_VARIABLE);
    return out;
}

// Seed 004's {"script"}: Python, main() mode, its size and main() checks, its 30-second and 300 MB limits.
// Characters (code points) of valid UTF-8 text, as Python's len() counts a str.
std::size_t count_characters(std::string_view text) {
    return static_cast<std::size_t>(
        std::count_if(text.begin(), text.end(), [](char c) { return (static_cast<unsigned char>(c) & 0xC0) != 0x80; }));
}

std::optional<FieldError> apply_script(std::string script, bool has_code, std::size_t max_chars,
                                       v1::ExecuteRequest& execute, std::vector<std::string>& chosen) {
    if (has_code) return FieldError{"script", "give either code or script, not both"};
    if (!execute.language().empty() && execute.language() != "python")
        return FieldError{"language", "a script is Python; language must be \"python\" or absent"};
    if (count_characters(script) > max_chars) return FieldError{"script", "Invalid script size"};
    if (!has_top_level_main(script)) return FieldError{"script", "Script must contain a 'main()' function"};
    execute.set_language("python");
    execute.set_mode(v1::EXECUTE_MODE_MAIN);
    execute.set_code(std::move(script));
    v1::Limits& limits = *execute.mutable_limits();
    if (limits.cpu_ms() == 0) {
        limits.set_cpu_ms(kScriptDefaultLimitMs);
        chosen.push_back("cpu_ms");
    }
    if (limits.wall_ms() == 0) {
        limits.set_wall_ms(kScriptDefaultLimitMs);
        chosen.push_back("wall_ms");
    }
    if (limits.memory_kb() == 0) {
        limits.set_memory_kb(kScriptDefaultMemoryKb);
        chosen.push_back("memory_kb");
    }
    return std::nullopt;
}

}  // namespace

std::variant<json::object, FieldError> parse_object(std::string_view body) {
    boost::system::error_code ec;
    json::value value = parse_json(body, ec);
    if (ec) return FieldError{"", "request body is not valid JSON: " + ec.message()};
    if (!value.is_object()) return FieldError{"", "request body must be a JSON object"};
    return std::move(value.get_object());
}

bool valid_user_id(std::string_view id) {
    if (id.empty() || id.size() > 128) return false;
    for (unsigned char c : id)
        if (c < 0x20 || c >= 0x7f) return false;
    return true;
}

ParseResult parse_run(std::string_view body) {
    auto parsed = parse_object(body);
    if (auto* error = std::get_if<FieldError>(&parsed)) return *error;
    if (std::get<json::object>(parsed).contains("user_id")) return parse_user_run(std::get<json::object>(parsed));
    ParsedRequest out;
    out.kind = RequestKind::run;
    out.message.mutable_run();
    for (const auto& entry : std::get<json::object>(parsed))
        if (auto error = run_field(entry.key(), entry.value(), out)) return *error;
    if (out.message.run().argv_size() == 0) return FieldError{"command", "command is required and must not be empty"};
    return out;
}

ParseResult parse_execute(std::string_view body, std::size_t max_script_chars) {
    auto parsed = parse_object(body);
    if (auto* error = std::get_if<FieldError>(&parsed)) return *error;
    ParsedRequest out;
    out.kind = RequestKind::execute;
    v1::ExecuteRequest& execute = *out.message.mutable_execute();
    ExecuteFields fields;
    for (const auto& entry : std::get<json::object>(parsed))
        if (auto error = execute_field(entry.key(), entry.value(), out, fields)) return *error;
    if (out.script) {
        if (auto error =
                apply_script(std::move(fields.script), fields.has_code, max_script_chars, execute, out.chosen_limits))
            return *error;
        return out;
    }
    if (!fields.has_code) return FieldError{"code", "code (or script) is required"};
    if (execute.language().empty()) return FieldError{"language", "language is required with code"};
    return out;
}

bool has_top_level_main(std::string_view script) {
    std::size_t start = 0;
    while (start <= script.size()) {
        std::size_t end = script.find('\n', start);
        if (end == std::string_view::npos) end = script.size();
        std::string_view line = script.substr(start, end - start);
        if (line.starts_with("async ")) line.remove_prefix(6);
        if (line.starts_with("def") && line.size() > 3 && (line[3] == ' ' || line[3] == '\t')) {
            line.remove_prefix(3);
            line.remove_prefix(std::min(line.find_first_not_of(" \t"), line.size()));
            if (line.starts_with("main")) {
                line.remove_prefix(4);
                line.remove_prefix(std::min(line.find_first_not_of(" \t"), line.size()));
                if (line.starts_with("(")) return true;
            }
        }
        start = end + 1;
    }
    return false;
}

std::string http_field_name(std::string_view proto_field, RequestKind kind) {
    const bool execute = kind == RequestKind::execute;
    if (proto_field.starts_with("limits.")) {
        const std::string_view name = proto_field.substr(7);
        for (const LimitField& field : kLimitFields)
            if (name == field.proto) return field.http;
        return std::string(proto_field);  // a future limit with no HTTP name yet
    }
    if (proto_field == "argv") return execute ? "args" : "command";
    if (proto_field == "request_id") return "X-Request-Id";
    if (proto_field == "data_json") return "data";
    if (proto_field == "name" && kind == RequestKind::run) return "user_id";  // seed 002's session
    if (kind == RequestKind::session) {
        // The live routes' bodies: ProcessStart's stdin_closed is "stdin"; ProcessResize's size is the body.
        if (proto_field == "stdin_closed") return "stdin";
        if (proto_field.starts_with("size.")) return std::string(proto_field.substr(5));
        // SessionSetEnv's set/unset are the body's one env object.
        for (std::string_view list : {"set", "unset"}) {
            if (proto_field == list) return "env";
            if (proto_field.starts_with(list) && proto_field.size() > list.size() && proto_field[list.size()] == '.')
                return "env" + std::string(proto_field.substr(list.size()));
        }
    }
    return std::string(proto_field);
}

bool valid_request_id(std::string_view id) {
    if (id.empty() || id.size() > 128) return false;
    for (unsigned char c : id)
        if (c <= 0x20 || c >= 0x7f) return false;
    return true;
}

}  // namespace jaild::gateway
