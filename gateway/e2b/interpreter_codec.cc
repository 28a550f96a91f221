#include "gateway/e2b/interpreter_codec.h"

#include <algorithm>
#include <boost/json/serialize.hpp>
#include <cctype>
#include <optional>
#include <utility>

#include "gateway/context_codec.h"
#include "gateway/request_parsing.h"
#include "gateway/session_codec.h"
#include "gateway/text_encoding.h"

namespace jaild::gateway::e2b {

namespace json = boost::json;

namespace {

TextAnswer bad(std::string text) { return TextAnswer{400, std::move(text)}; }

// A string field, or nothing when absent or null; false (with `error`) when it is something else.
bool optional_string(const json::object& body, std::string_view key, std::string& out,
                     std::optional<TextAnswer>& error) {
    const json::value* value = body.if_contains(key);
    if (!value || value->is_null()) return true;
    if (!value->is_string()) {
        error = bad(std::string(key) + " must be a string");
        return false;
    }
    out = std::string(value->get_string());
    return true;
}

// E2B's normalisation (lowercase, trimmed; none is python), then jaild's one language.
std::optional<TextAnswer> check_language(std::string language) {
    const auto first = language.find_first_not_of(" \t\r\n");
    const auto last = language.find_last_not_of(" \t\r\n");
    language = first == std::string::npos ? std::string() : language.substr(first, last - first + 1);
    std::transform(language.begin(), language.end(), language.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    if (language.empty() || language == kPythonLanguage || language == "python3") return std::nullopt;
    return bad("language \"" + language + "\" is not available: jaild's code interpreter runs python only");
}

std::optional<TextAnswer> check_env_vars(const json::value& value, std::map<std::string, std::string>& out) {
    if (value.is_null()) return std::nullopt;
    if (!value.is_object()) return bad("env_vars must be an object of strings");
    for (const auto& entry : value.get_object()) {
        const std::string key(entry.key());
        if (key.empty() || key.find_first_of(std::string_view("=\0", 2)) != std::string::npos)
            return bad("env_vars: \"" + key + "\" is not an environment variable's name (empty, or has = or NUL)");
        if (!entry.value().is_string()) return bad("env_vars." + key + " must be a string");
        const std::string text(entry.value().get_string());
        if (text.find('\0') != std::string::npos) return bad("env_vars." + key + " must not contain NUL");
        out[key] = text;
    }
    return std::nullopt;
}

// A JSON text as a Python expression of its value: the text travels base64 so no quoting can break out.
std::string python_json(const json::value& value) {
    return "__import__(\"json\").loads(__import__(\"base64\").b64decode(\"" + base64_encode(json::serialize(value)) +
           "\"))";
}

// text/plain without one pair of surrounding quotes ('abc' is abc), as E2B's Result does.
std::string unquoted(std::string text) {
    if (text.size() >= 2 && (text.front() == '\'' || text.front() == '"') && text.back() == text.front())
        return text.substr(1, text.size() - 2);
    return text;
}

std::string line(const json::object& object) { return json::serialize(object) + "\n"; }

std::string_view stream_name(v1::Stream stream) { return stream == v1::STREAM_STDERR ? "stderr" : "stdout"; }

std::string output_line(v1::Stream stream, std::string_view text, std::string_view timestamp) {
    json::object out;
    out["type"] = stream_name(stream);
    out["text"] = sanitize_utf8(text);
    out["timestamp"] = timestamp;
    return line(out);
}

}  // namespace

std::variant<ExecuteRequest, TextAnswer> parse_execute(std::string_view body) {
    auto parsed = parse_object(body);
    if (auto* error = std::get_if<FieldError>(&parsed)) return bad(error->message);
    const json::object& object = std::get<json::object>(parsed);
    if (auto error = only_fields(object, {"code", "context_id", "language", "env_vars"})) return bad(error->message);
    ExecuteRequest out;
    const json::value* code = object.if_contains("code");
    if (!code || !code->is_string()) return bad("code is required and must be a string");
    out.code = std::string(code->get_string());
    const std::size_t size = json::serialize(code->get_string()).size();
    if (size > kMaxCodeJsonBytes)
        return TextAnswer{413, "code is " + std::to_string(size) + " bytes as JSON, more than the " +
                                   std::to_string(kMaxCodeJsonBytes) + " a cell may have"};
    std::optional<TextAnswer> error;
    std::string language;
    if (!optional_string(object, "context_id", out.context_id, error)) return *error;
    if (!optional_string(object, "language", language, error)) return *error;
    if (!out.context_id.empty() && object.if_contains("language") && !object.at("language").is_null())
        return bad("Only one of context_id or language can be provided");
    if (auto refused = check_language(language)) return *refused;
    if (const json::value* env = object.if_contains("env_vars")) {
        if (auto refused = check_env_vars(*env, out.env_vars)) return *refused;
    }
    return out;
}

std::variant<std::string, TextAnswer> parse_context_create(std::string_view body) {
    std::string cwd(kInterpreterCwd);
    if (body.find_first_not_of(" \t\r\n") == std::string_view::npos) return cwd;
    auto parsed = parse_object(body);
    if (auto* error = std::get_if<FieldError>(&parsed)) return bad(error->message);
    const json::object& object = std::get<json::object>(parsed);
    if (auto error = only_fields(object, {"cwd", "language"})) return bad(error->message);
    std::optional<TextAnswer> error;
    std::string language, given;
    if (!optional_string(object, "language", language, error)) return *error;
    if (!optional_string(object, "cwd", given, error)) return *error;
    if (auto refused = check_language(language)) return *refused;
    if (!given.empty()) cwd = std::move(given);
    return cwd;
}

TextAnswer context_not_found(std::string_view context_id) {
    return TextAnswer{404, "Context " + sanitize_utf8(context_id) + " not found"};
}

TextAnswer jaild_failure(const v1::Error& error, std::string_view context_id) {
    const std::string& why = error.message();
    switch (error.code()) {
        case v1::ERROR_CODE_NOT_FOUND:
            if (error.field() == "context_id") return context_not_found(context_id);
            return TextAnswer{502, "The sandbox is not running: " + why};
        case v1::ERROR_CODE_FAILED_PRECONDITION: return TextAnswer{502, "The sandbox is not running: " + why};
        case v1::ERROR_CODE_INVALID_ARGUMENT: return TextAnswer{400, why};
        case v1::ERROR_CODE_RESOURCE_EXHAUSTED:
        case v1::ERROR_CODE_QUOTA_EXCEEDED: return TextAnswer{429, why};
        case v1::ERROR_CODE_UNAVAILABLE: return TextAnswer{503, why};
        default: return TextAnswer{500, why};
    }
}

std::string context_json(const v1::ContextInfo& info) {
    json::object out;
    out["id"] = info.context_id();
    out["language"] = info.language();
    out["cwd"] = sanitize_utf8(info.cwd());
    return json::serialize(out);
}

std::string context_list_json(const v1::ContextInfoList& list) {
    std::string out = "[";
    for (const v1::ContextInfo& info : list.contexts()) {
        if (out.size() > 1) out += ',';
        out += context_json(info);
    }
    return out + "]";
}

const v1::ContextInfo* default_context(const v1::ContextInfoList& list) {
    const v1::ContextInfo* oldest = nullptr;
    for (const v1::ContextInfo& info : list.contexts()) {
        const std::string& id = info.context_id();
        if (!oldest || id.size() < oldest->context_id().size() ||
            (id.size() == oldest->context_id().size() && id < oldest->context_id()))
            oldest = &info;
    }
    return oldest;
}

std::string env_set_cell(const std::map<std::string, std::string>& env_vars) {
    json::object values;
    for (const auto& [key, value] : env_vars) values[key] = value;
    // post_run_cell fires after every cell, also one that raised or was interrupted: first at the end of
    // this one, then at the end of the next, the cell the variables are for.
    return "def _jaild_env(new):\n"
           "    import os\n"
           "    shell = get_ipython()\n"
           "    saved = {key: os.environ.get(key) for key in new}\n"
           "    os.environ.update(new)\n"
           "    ends = []\n"
           "    def restore(result=None):\n"
           "        ends.append(result)\n"
           "        if len(ends) < 2:\n"
           "            return\n"
           "        shell.events.unregister(\"post_run_cell\", restore)\n"
           "        for key, value in saved.items():\n"
           "            if value is None:\n"
           "                os.environ.pop(key, None)\n"
           "            else:\n"
           "                os.environ[key] = value\n"
           "    shell.events.register(\"post_run_cell\", restore)\n"
           "    shell.execution_count -= 1\n"
           "_jaild_env(" +
           python_json(values) +
           ")\n"
           "del _jaild_env\n";
}

std::string ExecutionLines::output(v1::Stream stream, std::string_view data, std::string_view timestamp) {
    std::string& held = stream == v1::STREAM_STDERR ? err_ : out_;
    held += data;
    const std::size_t complete = complete_utf8_prefix(held);
    if (complete == 0) return {};
    std::string text = output_line(stream, std::string_view(held).substr(0, complete), timestamp);
    held.erase(0, complete);
    return text;
}

std::string ExecutionLines::flush(std::string_view timestamp) {
    std::string text;
    for (const v1::Stream stream : {v1::STREAM_STDOUT, v1::STREAM_STDERR}) {
        std::string& held = stream == v1::STREAM_STDERR ? err_ : out_;
        if (!held.empty()) text += output_line(stream, std::exchange(held, {}), timestamp);
    }
    return text;
}

std::string ExecutionLines::event(const v1::ServerMessage& message, std::string_view timestamp, bool& ended) {
    ended = false;
    if (message.has_output()) {
        const v1::Output& output = message.output();
        const v1::Stream stream = output.stream() == v1::STREAM_STDERR ? v1::STREAM_STDERR : v1::STREAM_STDOUT;
        std::string text;
        if (output.dropped() > 0) {
            // Said rather than silently lost: the interpreter's output buffer overflowed.
            text = flush(timestamp);
            const std::string note = "[jaild: " + std::to_string(output.dropped()) + " bytes of " +
                                     std::string(stream_name(stream)) + " were lost here]\n";
            text += output_line(v1::STREAM_STDERR, note, timestamp);
        }
        return text + this->output(stream, output.data(), timestamp);
    }
    if (message.has_cell_result()) {
        json::object result = result_object(message.cell_result());
        result["text"] = unquoted(std::string(result["text"].as_string()));
        return flush(timestamp) + line(result);
    }
    if (message.has_cell_error()) {
        const v1::CellError& error = message.cell_error();
        return flush(timestamp) + error_line(error.name(), error.value(), error.traceback()) + "\n";
    }
    if (message.has_cell_end()) {
        ended = true;
        json::object count;
        count["type"] = "number_of_executions";
        count["execution_count"] = message.cell_end().execution_count();
        return flush(timestamp) + line(count) + "{\"type\":\"end_of_execution\"}\n";
    }
    if (message.has_error()) {
        ended = true;
        return lost(message.error().message(), timestamp);
    }
    return {};
}

std::string ExecutionLines::lost(std::string_view why, std::string_view timestamp) {
    return flush(timestamp) + error_line("JaildError", why, "") + "\n{\"type\":\"end_of_execution\"}\n";
}

std::string ExecutionLines::keepalive() { return "{\"type\":\"keepalive\"}\n"; }

}  // namespace jaild::gateway::e2b
