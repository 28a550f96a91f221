// One run, from clone to cleanup, on jaild's event loop: streams the program's output as it comes, feeds
// its stdin, enforces the wall-clock, CPU and output limits, classifies how it ended, and leaves nothing
// behind.
#pragma once

#include <sys/resource.h>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "jaild.pb.h"
#include "jaild/job_owner.h"
#include "jaild/runner_answer.h"
#include "jaild/sandbox/child.h"
#include "jaild/sandbox/spawn.h"
#include "jaild/verdict.h"

namespace jaild {

class Lease;

class Job : public std::enable_shared_from_this<Job> {
public:
    using Sink = std::function<boost::asio::awaitable<void>(v1::ServerMessage)>;

    // `lease` holds `uid` (and the workspace) until the job is gone.
    Job(JobOwner& owner, boost::asio::any_io_executor executor, RunPlan plan, std::string id,
        std::shared_ptr<Lease> lease, std::uint32_t uid, std::unique_ptr<cgroup::JobCgroup> cgroup, Spawned spawned);
    ~Job();

    // Runs to the end: output goes to `sink` as it is produced; returns the Exit (already cleaned up).
    boost::asio::awaitable<v1::Exit> run(Sink sink);

    // Kills the whole sandbox; the first reason given is the one reported.
    void kill(KillReason reason);
    // More standard input from the client; eof closes the program's stdin.
    void feed_stdin(std::string data, bool eof);

    // Bytes of streamed stdin queued and not yet written to the program.
    std::size_t stdin_backlog() const { return stdin_backlog_; }
    const std::string& id() const { return id_; }
    // After run(): what the language runner answered (plans with a result channel).
    RunnerVerdict verdict() const { return verdict_; }
    std::uint32_t uid() const { return uid_; }
    // A live sandbox's control channel (RunPlan::live): its parent end, for the caller to keep; empty after
    // the first call or for other runs.
    unique_fd take_control() { return std::move(control_); }

private:
    boost::asio::awaitable<void> pump(boost::asio::posix::stream_descriptor& pipe, v1::Stream stream, Sink& sink);
    boost::asio::awaitable<void> wait_exit();
    boost::asio::awaitable<void> wait_pidfd();  // the reaper's end, through its pidfd
    boost::asio::awaitable<void> poll_pid();    // the same without a pidfd (gVisor)
    // A warm run's program when the zygote died before it (Spawned::program_pidfd): reaps it, as its
    // parent now, so that its sandbox's PID 1 can end, and keeps its wait status for the report.
    boost::asio::awaitable<void> wait_program();
    boost::asio::awaitable<void> write_stdin();
    boost::asio::awaitable<void> read_result();
    boost::asio::awaitable<void> write_result_input();
    void arm_cpu_watch(std::chrono::milliseconds delay);
    void read_reports();
    RunOutcome outcome() const;

    JobOwner& owner_;
    RunPlan plan_;
    std::string id_;
    std::shared_ptr<Lease> lease_;
    std::uint32_t uid_;
    std::unique_ptr<cgroup::JobCgroup> cgroup_;
    Spawned spawned_;
    // The reaper's pidfd; closed where the kernel gives none (gVisor), and then pid_ is waited for by polling.
    boost::asio::posix::stream_descriptor pidfd_, stdout_, stderr_, stdin_, result_, program_;
    pid_t pid_;
    bool processes_ended_ = false;  // kill() has ended every process of the run (JobOwner::end_processes)
    boost::asio::steady_timer wall_timer_, cpu_timer_, stdin_ready_, program_retry_;
    std::optional<int> program_status_;  // wait_program()'s
    unique_fd control_;
    std::chrono::steady_clock::time_point started_, ended_;

    KillReason reason_ = KillReason::none;
    bool exited_ = false;
    siginfo_t reaper_{};
    rusage reaper_usage_{};  // the reaper's and every process it reaped: the CPU a run without cgroup used
    std::vector<ChildReport> reports_;
    std::uint64_t output_bytes_[3] = {0, 0, 0};
    bool truncated_[3] = {false, false, false};
    std::deque<std::string> stdin_queue_;
    bool stdin_eof_ = false;
    std::size_t stdin_backlog_ = 0;
    std::string answer_;  // what came back on the result channel
    RunnerVerdict verdict_ = RunnerVerdict::none;
};

}  // namespace jaild
