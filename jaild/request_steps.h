// The steps of one run or execute request under one uid: its packages when it names requirements, the
// compile step when there is one, then the program, in a session staged in before and out after. The
// connection (connection.cc) sends what the steps produce and watches its client meanwhile; RunControl is
// what the two share.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <cstddef>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>

#include "common/requirements.h"
#include "jaild.pb.h"
#include "jaild/error_code.h"
#include "jaild/job.h"
#include "jaild/languages.h"
#include "jaild/package_steps.h"
#include "jaild/packages.h"
#include "jaild/sessions.h"

namespace jaild {

class Lease;
class Supervisor;

// The job a request runs now, which the client's leaving or Cancel kills, and where the client's stdin
// goes: to the program once it runs, kept until then (during a compile step).
class RunControl {
public:
    // The client cancelled (the first reason stays) or left (it always wins): the job running now is killed,
    // and every later one as it starts.
    void stop(KillReason reason);
    KillReason stopped() const { return stopped_; }
    void feed_stdin(std::string data, bool eof);
    // Stdin bytes not yet taken by the program (queued here, or in it).
    std::size_t stdin_backlog() const { return program_ ? program_->stdin_backlog() : pending_bytes_; }

    // The steps' side: the job now running (null when it ended), and the program, which takes the stdin.
    void running(std::shared_ptr<Job> job);
    void program(std::shared_ptr<Job> job);

private:
    std::shared_ptr<Job> current_;
    std::shared_ptr<Job> program_;
    std::deque<std::pair<std::string, bool>> pending_stdin_;
    std::size_t pending_bytes_ = 0;
    KillReason stopped_ = KillReason::none;
};

// Why a request is refused before any step runs.
struct Refusal {
    ErrorCode code = ErrorCode::invalid_argument;
    std::string message;
    std::string field;
};

class RequestSteps {
public:
    RequestSteps(Supervisor& supervisor, std::string request_id, RunControl& control, Job::Sink send)
        : supervisor_(supervisor), request_id_(std::move(request_id)), control_(control), send_(std::move(send)) {}

    // The request of `principal` made into its steps: its session joined (the session's env under the
    // request's, its cwd unless the request names one), its plans under the configured limits lowered by the
    // principal's `quota`, its requirements. Nothing is sent.
    std::optional<Refusal> prepare(const v1::RunRequest& request, const std::string& principal,
                                   const v1::Quota& quota = {});
    std::optional<Refusal> prepare(const v1::ExecuteRequest& request, const std::string& principal,
                                   const v1::Quota& quota = {});

    // Then the steps: a Progress while the requirements are made available (when there are any), Started,
    // the program's output, and the Exit (or an Error) that ends the request.
    boost::asio::awaitable<void> run();

private:
    template <class Request>
    std::optional<Refusal> join_session(Request& request, const std::string& principal);
    boost::asio::awaitable<void> fail(ErrorCode code, std::string_view message, std::string_view field = {});
    boost::asio::awaitable<void> steps(std::optional<RunPlan> compile, RunPlan program,
                                       std::shared_ptr<Session> session);
    boost::asio::awaitable<HelperOutcome> run_helper(RunPlan plan, std::shared_ptr<Lease> lease);
    PlanError enter_session(Session& session, Lease& lease, std::optional<RunPlan>& compile, RunPlan& program);
    boost::asio::awaitable<std::optional<v1::ServerMessage>> compile(RunPlan plan, std::shared_ptr<Lease> lease);
    boost::asio::awaitable<v1::ServerMessage> run_program(RunPlan program, std::shared_ptr<Lease> lease);
    boost::asio::awaitable<v1::ServerMessage> run_in(std::optional<RunPlan> compile, RunPlan program,
                                                     std::shared_ptr<Lease> lease);
    boost::asio::awaitable<v1::Exit> run_job(std::shared_ptr<Job> job, Job::Sink sink);
    boost::asio::awaitable<void> send_started(const Job& job);
    boost::asio::awaitable<void> compile_failure(v1::ServerMessage& reply, const std::string& output);

    Supervisor& supervisor_;
    std::string request_id_;
    RunControl& control_;
    Job::Sink send_;
    bool started_sent_ = false;
    std::string principal_;  // for the log
    // What prepare() made of the request.
    std::optional<RunPlan> compile_;
    RunPlan program_;
    std::shared_ptr<Session> session_;
    std::uint64_t session_disk_kb_ = 0;  // the principal's sessions together (Quota); 0: no cap
    PackageStore::Requirements requirements_;
    std::string python_version_;  // the language's, for its requirements
};

}  // namespace jaild
