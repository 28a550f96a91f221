// Sessions: workspaces (and a /tmp) that persist across runs, restarts of jaild and of the gateway, and
// expire when unused. Layout under sessions.state_dir:
//
//   sessions/<id>/meta.json          written atomically (write, fsync, rename, fsync dir)
//   sessions/<id>/data/workspace/    the files, as of the end of the last run
//   sessions/<id>/data/tmp/
//
// Quota: a run does not touch data/ directly. Its /workspace and /tmp live on a tmpfs of exactly the
// session's quota (mounted by jaild in its own mount namespace); data/ is copied in before the run and the
// result copied out after it, into data.new/, which is synced and swapped with data/ by RENAME_EXCHANGE.
// So sandboxed code that writes past the quota gets ENOSPC, the host's disk only ever holds what fits, and
// this works on every filesystem (an unprivileged LXC container has neither loop devices nor project
// quotas). docs/sessions.md has the reasoning.
//
// Runs in one session are serialised in arrival order (a lock handed from one holder to the next waiter);
// file operations take the same lock, so they never see a run's half-copied state.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <system_error>
#include <vector>

#include "common/config.h"
#include "jaild/error_code.h"
#include "jaild/plan_from_request.h"
#include "jaild/sandbox/run_plan.h"
#include "jaild/session_files.h"

namespace jaild {

struct SessionMeta {
    std::string id;
    std::string principal;
    std::string name;
    std::map<std::string, std::string> env;
    std::map<std::string, std::string> labels;  // the client's tags (SessionCreate.labels)
    std::string cwd = "/workspace";
    std::int64_t created_ms = 0;
    std::int64_t last_used_ms = 0;
    std::uint64_t disk_used = 0;
    std::uint64_t files = 0;
    bool live = false;             // created live (jaild/live/): its sandbox stays up between requests
    bool restarted = false;        // live, and jaild restarted since: its sandbox of before is gone
    std::int64_t deadline_ms = 0;  // live: ends then whatever its use; 0 none
};

// What a create asks for besides its principal.
struct NewSession {
    std::map<std::string, std::string> env;
    std::string name;
    std::map<std::string, std::string> labels;
    bool live = false;
    std::int64_t deadline_ms = 0;  // live: an absolute end; 0 none
};

// meta.json ⇄ SessionMeta. Pure, for the tests.
std::string meta_to_json(const SessionMeta& meta);
bool meta_from_json(const std::string& text, SessionMeta& meta);

struct Session {
    SessionMeta meta;
    std::string dir;  // <state_dir>/sessions/<id>
    // While its live sandbox is up: the host directory of its storage (workspace/ and tmp/, a tmpfs of the
    // session's quota that the sandbox mounts); file requests use it instead of data/. Written back to data/
    // when the sandbox ends.
    std::string live_root;
    std::uint32_t live_uid = 0;           // the owner of files written there: its sandbox's uid (else root)
    std::uint32_t processes_running = 0;  // in its live sandbox
    std::int64_t saved_used_ms = 0;       // meta.last_used_ms as meta.json last recorded it
    bool locked = false;
    bool deleted = false;
    struct Waiter {
        std::shared_ptr<boost::asio::steady_timer> timer;
        std::shared_ptr<bool> granted;
    };
    std::deque<Waiter> waiters;
    bool busy() const { return locked || !waiters.empty(); }
};

class SessionStore;

// Holding it is holding the session: released (to the next waiter) on destruction.
class SessionLock {
public:
    SessionLock(SessionStore& store, std::shared_ptr<Session> session) : store_(store), session_(std::move(session)) {}
    SessionLock(const SessionLock&) = delete;
    ~SessionLock();
    Session& session() const { return *session_; }

private:
    SessionStore& store_;
    std::shared_ptr<Session> session_;
};

// What a client (the gateway) says about one principal's sessions, from its tenant (proto Quota); 0 is jaild's
// configuration: sessions.max_per_principal, and no cap on the sessions together beyond each one's quota.
struct PrincipalQuota {
    std::uint32_t max_sessions = 0;
    std::uint64_t disk_kb = 0;
};

struct SessionError {
    ErrorCode code = ErrorCode::none;
    std::string message;
    std::string field;
};

class SessionStore {
public:
    // New sessions' ids end in `node_id` (common/node_id.h); with an empty one they are the random part alone.
    SessionStore(const SessionsConfig& config, std::string node_id, boost::asio::any_io_executor executor);

    // At start: reads every session, repairs what a crash interrupted, and starts the expiry timer.
    void load();
    // Shutdown: destroys the expiry timer, which must not outlive the io_context (jaild destroys that first).
    void stop();

