#include "gateway/e2b/control_codec.h"

#include <algorithm>
#include <boost/json/serialize.hpp>
#include <tuple>

#include "gateway/e2b/entry_info.h"
#include "gateway/request_parsing.h"
#include "gateway/session_codec.h"
#include "gateway/text_encoding.h"

namespace jaild::gateway::e2b {

namespace json = boost::json;

namespace {

// Create options a container cannot honour, and why (docs/e2b.md, "What does not work").
struct Refused {
    std::string_view key;
    std::string_view why;
};
constexpr Refused kRefusedOptions[] = {
    {"mcp", "MCP servers are not supported by jaild"},
    {"network", "network rules are not supported by jaild: sandboxes have no network"},
    {"iam", "IAM tokens are not supported by jaild"},
    {"volumeMounts", "volumes are not supported by jaild"},
    {"autoPauseMemory", "pausing is not supported by jaild: a sandbox ends at its timeout"},
};

std::variant<json::object, E2bError> body_object(std::string_view body) {
    if (body.find_first_not_of(" \t\r\n") == std::string_view::npos) return json::object{};
    auto parsed = parse_object(body);
    if (auto* error = std::get_if<FieldError>(&parsed)) return E2bError{400, error->message};
    return std::move(std::get<json::object>(parsed));
}

std::optional<E2bError> string_map(const json::value& value, std::string_view key,
                                   std::map<std::string, std::string>& out) {
    if (value.is_null()) return std::nullopt;
    if (!value.is_object()) return E2bError{400, std::string(key) + " must be an object of strings"};
    for (const auto& entry : value.get_object()) {
        if (!entry.value().is_string())
            return E2bError{400, std::string(key) + "." + std::string(entry.key()) + " must be a string"};
        out[std::string(entry.key())] = std::string(entry.value().get_string());
    }
    return std::nullopt;
}

std::variant<std::uint64_t, E2bError> timeout_seconds(const json::value& value) {
    std::uint64_t seconds = 0;
    if (value.is_uint64()) {
        seconds = value.get_uint64();
    } else if (value.is_int64() && value.get_int64() >= 0) {
        seconds = static_cast<std::uint64_t>(value.get_int64());
    } else {
        return E2bError{400, "timeout must be a whole number of seconds, at least 1"};
    }
    if (seconds == 0 || seconds > kMaxTimeoutS)
        return E2bError{400, "timeout must be 1 to " + std::to_string(kMaxTimeoutS) + " seconds"};
    return seconds;
}

std::optional<E2bError> false_or_refused(const json::value& value, std::string_view key, std::string_view why) {
    const json::value* flag = &value;
    if (key == "autoResume" && value.is_object()) flag = value.get_object().if_contains("enabled");
    if (!flag || flag->is_null() || (flag->is_bool() && !flag->get_bool())) return std::nullopt;
    return E2bError{400, std::string(why)};
}

constexpr std::string_view kTemplateLabel = "e2b.template";
constexpr std::string_view kMetaPrefix = "e2b.meta.";

// What jaild accepts as labels (at most 64; keys of 1 to 128 printable ASCII characters with the prefix;
// values of at most 1024 bytes), said in the SDK's terms.
std::optional<E2bError> check_metadata(const std::map<std::string, std::string>& metadata) {
    if (metadata.size() > 63) return E2bError{400, "metadata has more than 63 entries"};
    for (const auto& [key, value] : metadata) {
        const bool printable =
            std::all_of(key.begin(), key.end(), [](unsigned char c) { return c >= 0x20 && c < 0x7f; });
        if (key.empty() || key.size() > 128 - kMetaPrefix.size() || !printable)
            return E2bError{400, "metadata key \"" + sanitize_utf8(key) + "\" must be 1 to " +
                                     std::to_string(128 - kMetaPrefix.size()) + " printable ASCII characters"};
        if (value.size() > 1024) return E2bError{400, "metadata." + key + " is longer than 1024 bytes"};
    }
    return std::nullopt;
}

std::optional<E2bError> sandbox_field(std::string_view key, const json::value& value, NewSandbox& out) {
    if (key == "templateID") {
        if (!value.is_string()) return E2bError{400, "templateID must be a string"};
        out.template_id = value.get_string();
        if (std::find(std::begin(kTemplates), std::end(kTemplates), out.template_id) == std::end(kTemplates))
            return E2bError{400, "template \"" + sanitize_utf8(out.template_id) +
                                     "\" is not available in jaild: use \"base\" or \"code-interpreter-v1\""};
        return std::nullopt;
    }
    if (key == "timeout") {
        auto seconds = timeout_seconds(value);
        if (auto* error = std::get_if<E2bError>(&seconds)) return *error;
        out.timeout_s = std::get<std::uint64_t>(seconds);
        return std::nullopt;
    }
    if (key == "metadata") {
        if (auto error = string_map(value, key, out.metadata)) return error;
        return check_metadata(out.metadata);
    }
    if (key == "envVars") return string_map(value, key, out.env_vars);
    if (key == "secure") return std::nullopt;  // deprecated; every sandbox's envd is secured
    if (key == "allow_internet_access")
        return false_or_refused(value, key, "internet access is not available: jaild sandboxes have no network");
    if (key == "autoPause" || key == "autoResume")
        return false_or_refused(value, key, "pausing is not supported by jaild: a sandbox ends at its timeout");
    for (const Refused& refused : kRefusedOptions)
        if (key == refused.key) return E2bError{400, std::string(refused.why)};
    return E2bError{400, "unknown field \"" + sanitize_utf8(key) + "\" in the sandbox's options"};
}

std::string iso_ms(std::int64_t unix_ms) { return rfc3339_utc(unix_ms * 1'000'000); }

json::object metadata_json(const std::map<std::string, std::string>& metadata) {
    json::object out;
    for (const auto& [key, value] : metadata) out[sanitize_utf8(key)] = sanitize_utf8(value);
    return out;
}

// "k=v&k2=v2" with each part percent-encoded, as the SDK sends the metadata filter.
std::optional<E2bError> parse_metadata_filter(std::string_view text, std::map<std::string, std::string>& out) {
    while (!text.empty()) {
        const std::string_view pair = text.substr(0, text.find('&'));
        text.remove_prefix(std::min(text.size(), pair.size() + 1));
        const std::size_t eq = pair.find('=');
        auto key = percent_decode(pair.substr(0, eq));
        auto value = percent_decode(eq == std::string_view::npos ? std::string_view{} : pair.substr(eq + 1));
        if (!key || !value || key->empty()) return E2bError{400, "metadata must be key=value pairs joined by &"};
        out[*key] = *value;
    }
    return std::nullopt;
}

std::optional<E2bError> list_parameter(std::string_view name, const std::string& value, ListQuery& out) {
    if (name == "limit") {
        std::size_t limit = 0;
        const bool digits =
            !value.empty() && value.size() <= 4 && value.find_first_not_of("0123456789") == std::string::npos;
        if (digits) limit = std::stoul(value);
        if (limit < 1 || limit > kMaxListLimit) return E2bError{400, "limit must be 1 to 100"};
        out.limit = limit;
    } else if (name == "nextToken") {
        // "<started_unix_ms>.<sandbox id>" of the previous page's last sandbox (page_sandboxes)
        const std::size_t dot = value.find('.');
        const std::string ms = value.substr(0, dot);
        if (dot == std::string::npos || ms.empty() || ms.size() > 18 ||
            ms.find_first_not_of("0123456789") != std::string::npos)
            return E2bError{400, "nextToken is not one that this gateway gave in X-Next-Token"};
        out.after = {std::stoll(ms), value.substr(dot + 1)};
    } else if (name == "metadata") {
        return parse_metadata_filter(value, out.metadata);
    } else if (name == "state") {
        // comma-joined (the SDK's form) or repeated
        out.running = out.running && value.find("running") != std::string::npos;
        if (value.find("running") == std::string::npos && value.find("paused") == std::string::npos)
            return E2bError{400, "state must be running or paused"};
    } else if (name != "order" && name != "startedAfter" && name != "template") {
        return E2bError{400, "unknown query parameter \"" + sanitize_utf8(name) + "\""};
    }
    return std::nullopt;
}

}  // namespace

std::string error_body(const E2bError& error) {
    json::object body;
    body["code"] = error.status;
    body["message"] = sanitize_utf8(error.message);
    return json::serialize(body);
}

std::variant<NewSandbox, E2bError> parse_new_sandbox(std::string_view body) {
    auto parsed = body_object(body);
    if (auto* error = std::get_if<E2bError>(&parsed)) return *error;
    NewSandbox out;
    for (const auto& entry : std::get<json::object>(parsed))
        if (auto error = sandbox_field(entry.key(), entry.value(), out)) return *error;
    return out;
}

std::variant<std::optional<std::uint64_t>, E2bError> parse_connect(std::string_view body) {
    auto parsed = body_object(body);
    if (auto* error = std::get_if<E2bError>(&parsed)) return *error;
    std::optional<std::uint64_t> timeout;
    for (const auto& entry : std::get<json::object>(parsed)) {
        if (entry.key() == "timeout") {
            auto seconds = timeout_seconds(entry.value());
            if (auto* error = std::get_if<E2bError>(&seconds)) return *error;
            timeout = std::get<std::uint64_t>(seconds);
        } else if (entry.key() == "memory") {
            // only sent to resume a paused sandbox with a reboot; none is ever paused here
        } else {
            return E2bError{400, "unknown field \"" + sanitize_utf8(entry.key()) + "\" in connect"};
        }
    }
    return timeout;
}

std::variant<std::uint64_t, E2bError> parse_set_timeout(std::string_view body) {
    auto parsed = body_object(body);
    if (auto* error = std::get_if<E2bError>(&parsed)) return *error;
    const json::object& object = std::get<json::object>(parsed);
    for (const auto& entry : object)
        if (entry.key() != "timeout")
            return E2bError{400, "unknown field \"" + sanitize_utf8(entry.key()) + "\" in the timeout"};
    const json::value* timeout = object.if_contains("timeout");
    if (!timeout) return E2bError{400, "timeout is required (seconds)"};
    return timeout_seconds(*timeout);
}

std::map<std::string, std::string> sandbox_labels(const NewSandbox& sandbox) {
    std::map<std::string, std::string> labels{{std::string(kTemplateLabel), sandbox.template_id}};
    for (const auto& [key, value] : sandbox.metadata) labels[std::string(kMetaPrefix) + key] = value;
    return labels;
}

void read_sandbox_labels(const std::map<std::string, std::string>& labels, SandboxView& view) {
    view.metadata.clear();
    for (const auto& [key, value] : labels) {
        if (key == kTemplateLabel) view.template_id = value;
        if (key.starts_with(kMetaPrefix)) view.metadata[key.substr(kMetaPrefix.size())] = value;
    }
}

json::object sandbox_json(const SandboxView& view) {
    json::object out;
    out["sandboxID"] = view.sandbox_id;
    out["templateID"] = view.template_id;
    out["clientID"] = "jaild";
    out["envdVersion"] = kEnvdVersion;
    out["envdAccessToken"] = view.envd_access_token;
    out["trafficAccessToken"] = view.traffic_access_token;
    out["domain"] = nullptr;
    return out;
}

json::object sandbox_detail_json(const SandboxView& view, bool with_token) {
    json::object out;
    out["sandboxID"] = view.sandbox_id;
    out["templateID"] = view.template_id;
    out["clientID"] = "jaild";
    out["startedAt"] = iso_ms(view.started_unix_ms);
    out["endAt"] = iso_ms(view.end_unix_ms);
    out["envdVersion"] = kEnvdVersion;
    out["cpuCount"] = view.cpu_count;
    out["memoryMB"] = view.memory_mb;
    out["diskSizeMB"] = view.disk_mb;
    out["metadata"] = metadata_json(view.metadata);
    out["state"] = "running";
    out["allowInternetAccess"] = false;
    out["domain"] = nullptr;
    if (with_token) out["envdAccessToken"] = view.envd_access_token;
    return out;
}

std::variant<ListQuery, E2bError> parse_list_query(std::string_view target) {
    ListQuery out;
    const std::size_t question = target.find('?');
    std::string_view query = question == std::string_view::npos ? std::string_view{} : target.substr(question + 1);
    while (!query.empty()) {
        const std::string_view pair = query.substr(0, query.find('&'));
        query.remove_prefix(std::min(query.size(), pair.size() + 1));
        if (pair.empty()) continue;
        const std::size_t eq = pair.find('=');
        auto value = percent_decode(eq == std::string_view::npos ? std::string_view{} : pair.substr(eq + 1));
        if (!value) return E2bError{400, "a query parameter has a bad percent escape"};
        if (auto error = list_parameter(pair.substr(0, eq), *value, out)) return *error;
    }
    return out;
}

Page page_sandboxes(std::vector<SandboxView> all, const ListQuery& query) {
    const auto key = [](const SandboxView& view) { return std::tie(view.started_unix_ms, view.sandbox_id); };
    std::sort(all.begin(), all.end(), [&](const auto& a, const auto& b) { return key(a) < key(b); });
    Page page;
    if (!query.running) return page;
    for (SandboxView& view : all) {
        if (query.after && key(view) <= std::tie(query.after->first, query.after->second)) continue;
        const bool matches = std::all_of(query.metadata.begin(), query.metadata.end(), [&](const auto& wanted) {
            const auto found = view.metadata.find(wanted.first);
            return found != view.metadata.end() && found->second == wanted.second;
        });
        if (!matches) continue;
        if (page.items.size() == query.limit) {
            page.next = std::to_string(page.items.back().started_unix_ms) + "." + page.items.back().sandbox_id;
            break;
        }
        page.items.push_back(std::move(view));
    }
    return page;
}

}  // namespace jaild::gateway::e2b
