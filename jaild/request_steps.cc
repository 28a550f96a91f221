#include "jaild/request_steps.h"

#include <spdlog/spdlog.h>

#include <algorithm>

#include "jaild/quota_limits.h"
#include "jaild/replies.h"
#include "jaild/supervisor.h"

namespace jaild {

namespace asio = boost::asio;

void RunControl::stop(KillReason reason) {
    if (reason != KillReason::cancelled || stopped_ == KillReason::none) stopped_ = reason;
    if (current_) current_->kill(reason);
}

void RunControl::feed_stdin(std::string data, bool eof) {
    if (program_) {
        program_->feed_stdin(std::move(data), eof);
        return;
    }
    pending_bytes_ += data.size();
    pending_stdin_.emplace_back(std::move(data), eof);
}

void RunControl::running(std::shared_ptr<Job> job) {
    current_ = std::move(job);
    if (current_ && stopped_ != KillReason::none) current_->kill(stopped_);
}

void RunControl::program(std::shared_ptr<Job> job) {
    program_ = std::move(job);
    if (!program_) return;
    for (auto& [data, eof] : pending_stdin_) program_->feed_stdin(std::move(data), eof);
    pending_stdin_.clear();
}

asio::awaitable<void> RequestSteps::fail(ErrorCode code, std::string_view message, std::string_view field) {
    spdlog::warn("request {}: {}{}{}", request_id_, message, field.empty() ? "" : " field ", field);
    v1::ServerMessage reply = error_reply(code, message, field);
    co_await send_(std::move(reply));
}

template <class Request>
std::optional<Refusal> RequestSteps::join_session(Request& request, const std::string& principal) {
    if (request.session_id().empty()) return std::nullopt;
    session_ = supervisor_.sessions().find(principal, request.session_id());
    if (!session_) return Refusal{ErrorCode::not_found, "no session \"" + request.session_id() + "\"", "session_id"};
    // A live session's files are its sandbox's while it is up: its runs are processes started in it.
    if (session_->meta.live)
        return Refusal{ErrorCode::failed_precondition,
                       "session \"" + request.session_id() +
                           "\" is live: start programs in it as processes (POST /sessions/{id}/processes, or "
                           "jailctl sessions exec)",
                       "session_id"};
    for (const auto& [key, value] : session_->meta.env) request.mutable_env()->insert({key, value});
    return std::nullopt;
}

std::optional<Refusal> RequestSteps::prepare(const v1::RunRequest& original, const std::string& principal,
                                             const v1::Quota& quota) {
    const QuotaLimits limits = lowered_limits(supervisor_.config(), quota);
    session_disk_kb_ = quota.max_session_disk_kb();
    v1::RunRequest request = original;
    principal_ = principal;
    if (auto refused = join_session(request, principal)) return refused;
    if (session_ && request.cwd().empty()) request.set_cwd(session_->meta.cwd);  // unless the request names one
    auto planned = make_run_plan(request, limits.defaults, limits.maxima);
    if (auto* error = std::get_if<PlanError>(&planned))
        return Refusal{ErrorCode::invalid_argument, error->message, error->field};
    program_ = std::move(std::get<RunPlan>(planned));
    program_.request_id = request_id_;
    program_.principal = principal;
    return std::nullopt;
}

std::optional<Refusal> RequestSteps::prepare(const v1::ExecuteRequest& original, const std::string& principal,
                                             const v1::Quota& quota) {
    const QuotaLimits limits = lowered_limits(supervisor_.config(), quota);
    session_disk_kb_ = quota.max_session_disk_kb();
    v1::ExecuteRequest request = original;
    principal_ = principal;
    if (auto refused = join_session(request, principal)) return refused;
    auto planned = make_execute_plan(request, supervisor_.languages(), limits.defaults, limits.maxima);
    if (auto* error = std::get_if<PlanError>(&planned))
        return Refusal{ErrorCode::invalid_argument, error->message, error->field};
    ExecutePlan plan = std::move(std::get<ExecutePlan>(planned));
    auto wanted = requirements::parse(request.requirements());
    if (const auto* error = std::get_if<requirements::Error>(&wanted))
        return Refusal{ErrorCode::invalid_argument, error->message, "requirements"};
    if (!request.requirements().empty() && plan.language->name != "python")
        return Refusal{ErrorCode::invalid_argument, "requirements are for python only", "requirements"};
    requirements_ = std::move(std::get<PackageStore::Requirements>(wanted));
    python_version_ = plan.language->version;
    compile_ = std::move(plan.compile);
    if (compile_) compile_->request_id = request_id_;
    if (compile_) compile_->principal = principal;
    program_ = std::move(plan.run);
    program_.request_id = request_id_;
    program_.principal = principal;
    return std::nullopt;
}

// A request's requirements (there are none when the text holds only comments) made available to its run
// (package_steps.h), then its steps.
asio::awaitable<void> RequestSteps::run() {
    std::shared_ptr<PackageStore::Hold> env;  // held until the run is over: never removed under it
    if (!requirements_.empty()) {
        v1::ServerMessage progress;
        progress.mutable_progress()->set_message("Installing packages...");
        co_await send_(std::move(progress));
        RunHelper helpers = [this](RunPlan helper, std::shared_ptr<Lease> lease) {
            return run_helper(std::move(helper), std::move(lease));
        };
        std::function<bool()> gone = [this] { return control_.stopped() != KillReason::none; };
        PackagesReady ready = co_await prepare_packages(supervisor_, requirements_, program_, python_version_,
                                                        std::move(helpers), std::move(gone));
        if (ready.code != ErrorCode::none) {
            co_await fail(ready.code, ready.message, ready.field);
            co_return;
        }
        if (control_.stopped() != KillReason::none) co_return;
        if ((env = std::move(ready.env))) use_packages(program_, *env, supervisor_.packages());
    }
    co_await steps(std::move(compile_), std::move(program_), std::move(session_));
}

// One helper sandbox of a request (package_steps.h), killed like its run when the client leaves.
asio::awaitable<HelperOutcome> RequestSteps::run_helper(RunPlan plan, std::shared_ptr<Lease> lease) {
    plan.request_id = request_id_;
    plan.principal = principal_;
    StartError start_error;
    HelperOutcome out;
    std::shared_ptr<Job> job = supervisor_.start(std::move(plan), start_error, std::move(lease));
    if (!job) {
        out.error = start_error.message;
        co_return out;
    }
    Job::Sink keep = [&out](v1::ServerMessage message) -> asio::awaitable<void> {
        const std::string& data = message.output().data();
        constexpr std::size_t cap = 1 << 20;
        out.output.append(data, 0, std::min<std::size_t>(data.size(), cap - std::min(cap, out.output.size())));
        co_return;
    };
    const v1::Exit exit = co_await run_job(job, std::move(keep));
    out.ok = exit.status() == v1::STATUS_OK;
    out.program_error = exit.status() == v1::STATUS_RUNTIME_ERROR;
    out.error = exit.error();
    co_return out;
}

// The compile step shares the program's workspace (a host-side tmpfs) and its output is kept back: it is
// the answer only if compiling fails. In a session, the steps wait for the session, run on a copy of its
// files sized to its quota, and the files are copied back before the answer goes out.
asio::awaitable<void> RequestSteps::steps(std::optional<RunPlan> compile, RunPlan program,
                                          std::shared_ptr<Session> session) {
    std::shared_ptr<SessionLock> held;
    if (session) {
        held = co_await supervisor_.sessions().lock(session);
        if (session->deleted) {
            co_await fail(ErrorCode::not_found, "the session was deleted", "session_id");
            co_return;
        }
    }
    StartError start_error;
    // Steps that share a workspace hold one uid for all of them; a single step takes its own in start(),
    // where it may take a warm sandbox (warm_pool.h) instead.
    std::shared_ptr<Lease> lease;
    if (session || compile) {
        // A session's run writes into a tmpfs of what the session may hold; a page at least, since a tmpfs of
        // size 0 would have no limit.
        const std::uint64_t bytes =
            session ? std::max<std::uint64_t>(supervisor_.sessions().room_bytes(*session, session_disk_kb_), 4096)
                    : compile->limits.tmp_bytes;
        lease = supervisor_.lease(bytes, start_error);
        if (!lease) {
            co_await fail(start_error.code, start_error.message);
            co_return;
        }
    }
    if (session) {
        const PlanError error = enter_session(*session, *lease, compile, program);
        if (!error.message.empty()) {
            const ErrorCode code = error.field.empty() ? ErrorCode::internal : ErrorCode::invalid_argument;
            co_await fail(code, error.message, error.field);
            co_return;
        }
    }
    const std::string transient = program.transient_file;
    v1::ServerMessage last = co_await run_in(std::move(compile), std::move(program), lease);
    if (session) {
        if (!transient.empty()) supervisor_.sessions().drop_file(lease->workspace(), transient);
        if (std::error_code ec = supervisor_.sessions().stage_out(*session, lease->workspace())) {
            spdlog::error("session {}: saving its files failed: {}", session->meta.id, ec.message());
            if (last.has_exit() && last.exit().status() == v1::STATUS_OK) {
                last.mutable_exit()->set_status(v1::STATUS_INTERNAL_ERROR);
                last.mutable_exit()->set_error("saving the session's files failed: " + ec.message());
            }
        }
    }
    lease.reset();
    held.reset();
    co_await send_(std::move(last));
}

// The session's files into the run's workspace, the request's files written beneath it, and its /tmp
// bound too.
PlanError RequestSteps::enter_session(Session& session, Lease& lease, std::optional<RunPlan>& compile,
                                      RunPlan& program) {
    SessionStore& store = supervisor_.sessions();
    const std::string& root = lease.workspace();
    if (std::error_code ec = store.stage_in(session, root, lease.uid()))
        return {"", "copying the session's files into the run failed: " + ec.message()};
    for (RunPlan* plan : {compile ? &*compile : nullptr, &program}) {
        if (!plan) continue;
        if (PlanError error = store.stage_files(root, plan->files, lease.uid()); !error.message.empty()) return error;
        plan->files.clear();
        plan->workspace_source = SessionStore::run_workspace(root);
        plan->tmp_source = SessionStore::run_tmp(root);
    }
    return {};
}

// The compile step: nothing when it succeeded, else the message that ends the request.
asio::awaitable<std::optional<v1::ServerMessage>> RequestSteps::compile(RunPlan plan, std::shared_ptr<Lease> lease) {
    StartError start_error;
    const std::uint64_t cap = plan.limits.output_bytes;
    std::shared_ptr<Job> job = supervisor_.start(std::move(plan), start_error, std::move(lease));
    if (!job) co_return error_reply(start_error.code, start_error.message);
    co_await send_started(*job);
    std::string output;  // the compiler's stdout and stderr, in the order they came
    Job::Sink keep = [&output, cap](v1::ServerMessage message) -> asio::awaitable<void> {
        const std::string& data = message.output().data();
        output.append(data, 0, std::min<std::size_t>(data.size(), cap - std::min(cap, output.size())));
        co_return;
    };
    v1::ServerMessage reply;
    *reply.mutable_exit() = co_await run_job(job, std::move(keep));
    job.reset();
    if (reply.exit().status() == v1::STATUS_OK) co_return std::nullopt;
    co_await compile_failure(reply, output);
    co_return reply;
}

// One request's steps; returns the message that ends it (Exit or Error), which the caller sends.
// GCC 12 coroutines (docs/development.md): the program step is its own coroutine (a false mismatched-new-delete)
asio::awaitable<v1::ServerMessage> RequestSteps::run_in(std::optional<RunPlan> compile_plan, RunPlan program,
                                                        std::shared_ptr<Lease> lease) {
    if (compile_plan) {
        std::optional<v1::ServerMessage> failed = co_await compile(std::move(*compile_plan), lease);
        if (failed) co_return std::move(*failed);
    }
    co_return co_await run_program(std::move(program), std::move(lease));
}

// The program step, which takes the client's stdin; returns the message that ends the request.
asio::awaitable<v1::ServerMessage> RequestSteps::run_program(RunPlan program, std::shared_ptr<Lease> lease) {
    StartError start_error;
    std::shared_ptr<Job> job = supervisor_.start(std::move(program), start_error, lease);
    if (!job) co_return error_reply(start_error.code, start_error.message);
    if (!started_sent_) co_await send_started(*job);
    control_.program(job);
    Job::Sink sink = send_;  // GCC 12 coroutines (docs/development.md): named, not a temporary in the co_await
    v1::ServerMessage reply;
    *reply.mutable_exit() = co_await run_job(job, std::move(sink));
    const RunnerVerdict verdict = job->verdict();
    control_.program(nullptr);
    job.reset();  // its run slot is free before the client can see the Exit and ask for another
    if (verdict == RunnerVerdict::no_main)
        co_return error_reply(ErrorCode::invalid_argument, missing_main_message, "code");
    co_return reply;
}

asio::awaitable<void> RequestSteps::send_started(const Job& job) {
    started_sent_ = true;
    v1::ServerMessage started;
    started.mutable_started()->set_job_id(job.id());
    started.mutable_started()->set_uid(job.uid());
    co_await send_(std::move(started));
}

// A compile step that did not succeed: the program never runs; the compiler's words are its stderr (sent
// here) and its error (in the Exit the caller sends).
asio::awaitable<void> RequestSteps::compile_failure(v1::ServerMessage& reply, const std::string& output) {
    v1::Exit& exit = *reply.mutable_exit();
    if (exit.status() == v1::STATUS_CANCELLED || exit.status() == v1::STATUS_INTERNAL_ERROR) co_return;
    if (!output.empty()) {
        v1::ServerMessage message;
        message.mutable_output()->set_stream(v1::STREAM_STDERR);
        message.mutable_output()->set_data(output);
        co_await send_(std::move(message));
    }
    const std::string why = exit.status() == v1::STATUS_RUNTIME_ERROR ? "" : " (" + exit.error() + ")";
    exit.set_error(output.empty() ? "compilation failed" + why : "compilation failed" + why + ":\n" + output);
    exit.set_status(v1::STATUS_COMPILE_ERROR);
}

// One job to its end; the client's watcher (RunControl) can kill it meanwhile.
asio::awaitable<v1::Exit> RequestSteps::run_job(std::shared_ptr<Job> job, Job::Sink sink) {
    control_.running(job);
    v1::Exit exit = co_await job->run(std::move(sink));
    control_.running(nullptr);
    spdlog::info("job {}: request {} of {} ended: {} in {} ms", job->id(), request_id_, principal_,
                 v1::Status_Name(exit.status()), exit.wall_ms());
    co_return exit;
}

}  // namespace jaild