    // RESOURCE_EXHAUSTED when jaild, or the principal (within `quota`), holds the most sessions allowed, or
    // when the principal's sessions already fill its total disk.
    // A name the principal already uses returns that session as it is.
    std::shared_ptr<Session> create(const std::string& principal, const NewSession& spec, SessionError& error,
                                    const PrincipalQuota& quota = {});
    // Null when unknown or another principal's (the caller cannot tell which).
    std::shared_ptr<Session> find(const std::string& principal, const std::string& id) const;
    std::vector<std::shared_ptr<Session>> list(const std::string& principal) const;
    // Deletes it now, or when its current holder lets go.
    void remove(const std::shared_ptr<Session>& session);

    // Waits (in arrival order) until the caller holds the session.
    boost::asio::awaitable<std::shared_ptr<SessionLock>> lock(std::shared_ptr<Session> session);

    // Persists meta.json atomically; false (logged) on failure. `durable` false: written and renamed without
    // waiting for the disk (no fsync), for a new live session, which needs no more: its sandbox does not
    // outlive jaild, and a meta.json a crash leaves empty makes the start remove the session's directory.
    bool save(Session& session, bool durable = true);
    void touch(Session& session);
    // A use that changes nothing else (a live session's requests and its processes' output): noted in
    // memory, where expiry reads it, and written to meta.json only when what is there is a while old.
    void note_use(Session& session);

    // A run's view of a session under its lease's host workspace `root` (Lease::workspace): what the run
    // mounts as /workspace and as /tmp.
    static std::string run_workspace(const std::string& root) { return root + "/workspace"; }
    static std::string run_tmp(const std::string& root) { return root + "/tmp"; }

    // Before a run, with the lock: fills <root>/workspace and <root>/tmp from data/, owned by uid.
    std::error_code stage_in(const Session& session, const std::string& root, std::uint32_t uid);
    // Then the request's files, written beneath the run's workspace as uid's (never through a mount
    // operation, which would follow a symlink planted in the session). A PlanError naming "files" when
    // they do not fit or a path is refused, with no field when jaild failed.
    PlanError stage_files(const std::string& root, const std::vector<PlanFile>& files, std::uint32_t uid) const;
    // After the run, before stage_out: a file of the run's workspace that is not the session's to keep.
    void drop_file(const std::string& root, const std::string& path) const;
    // After it: copies <root>/{workspace,tmp} to data/ (new copy synced, then swapped in) and updates usage.
    std::error_code stage_out(Session& session, const std::string& root);

    // "" when cwd (absolute and normalised: check_cwd_path) is a directory in the view a run of the session
    // has, else why not. /workspace and /tmp are the session's own, resolved beneath them without following
    // a symlink; other paths are looked up in the sandboxes' common root at sandbox_root (jaild's template of
    // it, Rootfs::build_template), as a run would see them; with no sandbox_root they are not checked.
    std::string check_cwd(const Session& session, const std::string& cwd, const std::string& sandbox_root) const;

    // The session's on-disk workspace (file operations, with the lock held).
    unique_fd open_workspace(const Session& session, std::error_code& ec) const;
    void refresh_usage(Session& session);

    std::uint64_t quota_bytes() const { return config_.quota_kb * 1024; }
    // The bytes `session` may hold: its quota, or less when its principal's sessions together may hold only
    // `disk_kb` (0: no such cap) and the others hold part of that; never less than it holds already.
    std::uint64_t room_bytes(const Session& session, std::uint64_t disk_kb) const;
    // Bytes held by the principal's sessions other than `except` (null: all of them).
    std::uint64_t principal_usage(const std::string& principal, const Session* except = nullptr) const;
    const SessionsConfig& config() const { return config_; }
    std::size_t size() const { return sessions_.size(); }
    // Called as a session is destroyed (deleted or expired), before its directory goes: live sessions end
    // their sandbox there.
    void on_destroy(std::function<void(Session&)> hook) { on_destroy_ = std::move(hook); }
    // Any principal's session (jaild's own timers); null when unknown or deleted.
    std::shared_ptr<Session> find_any(const std::string& id) const;
    // The bytes every session's files use, from each one's last recorded usage (no file system walk).
    std::uint64_t disk_used() const;

private:
    friend class SessionLock;
    void release(Session& session);
    void destroy(Session& session);
    void arm_expiry();
    void expire();

    const SessionsConfig& config_;
    const std::string node_id_;
    boost::asio::any_io_executor executor_;
    std::string root_;  // <state_dir>/sessions
    std::map<std::string, std::shared_ptr<Session>> sessions_;
    std::unique_ptr<boost::asio::steady_timer> expiry_;
    std::function<void(Session&)> on_destroy_;
    // data/<part>, or the live storage's <part> while the session's sandbox is up.
    static std::string files_dir(const Session& session, const char* part);
};

std::int64_t now_ms();

}  // namespace jaild
