#include "gateway/e2b/filesystem_codec.h"

#include <sys/stat.h>
#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include <algorithm>
#include <optional>

#include "gateway/e2b/envd_request.h"
#include "gateway/e2b/protojson.h"
#include "gateway/session_codec.h"
#include "gateway/text_encoding.h"

namespace jaild::gateway::e2b {

namespace json = boost::json;

namespace {

constexpr std::size_t kMaxPath = 4096;
constexpr std::string_view kWorkspace = "/workspace";

// A string field, "" when absent; an error when it is there and not a string.
std::variant<std::string, ConnectError> string_field(const json::object& message, std::string_view name) {
    const json::value* value = message.if_contains(name);
    if (!value || value->is_null()) return std::string();
    if (!value->is_string()) return invalid(std::string(name) + " must be a string");
    return std::string(value->get_string());
}

// "/a/./b//../c" as "/a/c": `..` at the top stays at the top, as the kernel reads it.
std::string clean(std::string_view absolute) {
    std::vector<std::string_view> parts;
    std::size_t start = 0;
    while (start <= absolute.size()) {
        const std::size_t end = std::min(absolute.find('/', start), absolute.size());
        const std::string_view part = absolute.substr(start, end - start);
        if (part == "..") {
            if (!parts.empty()) parts.pop_back();
        } else if (!part.empty() && part != ".") {
            parts.push_back(part);
        }
        start = end + 1;
    }
    std::string out;
    for (const std::string_view part : parts) out.append("/").append(part);
    return out.empty() ? "/" : out;
}

// The part of `path` below `top` ("" for top itself); nullopt when path is not top or below it.
std::optional<std::string> below(const std::string& path, std::string_view top) {
    if (path == top) return std::string();
    if (path.size() > top.size() && path.starts_with(top) && path[top.size()] == '/')
        return path.substr(top.size() + 1);
    return std::nullopt;
}

std::string basename_of(std::string_view path) {
    const auto slash = path.rfind('/');
    return std::string(slash == std::string_view::npos ? path : path.substr(slash + 1));
}

std::uint32_t type_bits(const std::string& type) {
    if (type == "file") return S_IFREG;
    if (type == "directory") return S_IFDIR;
    if (type == "symlink") return S_IFLNK;
    return 0;  // something else: unspecified, left out of listings
}

}  // namespace

std::string WorkspacePath::shown(std::string_view entry) const {
    return entry.empty() ? top : top + "/" + std::string(entry);
}

std::variant<WorkspacePath, ConnectError> workspace_path(std::string_view path, EnvdUser user, PathUse use) {
    if (path.size() > kMaxPath) return invalid("path is longer than " + std::to_string(kMaxPath) + " bytes");
    if (path.find('\0') != std::string_view::npos) return invalid("path contains a NUL byte");
    const std::string home = user == EnvdUser::root ? "/root" : std::string(kUserHome);
    std::string absolute;
    if (path.empty() || path == "~")
        absolute = home;
    else if (path.starts_with("~/"))
        absolute = home + std::string(path.substr(1));
    else if (path.front() == '/')
        absolute = std::string(path);
    else
        absolute = home + "/" + std::string(path);
    const std::string cleaned = clean(absolute);
    for (const std::string_view top : {kUserHome, kWorkspace})
        if (auto rest = below(cleaned, top)) return WorkspacePath{std::move(*rest), std::string(top)};
    std::string why = (use == PathUse::write ? "writing " : "reading ") + cleaned +
                      " is not possible through envd's file calls on jaild: they reach only /home/user (the "
                      "sandbox's workspace, also /workspace)";
    if (cleaned == "/tmp" || cleaned.starts_with("/tmp/")) why += "; /tmp is seen by the sandbox's commands only";
    if (path.empty() || path.front() != '/') why += "; a relative path resolves against the user's home, " + home;
    return ConnectError{ConnectCode::permission_denied, why};
}

std::variant<PathRequest, ConnectError> parse_path_request(std::string_view body) {
    auto parsed = message_object(body);
    if (auto* error = std::get_if<ConnectError>(&parsed)) return *error;
    const json::object& message = std::get<json::object>(parsed);
    auto path = string_field(message, "path");
    if (auto* error = std::get_if<ConnectError>(&path)) return *error;
    PathRequest out{std::move(std::get<std::string>(path)), 0};
    if (const json::value* depth = message.if_contains("depth")) {
        if (depth->is_uint64() && depth->get_uint64() <= UINT32_MAX)
            out.depth = static_cast<std::uint32_t>(depth->get_uint64());
        else if (depth->is_int64() && depth->get_int64() >= 0 && depth->get_int64() <= UINT32_MAX)
            out.depth = static_cast<std::uint32_t>(depth->get_int64());
        else if (!depth->is_null())
            return invalid("depth must be a number from 0 to 4294967295");
    }
    return out;
}

std::variant<MoveRequest, ConnectError> parse_move(std::string_view body) {
    auto parsed = message_object(body);
    if (auto* error = std::get_if<ConnectError>(&parsed)) return *error;
    const json::object& message = std::get<json::object>(parsed);
    auto source = string_field(message, "source");
    if (auto* error = std::get_if<ConnectError>(&source)) return *error;
    auto destination = string_field(message, "destination");
    if (auto* error = std::get_if<ConnectError>(&destination)) return *error;
    if (std::get<std::string>(source).empty()) return invalid("source is required");
    if (std::get<std::string>(destination).empty()) return invalid("destination is required");
    return MoveRequest{std::move(std::get<std::string>(source)), std::move(std::get<std::string>(destination))};
}

std::uint32_t list_depth(std::uint32_t depth) { return depth == 0 ? 1 : depth; }

EntryInfo entry_info(const v1::FileEntry& entry, const WorkspacePath& where) {
    EntryInfo out;
    out.path = where.shown(entry.path());
    out.name = basename_of(out.path);
    out.st_mode = type_bits(entry.type()) | (entry.mode() & 07777);
    out.size = static_cast<std::int64_t>(entry.size());
    out.owner = "user";
    out.group = "user";
    out.modified_unix_ns = entry.mtime_unix_ms() * 1'000'000;
    if (entry.type() == "symlink") out.symlink_target = entry.symlink_target();
    return out;
}

std::string entry_answer(const v1::FileEntryList& entries, const WorkspacePath& where) {
    json::object out;
    if (entries.files_size() > 0) out["entry"] = entry_info_json(entry_info(entries.files(0), where));
    return json::serialize(out);
}

std::string list_answer(const v1::FileEntryList& entries, const WorkspacePath& where) {
    json::array list;
    for (const v1::FileEntry& entry : entries.files())
        if (type_bits(entry.type()) != 0) list.push_back(entry_info_json(entry_info(entry, where)));
    json::object out;
    out["entries"] = std::move(list);
    return json::serialize(out);
}

std::variant<FilesQuery, E2bError> parse_files_query(std::string_view target) {
    FilesQuery out;
    const auto question = target.find('?');
    std::string_view query = question == std::string_view::npos ? std::string_view{} : target.substr(question + 1);
    while (!query.empty()) {
        const std::string_view pair = query.substr(0, query.find('&'));
        query.remove_prefix(std::min(pair.size() + 1, query.size()));
        const auto eq = pair.find('=');
        std::string key(pair.substr(0, eq)), value(eq == std::string_view::npos ? "" : pair.substr(eq + 1));
        std::replace(value.begin(), value.end(), '+', ' ');
        auto decoded = percent_decode(value);
        if (!decoded) return E2bError{400, "the query parameter " + key + " has a bad percent escape or a NUL byte"};
        if (key == "path") out.path = std::move(*decoded);
        if (key == "username") {
            if (*decoded == "root")
                out.user = EnvdUser::root;
            else if (!decoded->empty() && *decoded != "user")
                return E2bError{401, "invalid username: '" + sanitize_utf8(*decoded) + "'"};
        }
    }
    return out;
}

std::string upload_answer(const std::vector<WorkspacePath>& written) {
    json::array out;
    for (const WorkspacePath& file : written) {
        const std::string path = file.shown(file.relative);
        out.push_back(json::object{{"name", basename_of(path)}, {"type", "file"}, {"path", path}});
    }
    return json::serialize(out);
}

unsigned rest_status(ConnectCode code, bool quota) {
    if (quota) return 507;
    switch (code) {
        case ConnectCode::not_found: return 404;
        case ConnectCode::invalid_argument: return 400;
        case ConnectCode::permission_denied: return 403;
        case ConnectCode::already_exists: return 409;
        case ConnectCode::unauthenticated: return 401;
        case ConnectCode::unavailable: return 502;
        default: return 500;
    }
}

unsigned rest_status(const v1::Error& error) {
    return rest_status(connect_error(error).code, error.code() == v1::ERROR_CODE_QUOTA_EXCEEDED);
}

}  // namespace jaild::gateway::e2b
