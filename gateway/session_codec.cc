#include "gateway/session_codec.h"

#include <algorithm>
#include <boost/json/serialize.hpp>
#include <vector>

#include "gateway/text_encoding.h"

namespace jaild::gateway {

namespace json = boost::json;

namespace {

int hex_digit(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

// Protobuf maps have no order; answers list keys sorted so they read (and compare) the same every time.
json::object sorted_object(const google::protobuf::Map<std::string, std::string>& map) {
    std::vector<std::pair<std::string, std::string>> entries(map.begin(), map.end());
    std::sort(entries.begin(), entries.end());
    json::object out;
    for (const auto& [key, value] : entries) out[key] = value;
    return out;
}

// A moment jaild leaves at 0 when there is none.
json::value unix_ms_or_null(std::int64_t ms) { return ms > 0 ? json::value(ms) : json::value(nullptr); }

}  // namespace

std::optional<FieldError> only_fields(const json::object& body, std::initializer_list<std::string_view> known) {
    for (const auto& entry : body) {
        if (std::find(known.begin(), known.end(), entry.key()) != known.end()) continue;
        const std::string name(entry.key());
        return FieldError{name, "unknown field " + name};
    }
    return std::nullopt;
}

std::optional<std::string> percent_decode(std::string_view text) {
    std::string out;
    out.reserve(text.size());
    for (std::size_t i = 0; i < text.size(); ++i) {
        char c = text[i];
        if (c == '%') {
            if (i + 2 >= text.size()) return std::nullopt;
            const int hi = hex_digit(text[i + 1]), lo = hex_digit(text[i + 2]);
            if (hi < 0 || lo < 0) return std::nullopt;
            c = static_cast<char>(hi * 16 + lo);
            i += 2;
        }
        if (c == '\0') return std::nullopt;
        out.push_back(c);
    }
    return out;
}

std::variant<std::string, FieldError> decode_url_param(std::string_view text, std::string_view field,
                                                       std::string_view what) {
    std::optional<std::string> decoded = percent_decode(text);
    if (!decoded)
        return FieldError{std::string(field), std::string(what) + " in the URL is not validly percent-encoded"};
    if (sanitize_utf8(*decoded) != *decoded)
        return FieldError{std::string(field), std::string(what) + " in the URL is not UTF-8 once percent-decoded"};
    return std::move(*decoded);
}

std::variant<v1::SessionCreate, FieldError> parse_session_create(std::string_view body) {
    v1::SessionCreate create;
    if (body.find_first_not_of(" \t\r\n") == std::string_view::npos) return create;  // no body: no env
    auto parsed = parse_object(body);
    if (auto* error = std::get_if<FieldError>(&parsed)) return *error;
    const json::object& object = std::get<json::object>(parsed);
    if (auto error = only_fields(object, {"env", "name", "live", "timeout_ms", "labels"})) return *error;
    for (const std::string_view field : {"env", "labels"}) {
        const json::value* map = object.if_contains(field);
        if (!map) continue;
        auto& out = field == "env" ? *create.mutable_env() : *create.mutable_labels();
        if (!map->is_object())
            return FieldError{std::string(field), std::string(field) + " must be an object of strings"};
        for (const auto& entry : map->get_object()) {
            const std::string name = std::string(field) + "." + std::string(entry.key());
            if (!entry.value().is_string()) return FieldError{name, name + " must be a string"};
            out[std::string(entry.key())] = std::string(entry.value().get_string());
        }
    }
    if (const json::value* name = object.if_contains("name")) {
        if (!name->is_string() || !valid_user_id(name->get_string()))
            return FieldError{"name", "name must be 1 to 128 printable ASCII characters"};
        create.set_name(std::string(name->get_string()));
    }
    if (const json::value* live = object.if_contains("live")) {
        if (!live->is_bool()) return FieldError{"live", "live must be a boolean"};
        create.set_live(live->get_bool());
    }
    if (const json::value* timeout = object.if_contains("timeout_ms")) {
        if (!timeout->is_uint64() && !(timeout->is_int64() && timeout->get_int64() >= 0))
            return FieldError{"timeout_ms", "timeout_ms must be a non-negative integer"};
        if (!create.live())
            return FieldError{"timeout_ms", "timeout_ms is the deadline of a live session: add \"live\": true"};
        create.set_timeout_ms(timeout->to_number<std::uint64_t>());
    }
    return create;
}

std::variant<v1::SessionSetEnv, FieldError> parse_session_env(std::string_view body) {
    auto parsed = parse_object(body);
    if (auto* error = std::get_if<FieldError>(&parsed)) return *error;
    const json::object& object = std::get<json::object>(parsed);
    if (auto error = only_fields(object, {"env"})) return *error;
    const json::value* env = object.if_contains("env");
    if (!env || !env->is_object()) return FieldError{"env", "env is required and must be an object"};
    v1::SessionSetEnv set_env;
    for (const auto& entry : env->get_object()) {
        const std::string key(entry.key());
        if (entry.value().is_null()) {
            set_env.add_unset(key);
        } else if (entry.value().is_string()) {
            (*set_env.mutable_set())[key] = std::string(entry.value().get_string());
        } else {
            return FieldError{"env." + key, "env." + key + " must be a string, or null to remove it"};
        }
    }
    return set_env;
}

std::variant<v1::SessionSetCwd, FieldError> parse_session_cwd(std::string_view body) {
    auto parsed = parse_object(body);
    if (auto* error = std::get_if<FieldError>(&parsed)) return *error;
    const json::object& object = std::get<json::object>(parsed);
    if (auto error = only_fields(object, {"cwd"})) return *error;
    const json::value* cwd = object.if_contains("cwd");
    if (!cwd || !cwd->is_string()) return FieldError{"cwd", "cwd is required and must be a string"};
    v1::SessionSetCwd set_cwd;
    set_cwd.set_cwd(std::string(cwd->get_string()));
    return set_cwd;
}

json::object session_info_object(const v1::SessionInfo& info) {
    json::object out;
    out["session_id"] = info.session_id();
    out["name"] = info.name().empty() ? json::value(nullptr) : json::value(info.name());
    out["created_ms"] = info.created_unix_ms();
    out["last_used_ms"] = info.last_used_unix_ms();
    out["env"] = sorted_object(info.env());
    out["cwd"] = info.cwd();
    out["disk_used_bytes"] = info.disk_used_bytes();
    out["files_count"] = info.files_count();
    out["quota_bytes"] = info.quota_bytes();
    out["running"] = info.running();
    out["live"] = info.live();
    out["restarted"] = info.restarted();
    out["deadline_unix_ms"] = unix_ms_or_null(info.deadline_unix_ms());
    out["processes_running"] = info.processes_running();
    out["expires_unix_ms"] = unix_ms_or_null(info.expires_unix_ms());
    out["labels"] = sorted_object(info.labels());
    return out;
}

std::string session_info_body(const v1::SessionInfo& info) { return json::serialize(session_info_object(info)); }

std::string session_list_body(const v1::SessionInfoList& list) {
    json::array sessions;
    for (const v1::SessionInfo& info : list.sessions()) sessions.emplace_back(session_info_object(info));
    json::object body;
    body["sessions"] = std::move(sessions);
    return json::serialize(body);
}

std::string file_list_body(const v1::FileEntryList& list) {
    json::array files;
    for (const v1::FileEntry& entry : list.files()) {
        json::object file;
        const std::string path = sanitize_utf8(entry.path());
        file["path"] = path;
        if (path != entry.path()) file["path_base64"] = base64_encode(entry.path());
        file["size"] = entry.size();
        file["type"] = entry.type();
        file["mtime_ms"] = entry.mtime_unix_ms();
        files.emplace_back(std::move(file));
    }
    json::object body;
    body["files"] = std::move(files);
    return json::serialize(body);
}

bool answer_is(v1::ServerMessage& reply, v1::ServerMessage::KindCase expected) {
    if (reply.kind_case() == v1::ServerMessage::KIND_NOT_SET) {
        if (expected == v1::ServerMessage::kFiles) reply.mutable_files();
        if (expected == v1::ServerMessage::kSessions) reply.mutable_sessions();
        if (expected == v1::ServerMessage::kProcesses) reply.mutable_processes();
        if (expected == v1::ServerMessage::kContexts) reply.mutable_contexts();
    }
    return reply.kind_case() == expected;
}

json::array workspace_paths(const v1::FileEntryList& list) {
    json::array paths;
    for (const v1::FileEntry& entry : list.files()) paths.emplace_back(sanitize_utf8(entry.path()));
    return paths;
}

std::string deleted_body(std::string_view key, std::string_view value) {
    json::object body;
    body["deleted"] = true;
    body[key] = value;
    return json::serialize(body);
}

std::string put_body(std::string_view path, std::size_t size) {
    json::object body;
    body["path"] = path;
    body["size"] = size;
    return json::serialize(body);
}

}  // namespace jaild::gateway
