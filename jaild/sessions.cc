#include "jaild/sessions.h"

#include <fcntl.h>
#include <linux/openat2.h>
#include <spdlog/spdlog.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json.hpp>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "common/node_id.h"

namespace jaild {

namespace asio = boost::asio;
namespace json = boost::json;
namespace fs = std::filesystem;

namespace {

std::error_code last_error() { return {errno, std::system_category()}; }

std::string random_id() {
    unsigned char bytes[16];
    std::size_t got = 0;
    while (got < sizeof bytes) {
        const ssize_t n = ::getrandom(bytes + got, sizeof bytes - got, 0);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) throw std::runtime_error(std::string("getrandom: ") + std::strerror(errno));
        got += static_cast<std::size_t>(n);
    }
    static constexpr char kHex[] = "0123456789abcdef";
    std::string id;
    for (unsigned char b : bytes) {
        id += kHex[b >> 4];
        id += kHex[b & 15];
    }
    return id;
}

// This node's ids, another node's (a restored backup) and those made before nodes had names.
bool valid_id(const std::string& id) { return parse_session_id(id).has_value(); }

// write, fsync, rename, fsync of the directory: after a crash either the old or the new file is there. Not
// `durable`: no fsync, so after a crash the new file may be there empty.
bool write_atomically(const std::string& dir, const std::string& name, const std::string& text, bool durable) {
    const std::string temp = dir + "/." + name + ".tmp", path = dir + "/" + name;
    unique_fd fd(::open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600));
    if (!fd) return false;
    for (std::size_t done = 0; done < text.size();) {
        const ssize_t n = ::write(fd.get(), text.data() + done, text.size() - done);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return false;
        done += static_cast<std::size_t>(n);
    }
    if (durable && ::fsync(fd.get()) != 0) return false;
    fd.reset();
    if (::rename(temp.c_str(), path.c_str()) != 0) return false;
    if (!durable) return true;
    unique_fd parent(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    return parent && ::fsync(parent.get()) == 0;
}

std::error_code remove_all(const std::string& path) {
    std::error_code ec;
    fs::remove_all(path, ec);  // does not follow symlinks
    return ec;
}

std::error_code make_dir(const std::string& path, mode_t mode, uid_t uid) {
    if (::mkdir(path.c_str(), mode) != 0 && errno != EEXIST) return last_error();
    if (::chown(path.c_str(), uid, uid) != 0 || ::chmod(path.c_str(), mode) != 0) return last_error();
    return {};
}

// A directory of the sandboxes' common root, resolved as a sandbox would (symlinks such as /lib -> usr/lib
// are followed, but only ever inside that root: RESOLVE_IN_ROOT). The root is jaild's own, read-only.
std::error_code open_dir_in_root(const std::string& root, const std::string& path) {
    unique_fd top(::open(root.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
    if (!top) return last_error();
    open_how how{};
    how.flags = O_PATH | O_DIRECTORY | O_CLOEXEC;
    how.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS;
    unique_fd dir(static_cast<int>(::syscall(SYS_openat2, top.get(), path.c_str(), &how, sizeof how)));
    return dir ? std::error_code() : last_error();
}

std::string describe_cwd(const std::string& cwd, const std::error_code& ec, const char* where) {
    const std::string quoted = "cwd \"" + cwd + "\"";
    if (ec == std::errc::no_such_file_or_directory) return quoted + " does not exist in the " + where;
    if (ec == std::errc::not_a_directory) return quoted + " is not a directory";
    return quoted + ": " + session_files::describe(ec);
}

}  // namespace

std::uint64_t SessionStore::disk_used() const {
    std::uint64_t total = 0;
    for (const auto& [id, session] : sessions_) total += session->meta.disk_used;
    return total;
}

std::int64_t now_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
}

std::string meta_to_json(const SessionMeta& meta) {
    json::object env;
    for (const auto& [key, value] : meta.env) env[key] = value;
    json::object object;
    object["id"] = meta.id;
    object["principal"] = meta.principal;
    object["name"] = meta.name;
    object["env"] = std::move(env);
    if (!meta.labels.empty()) {
        json::object labels;
        for (const auto& [key, value] : meta.labels) labels[key] = value;
        object["labels"] = std::move(labels);
    }
    object["cwd"] = meta.cwd;
    object["created_ms"] = meta.created_ms;
    object["last_used_ms"] = meta.last_used_ms;
    object["disk_used"] = meta.disk_used;
    object["files"] = meta.files;
    if (meta.live) {
        object["live"] = true;
        object["restarted"] = meta.restarted;
        object["deadline_ms"] = meta.deadline_ms;
    }
    return json::serialize(object) + "\n";
}

bool meta_from_json(const std::string& text, SessionMeta& meta) {
    boost::system::error_code ec;
    const json::value parsed = json::parse(text, ec);
    if (ec || !parsed.is_object()) return false;
    const json::object& o = parsed.as_object();
    try {
        meta.id = std::string(o.at("id").as_string());
        meta.principal = std::string(o.at("principal").as_string());
        meta.name = std::string(o.at("name").as_string());
        meta.cwd = std::string(o.at("cwd").as_string());
        meta.created_ms = o.at("created_ms").to_number<std::int64_t>();
        meta.last_used_ms = o.at("last_used_ms").to_number<std::int64_t>();
        meta.disk_used = o.at("disk_used").to_number<std::uint64_t>();
        meta.files = o.at("files").to_number<std::uint64_t>();
        if (const json::value* live = o.if_contains("live")) meta.live = live->as_bool();
        if (const json::value* restarted = o.if_contains("restarted")) meta.restarted = restarted->as_bool();
        if (const json::value* deadline = o.if_contains("deadline_ms"))
            meta.deadline_ms = deadline->to_number<std::int64_t>();
        meta.env.clear();
        for (const auto& entry : o.at("env").as_object())
            meta.env[std::string(entry.key())] = std::string(entry.value().as_string());
        meta.labels.clear();
        if (const json::value* labels = o.if_contains("labels"))
            for (const auto& entry : labels->as_object())
                meta.labels[std::string(entry.key())] = std::string(entry.value().as_string());
    } catch (const std::exception&) {
        return false;
    }
    return valid_id(meta.id);
}

SessionLock::~SessionLock() { store_.release(*session_); }

SessionStore::SessionStore(const SessionsConfig& config, std::string node_id, asio::any_io_executor executor)
    : config_(config),
      node_id_(std::move(node_id)),
      executor_(executor),
      root_(config.state_dir + "/sessions"),
      expiry_(std::make_unique<asio::steady_timer>(executor)) {}

void SessionStore::load() {
    std::error_code ec;
    fs::create_directories(root_, ec);
    if (ec) throw std::runtime_error("cannot create " + root_ + ": " + ec.message());
    ::chmod(config_.state_dir.c_str(), 0700);
    ::chmod(root_.c_str(), 0700);
    for (const auto& entry : fs::directory_iterator(root_, ec)) {
        const std::string id = entry.path().filename().string();
        const std::string dir = entry.path().string();
        std::ifstream in(dir + "/meta.json");
        std::stringstream text;
        text << in.rdbuf();
        auto session = std::make_shared<Session>();
        if (!valid_id(id) || !in || !meta_from_json(text.str(), session->meta) || session->meta.id != id) {
            spdlog::warn("session directory {} has no valid meta.json; removing it", dir);
            remove_all(dir);
            continue;
        }
        // A copy-out interrupted by a crash: data/ is intact (old or new, swapped atomically); the rest goes.
        remove_all(dir + "/data.new");
        if (!fs::exists(dir + "/data/workspace")) {
            fs::create_directories(dir + "/data/workspace", ec);
            fs::create_directories(dir + "/data/tmp", ec);
        }
        session->dir = dir;
        // Its sandbox did not outlive the jaild that made it; the files (as last written back) remain.
        if (session->meta.live && !session->meta.restarted) {
            session->meta.restarted = true;
            save(*session);
        }
        sessions_[id] = std::move(session);
    }
    if (!sessions_.empty()) spdlog::info("{} session(s) restored from {}", sessions_.size(), root_);
    expire();  // what expired while jaild was down goes now
    arm_expiry();
}

void SessionStore::stop() { expiry_.reset(); }

std::shared_ptr<Session> SessionStore::create(const std::string& principal, const NewSession& spec, SessionError& error,
                                              const PrincipalQuota& quota) {
    const std::string& name = spec.name;
    if (!name.empty()) {
        for (const auto& [id, session] : sessions_)
            if (session->meta.principal == principal && session->meta.name == name && !session->deleted) {
                touch(*session);
                return session;
            }
    }
    std::size_t mine = 0;
    for (const auto& [id, session] : sessions_) mine += session->meta.principal == principal;
    if (sessions_.size() >= config_.max_sessions) {
        error = {ErrorCode::resource_exhausted,
                 fmt::format("jaild holds its maximum of {} sessions; delete one or retry later", config_.max_sessions),
                 ""};
        return nullptr;
    }
    const std::uint32_t most = quota.max_sessions ? quota.max_sessions : config_.max_per_principal;
    if (mine >= most) {
        error = {ErrorCode::resource_exhausted,
                 fmt::format("you hold the maximum of {} sessions; delete one first", most), ""};
        return nullptr;
    }
    if (quota.disk_kb && principal_usage(principal) >= quota.disk_kb * 1024) {
        error = {ErrorCode::resource_exhausted,
                 fmt::format("your sessions hold their total disk quota of {} KiB; delete one first", quota.disk_kb),
                 ""};
        return nullptr;
    }
    auto session = std::make_shared<Session>();
    session->meta.id = node_id_.empty() ? random_id() : make_session_id(random_id(), node_id_);
    session->meta.principal = principal;
    session->meta.name = name;
    session->meta.env = spec.env;
    session->meta.labels = spec.labels;
    session->meta.created_ms = session->meta.last_used_ms = now_ms();
    session->meta.live = spec.live;
    session->meta.deadline_ms = spec.deadline_ms;
    session->dir = root_ + "/" + session->meta.id;
    std::error_code ec;
    fs::create_directories(session->dir + "/data/workspace", ec);
    if (!ec) fs::create_directories(session->dir + "/data/tmp", ec);
    if (ec || !save(*session, !spec.live)) {
        remove_all(session->dir);
        error = {ErrorCode::internal, "cannot create the session's directory under " + root_, ""};
        return nullptr;
    }
    ::chmod(session->dir.c_str(), 0700);
    sessions_[session->meta.id] = session;
    spdlog::info("session {} created for {}", session->meta.id, principal);
    return session;
}

std::shared_ptr<Session> SessionStore::find(const std::string& principal, const std::string& id) const {
    const auto it = sessions_.find(id);
    if (it == sessions_.end() || it->second->deleted || it->second->meta.principal != principal) return nullptr;
    return it->second;
}

std::vector<std::shared_ptr<Session>> SessionStore::list(const std::string& principal) const {
    std::vector<std::shared_ptr<Session>> out;
    for (const auto& [id, session] : sessions_)
        if (session->meta.principal == principal && !session->deleted) out.push_back(session);
    return out;
}

void SessionStore::remove(const std::shared_ptr<Session>& session) {
    session->deleted = true;
    if (!session->busy()) destroy(*session);
}

std::shared_ptr<Session> SessionStore::find_any(const std::string& id) const {
    const auto it = sessions_.find(id);
    return it == sessions_.end() || it->second->deleted ? nullptr : it->second;
}

std::string SessionStore::files_dir(const Session& session, const char* part) {
    return (session.live_root.empty() ? session.dir + "/data" : session.live_root) + "/" + part;
}

void SessionStore::destroy(Session& session) {
    const std::string id = session.meta.id;
    if (on_destroy_) on_destroy_(session);
    if (auto ec = remove_all(session.dir)) spdlog::error("session {}: removing {}: {}", id, session.dir, ec.message());
    sessions_.erase(id);  // may destroy `session`
    spdlog::info("session {} deleted", id);
}

asio::awaitable<std::shared_ptr<SessionLock>> SessionStore::lock(std::shared_ptr<Session> session) {
    if (!session->locked) {
        session->locked = true;
        co_return std::make_shared<SessionLock>(*this, session);
    }
    Session::Waiter waiter{std::make_shared<asio::steady_timer>(executor_, asio::steady_timer::time_point::max()),
                           std::make_shared<bool>(false)};
    session->waiters.push_back(waiter);
    while (!*waiter.granted) co_await waiter.timer->async_wait(asio::as_tuple(asio::use_awaitable));
    co_return std::make_shared<SessionLock>(*this, session);
}

void SessionStore::release(Session& session) {
    note_use(session);
    if (!session.waiters.empty()) {  // handed over: `locked` stays set, so nobody can jump the queue
        Session::Waiter next = session.waiters.front();
        session.waiters.pop_front();
        *next.granted = true;
        next.timer->cancel();
        return;
    }
    session.locked = false;
    if (session.deleted) destroy(session);
}

void SessionStore::note_use(Session& session) {
    session.meta.last_used_ms = now_ms();
    // Within a quarter of the TTL (at most 30 s): a jaild restarted meanwhile expires nothing early by more.
    const std::int64_t stale_ms = std::clamp<std::int64_t>(config_.ttl_s * 250LL, 200, 30'000);
    if (session.meta.last_used_ms - session.saved_used_ms > stale_ms && !session.deleted) save(session);
}

void SessionStore::touch(Session& session) {
    session.meta.last_used_ms = now_ms();
    if (!session.deleted) save(session);
}

bool SessionStore::save(Session& session, bool durable) {
    if (write_atomically(session.dir, "meta.json", meta_to_json(session.meta), durable)) {
        session.saved_used_ms = session.meta.last_used_ms;
        return true;
    }
    spdlog::error("session {}: writing meta.json: {}", session.meta.id, std::strerror(errno));
    return false;
}

std::error_code SessionStore::stage_in(const Session& session, const std::string& root, std::uint32_t uid) {
    for (const char* part : {"workspace", "tmp"}) {
        const std::string to = root + "/" + part;
        if (auto ec = make_dir(to, std::string(part) == "tmp" ? 01777 : 0755, uid)) return ec;
        unique_fd src(::open((session.dir + "/data/" + part).c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
        unique_fd dst(::open(to.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
        if (!src || !dst) return last_error();
        session_files::Usage usage;
        if (auto ec = session_files::copy_tree(src.get(), dst.get(), uid, uid, usage)) return ec;
    }
    return {};
}

namespace {

// The run's workspace directory, never through a symbolic link (as stage_out opens it).
unique_fd open_run_workspace(const std::string& root) {
    return unique_fd(
        ::open(SessionStore::run_workspace(root).c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
}

}  // namespace

PlanError SessionStore::stage_files(const std::string& root, const std::vector<PlanFile>& files,
                                    std::uint32_t uid) const {
    const unique_fd workspace = open_run_workspace(root);
    if (!workspace) return {"", "opening the run's workspace failed: " + std::string(std::strerror(errno))};
    for (const PlanFile& file : files) {
        std::error_code ec = session_files::write_file(workspace.get(), file.path, file.content, uid, uid);
        if (!ec && file.executable) {
            unique_fd written = session_files::open_beneath(workspace.get(), file.path, O_RDONLY, 0, ec);
            if (written) ::fchmod(written.get(), 0755);
        }
        if (ec == std::errc::no_space_on_device) return {"files", "the files do not fit in the session's quota"};
        if (ec) return {"files", "file \"" + file.path + "\": " + session_files::describe(ec)};
    }
    return {};
}

void SessionStore::drop_file(const std::string& root, const std::string& path) const {
    const unique_fd workspace = open_run_workspace(root);
    if (workspace) ::unlinkat(workspace.get(), path.c_str(), 0);
}

std::error_code SessionStore::stage_out(Session& session, const std::string& root) {
    const std::string fresh = session.dir + "/data.new";
    remove_all(fresh);
    session_files::Usage total;
    for (const char* part : {"workspace", "tmp"}) {
        const std::string to = fresh + "/" + part;
        std::error_code ec;
        fs::create_directories(to, ec);
        if (ec) return ec;
        unique_fd src(::open((root + "/" + part).c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
        unique_fd dst(::open(to.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
        if (!src || !dst) return last_error();
        // On disk everything belongs to root: no sandbox uid owns anything outside a run.
        if ((ec = session_files::copy_tree(src.get(), dst.get(), 0, 0, total))) return ec;
    }
    unique_fd dir(::open(session.dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!dir) return last_error();
    if (::syncfs(dir.get()) != 0) return last_error();
    if (::renameat2(dir.get(), "data.new", dir.get(), "data", RENAME_EXCHANGE) != 0) return last_error();
    ::fsync(dir.get());
    remove_all(fresh);  // now the previous data
    session.meta.disk_used = total.bytes;
    session.meta.files = total.files;
    save(session);
    return {};
}

std::string SessionStore::check_cwd(const Session& session, const std::string& cwd,
                                    const std::string& sandbox_root) const {
    for (const std::string part : {"workspace", "tmp"}) {
        const std::string top = "/" + part;
        if (cwd == top) return {};
        if (!cwd.starts_with(top + "/")) continue;
        unique_fd dir(
            ::open(files_dir(session, part.c_str()).c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
        std::error_code ec = dir ? std::error_code() : last_error();
        if (dir) session_files::open_beneath(dir.get(), cwd.substr(top.size() + 1), O_PATH | O_DIRECTORY, 0, ec);
        return ec ? describe_cwd(cwd, ec, "session") : std::string();
    }
    if (sandbox_root.empty() || cwd == "/") return {};
    const std::error_code ec = open_dir_in_root(sandbox_root, cwd);
    return ec ? describe_cwd(cwd, ec, "sandbox") : std::string();
}

unique_fd SessionStore::open_workspace(const Session& session, std::error_code& ec) const {
    unique_fd fd(::open(files_dir(session, "workspace").c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!fd) ec = last_error();
    return fd;
}

std::uint64_t SessionStore::principal_usage(const std::string& principal, const Session* except) const {
    std::uint64_t used = 0;
    for (const auto& [id, session] : sessions_)
        if (session.get() != except && session->meta.principal == principal && !session->deleted)
            used += session->meta.disk_used;
    return used;
}

std::uint64_t SessionStore::room_bytes(const Session& session, std::uint64_t disk_kb) const {
    if (disk_kb == 0) return quota_bytes();
    const std::uint64_t total = disk_kb * 1024;
    const std::uint64_t others = principal_usage(session.meta.principal, &session);
    const std::uint64_t left = total > others ? total - others : 0;
    return std::min(quota_bytes(), std::max(left, session.meta.disk_used));
}

void SessionStore::refresh_usage(Session& session) {
    session_files::Usage total;
    for (const char* part : {"workspace", "tmp"}) {
        unique_fd dir(::open(files_dir(session, part).c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
        if (!dir) continue;
        const session_files::Usage usage = session_files::usage_of(dir.get());
        total.bytes += usage.bytes;
        total.files += usage.files;
    }
    session.meta.disk_used = total.bytes;
    session.meta.files = total.files;
    // A live session's usage is its tmpfs's, in memory; data/ (and meta.json) change when it is written back.
    if (session.live_root.empty()) save(session);
}

void SessionStore::arm_expiry() {
    if (!expiry_) return;
    const auto period = std::chrono::milliseconds(std::clamp<std::int64_t>(config_.ttl_s * 250LL, 200, 30'000));
    expiry_->expires_after(period);
    expiry_->async_wait([this](boost::system::error_code ec) {
        if (ec) return;
        expire();
        arm_expiry();
    });
}

void SessionStore::expire() {
    const std::int64_t now = now_ms();
    std::vector<std::shared_ptr<Session>> old;
    for (const auto& [id, session] : sessions_) {
        const bool idle = now - session->meta.last_used_ms > std::int64_t{config_.ttl_s} * 1000;
        const bool due = session->meta.deadline_ms != 0 && now >= session->meta.deadline_ms;
        if (!session->busy() && (idle || due)) old.push_back(session);
    }
    for (const auto& session : old) {
        spdlog::info("session {} expired after {} s unused", session->meta.id, config_.ttl_s);
        session->deleted = true;
        destroy(*session);
    }
}

}  // namespace jaild
