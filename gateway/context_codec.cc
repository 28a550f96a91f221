#include "gateway/context_codec.h"

#include <boost/json/serialize.hpp>
#include <limits>

#include "gateway/precise_json.h"
#include "gateway/session_codec.h"
#include "gateway/text_encoding.h"

namespace jaild::gateway {

namespace json = boost::json;

namespace {

std::optional<FieldError> get_string(const json::object& object, std::string_view key, std::string& out) {
    const json::value* value = object.if_contains(key);
    if (!value) return std::nullopt;
    const std::string name(key);
    if (!value->is_string()) return FieldError{name, name + " must be a string"};
    out = std::string(value->get_string());
    return std::nullopt;
}

// One row per text form of a result: its key in the answer and where the proto keeps it.
struct TextForm {
    std::string_view key;
    const std::string& (v1::CellResult::*get)() const;
};
const TextForm kTextForms[] = {
    {"html", &v1::CellResult::html},
    {"svg", &v1::CellResult::svg},
    {"markdown", &v1::CellResult::markdown},
    {"latex", &v1::CellResult::latex},
    {"javascript", &v1::CellResult::javascript},
};

// application/json as the value it spells; text that is not JSON stays text.
json::value json_form(std::string_view text) {
    boost::system::error_code ec;
    json::value value = parse_json(text, ec);
    if (ec) return json::value(sanitize_utf8(text));
    return value;
}

}  // namespace

std::string error_line(std::string_view name, std::string_view value, std::string_view traceback) {
    json::object line;
    line["type"] = "error";
    line["name"] = sanitize_utf8(name);
    line["value"] = sanitize_utf8(value);
    line["traceback"] = sanitize_utf8(traceback);
    return json::serialize(line);
}

json::object result_object(const v1::CellResult& result) {
    json::object line;
    line["type"] = "result";
    line["text"] = sanitize_utf8(result.text());
    for (const TextForm& form : kTextForms) {
        const std::string& text = (result.*form.get)();
        if (!text.empty()) line[form.key] = sanitize_utf8(text);
    }
    if (!result.png().empty()) line["png"] = base64_encode(result.png());
    if (!result.jpeg().empty()) line["jpeg"] = base64_encode(result.jpeg());
    if (!result.json().empty()) line["json"] = json_form(result.json());
    line["is_main_result"] = result.is_main_result();
    return line;
}

namespace {

std::string result_line(const v1::CellResult& result) { return json::serialize(result_object(result)); }

std::string end_line(const v1::CellEnd* end) {
    json::object line;
    line["type"] = "end";
    line["execution_count"] = end ? json::value(end->execution_count()) : json::value(nullptr);
    return json::serialize(line);
}

void append(std::vector<std::string>& lines, std::vector<std::string> more) {
    for (std::string& line : more) lines.push_back(std::move(line));
}

}  // namespace

std::variant<v1::ContextCreate, FieldError> parse_context_create(std::string_view body) {
    v1::ContextCreate create;
    create.set_language("python");
    if (body.find_first_not_of(" \t\r\n") == std::string_view::npos) return create;
    auto parsed = parse_object(body);
    if (auto* error = std::get_if<FieldError>(&parsed)) return *error;
    const json::object& object = std::get<json::object>(parsed);
    if (auto error = only_fields(object, {"language", "cwd", "env"})) return *error;
    if (auto error = get_string(object, "language", *create.mutable_language())) return *error;
    if (create.language() != "python" && create.language() != "python3")
        return FieldError{"language", "language must be \"python\": the interpreter contexts run Python"};
    if (auto error = get_string(object, "cwd", *create.mutable_cwd())) return *error;
    if (const json::value* env = object.if_contains("env")) {
        if (!env->is_object()) return FieldError{"env", "env must be an object of strings"};
        for (const auto& entry : env->get_object()) {
            const std::string name = "env." + std::string(entry.key());
            if (!entry.value().is_string()) return FieldError{name, name + " must be a string"};
            (*create.mutable_env())[std::string(entry.key())] = std::string(entry.value().get_string());
        }
    }
    return create;
}

std::variant<v1::ContextRun, FieldError> parse_context_run(std::string_view body) {
    auto parsed = parse_object(body);
    if (auto* error = std::get_if<FieldError>(&parsed)) return *error;
    const json::object& object = std::get<json::object>(parsed);
    if (auto error = only_fields(object, {"code", "timeout_ms"})) return *error;
    v1::ContextRun run;
    const json::value* code = object.if_contains("code");
    if (!code || !code->is_string()) return FieldError{"code", "code is required and must be a string"};
    run.set_code(std::string(code->get_string()));
    if (const json::value* timeout = object.if_contains("timeout_ms")) {
        if (!timeout->is_uint64() && !(timeout->is_int64() && timeout->get_int64() >= 0))
            return FieldError{"timeout_ms", "timeout_ms must be a non-negative integer"};
        run.set_timeout_ms(timeout->to_number<std::uint64_t>());
    }
    return run;
}

json::object context_info_object(const v1::ContextInfo& info) {
    json::object out;
    out["context_id"] = info.context_id();
    out["language"] = info.language();
    out["cwd"] = sanitize_utf8(info.cwd());
    out["pid"] = info.pid() > 0 ? json::value(info.pid()) : json::value(nullptr);
    return out;
}

std::string context_info_body(const v1::ContextInfo& info) { return json::serialize(context_info_object(info)); }

std::string context_list_body(const v1::ContextInfoList& list) {
    json::array contexts;
    for (const v1::ContextInfo& info : list.contexts()) contexts.emplace_back(context_info_object(info));
    json::object body;
    body["contexts"] = std::move(contexts);
    return json::serialize(body);
}

bool has_context(const v1::ContextInfoList& list, std::string_view context_id) {
    for (const v1::ContextInfo& info : list.contexts())
        if (info.context_id() == context_id) return true;
    return false;
}

std::vector<std::string> CellLines::event(const v1::ServerMessage& message, bool& ended) {
    std::vector<std::string> lines;
    ended = false;
    if (message.has_output()) {
        append(lines, output_.output(message.output()));
    } else if (message.has_cell_result()) {
        append(lines, output_.flush());
        lines.push_back(result_line(message.cell_result()));
    } else if (message.has_cell_error()) {
        append(lines, output_.flush());
        const v1::CellError& error = message.cell_error();
        lines.push_back(error_line(error.name(), error.value(), error.traceback()));
    } else if (message.has_cell_end()) {
        append(lines, output_.flush());
        lines.push_back(end_line(&message.cell_end()));
        ended = true;
    } else if (message.has_error()) {
        append(lines, lost(message.error().message()));
        ended = true;
    }
    return lines;
}

std::vector<std::string> CellLines::lost(std::string_view why) {
    std::vector<std::string> lines = output_.flush();
    lines.push_back(error_line("JaildError", why, ""));
    lines.push_back(end_line(nullptr));
    return lines;
}

}  // namespace jaild::gateway
