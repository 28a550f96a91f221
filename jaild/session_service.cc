#include "jaild/session_service.h"

#include <algorithm>
#include <map>

#include "jaild/file_transfer.h"
#include "jaild/replies.h"
#include "jaild/sandbox/run_plan.h"

namespace jaild {

namespace {

// A session's name (seed 002's user_id): 1 to 128 printable ASCII characters, spaces included.
bool valid_session_name(const std::string& name) {
    return !name.empty() && name.size() <= 128 &&
           std::all_of(name.begin(), name.end(), [](unsigned char c) { return c >= 0x20 && c < 0x7f; });
}

template <class Map>
std::string check_env(const Map& env) {
    if (env.size() > 1024) return "env has more than 1024 variables";
    for (const auto& [key, value] : env) {
        if (key.empty() || key.find('=') != std::string::npos || key.find('\0') != std::string::npos)
            return "invalid environment variable name \"" + key + "\"";
        if (value.find('\0') != std::string::npos) return "value of " + key + " contains a NUL byte";
    }
    return {};
}

// Labels are the client's tags: at most 64, keys as names are, values at most 1024 bytes (protobuf has
// checked they are UTF-8).
template <class Map>
std::string check_labels(const Map& labels) {
    if (labels.size() > 64) return "labels has more than 64 entries";
    for (const auto& [key, value] : labels) {
        if (!valid_session_name(key)) return "label \"" + key + "\" must be 1 to 128 printable ASCII characters";
        if (value.size() > 1024) return "the value of label " + key + " is longer than 1024 bytes";
    }
    return {};
}

}  // namespace

void fill_session_info(const Session& session, std::uint64_t quota_bytes, std::uint32_t ttl_s, v1::SessionInfo& out) {
    out.set_session_id(session.meta.id);
    out.set_name(session.meta.name);
    out.set_created_unix_ms(session.meta.created_ms);
    out.set_last_used_unix_ms(session.meta.last_used_ms);
    for (const auto& [key, value] : session.meta.env) (*out.mutable_env())[key] = value;
    for (const auto& [key, value] : session.meta.labels) (*out.mutable_labels())[key] = value;
    out.set_cwd(session.meta.cwd);
    out.set_disk_used_bytes(session.meta.disk_used);
    out.set_files_count(session.meta.files);
    out.set_quota_bytes(quota_bytes);
    out.set_running(session.busy());
    out.set_live(session.meta.live);
    out.set_restarted(session.meta.restarted);
    out.set_deadline_unix_ms(session.meta.deadline_ms);
    out.set_processes_running(session.processes_running);
    std::int64_t expires = session.meta.last_used_ms + std::int64_t{ttl_s} * 1000;
    if (session.meta.deadline_ms != 0) expires = std::min(expires, session.meta.deadline_ms);
    out.set_expires_unix_ms(expires);
}

std::string SessionService::session_id_of(const v1::ClientMessage& m) {
    using K = v1::ClientMessage::KindCase;
    switch (m.kind_case()) {
        case K::kSessionGet: return m.session_get().session_id();
        case K::kSessionDelete: return m.session_delete().session_id();
        case K::kSessionSetEnv: return m.session_set_env().session_id();
        case K::kSessionSetCwd: return m.session_set_cwd().session_id();
        case K::kFileList: return m.file_list().session_id();
        case K::kFileGet: return m.file_get().session_id();
        case K::kFilePut: return m.file_put().session_id();
        case K::kFileDelete: return m.file_delete().session_id();
        default: return {};
    }
}

bool SessionService::is_file_request(const v1::ClientMessage& request) {
    using K = v1::ClientMessage::KindCase;
    const K kind = request.kind_case();
    return kind == K::kFileList || kind == K::kFileGet || kind == K::kFilePut || kind == K::kFileDelete;
}

v1::ServerMessage SessionService::no_session(const std::string& id) {
    return error_reply(ErrorCode::not_found, "no session \"" + id + "\"", "session_id");
}

v1::ServerMessage SessionService::info_message(const Session& session) const {
    v1::ServerMessage reply;
    fill_session_info(session, store_.quota_bytes(), store_.config().ttl_s, *reply.mutable_session());
    return reply;
}

v1::ServerMessage SessionService::session_request(const std::string& principal, const v1::ClientMessage& request) {
    using K = v1::ClientMessage::KindCase;
    if (request.kind_case() == K::kSessionCreate) {
        const auto& create = request.session_create();
        if (std::string error = check_env(create.env()); !error.empty())
            return error_reply(ErrorCode::invalid_argument, error, "env");
        if (!create.name().empty() && !valid_session_name(create.name()))
            return error_reply(ErrorCode::invalid_argument, "name must be 1 to 128 printable ASCII characters", "name");
        if (std::string error = check_labels(create.labels()); !error.empty())
            return error_reply(ErrorCode::invalid_argument, error, "labels");
        NewSession spec;
        spec.env.insert(create.env().begin(), create.env().end());
        spec.name = create.name();
        spec.labels.insert(create.labels().begin(), create.labels().end());
        spec.live = create.live();
        spec.deadline_ms =
            create.live() && create.timeout_ms() ? now_ms() + static_cast<std::int64_t>(create.timeout_ms()) : 0;
        SessionError error;
        const PrincipalQuota quota{request.quota().max_sessions(), request.quota().max_session_disk_kb()};
        std::shared_ptr<Session> session = store_.create(principal, spec, error, quota);
        if (!session) return error_reply(error.code, error.message, error.field);
        return info_message(*session);
    }
    if (request.kind_case() == K::kSessionList) {
        v1::ServerMessage reply;
        reply.mutable_sessions();  // an empty list is still a list
        for (const auto& session : store_.list(principal))
            fill_session_info(*session, store_.quota_bytes(), store_.config().ttl_s,
                              *reply.mutable_sessions()->add_sessions());
        return reply;
    }
    const std::string id = session_id_of(request);
    std::shared_ptr<Session> session = store_.find(principal, id);
    if (!session) return no_session(id);
    switch (request.kind_case()) {
        case K::kSessionGet: return info_message(*session);  // looking is not using (expiry)
        case K::kSessionDelete: {
            store_.remove(session);
            v1::ServerMessage reply;
            reply.mutable_done();
            return reply;
        }
        case K::kSessionSetEnv: {
            const auto& change = request.session_set_env();
            if (std::string error = check_env(change.set()); !error.empty())
                return error_reply(ErrorCode::invalid_argument, error, "env");
            for (const auto& [key, value] : change.set()) session->meta.env[key] = value;
            for (const std::string& key : change.unset()) session->meta.env.erase(key);
            store_.touch(*session);
            return info_message(*session);
        }
        case K::kSessionSetCwd: {
            const std::string& cwd = request.session_set_cwd().cwd();
            std::string error = check_cwd_path(cwd);
            if (error.empty()) error = store_.check_cwd(*session, cwd, sandbox_root_);
            if (!error.empty()) return error_reply(ErrorCode::invalid_argument, error, "cwd");
            session->meta.cwd = cwd;
            store_.touch(*session);
            return info_message(*session);
        }
        default: return error_reply(ErrorCode::protocol, "not a session request");
    }
}

v1::ServerMessage SessionService::file_request(const v1::ClientMessage& request, Session& session) {
    using K = v1::ClientMessage::KindCase;
    if (request.kind_case() == K::kFilePut)
        return file_transfer::put_whole(store_, session, request.file_put(), request.quota().max_session_disk_kb());
    if (request.kind_case() == K::kFileGet)
        return file_transfer::get_whole(store_, session, request.file_get(), max_reply_bytes_);
    std::error_code ec;
    unique_fd workspace = store_.open_workspace(session, ec);
    if (!workspace) return error_reply(ErrorCode::internal, "cannot open the session's workspace: " + ec.message());
    v1::ServerMessage reply;
    if (request.kind_case() == K::kFileList) {
        reply.mutable_files();  // an empty workspace is still a listing
        for (const session_files::Entry& entry : session_files::list(workspace.get())) {
            v1::FileEntry& out = *reply.mutable_files()->add_files();
            out.set_path(entry.path);
            out.set_size(entry.size);
            out.set_type(entry.type);
            out.set_mtime_unix_ms(entry.mtime_ms);
        }
        return reply;
    }
    if (request.kind_case() != K::kFileDelete) return error_reply(ErrorCode::protocol, "not a file request");
    const std::string& path = request.file_delete().path();
    if (std::string error = check_relative_path(path); !error.empty())
        return error_reply(ErrorCode::invalid_argument, error, "path");
    ec = session_files::remove(workspace.get(), path);
    store_.refresh_usage(session);
    if (ec) return file_transfer::path_error(path, ec);
    reply.mutable_done();
    return reply;
}

}  // namespace jaild
