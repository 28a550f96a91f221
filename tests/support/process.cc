#include "tests/support/process.h"

#include <grp.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <stdexcept>

extern char** environ;

namespace jaild::test {

namespace {

// "NAME=" of an environment entry ("" when it has no '=').
std::string name_of(const std::string& entry) {
    const std::size_t equals = entry.find('=');
    return equals == std::string::npos ? std::string() : entry.substr(0, equals + 1);
}

// This process's environment with `extra` added, NAME=value entries of `extra` replacing NAME.
std::vector<std::string> environment_with(const std::vector<std::string>& extra) {
    std::vector<std::string> all;
    for (char** entry = environ; *entry; ++entry) {
        const std::string name = name_of(*entry);
        bool replaced = false;
        for (const std::string& added : extra) replaced = replaced || (!name.empty() && name_of(added) == name);
        if (!replaced) all.push_back(*entry);
    }
    all.insert(all.end(), extra.begin(), extra.end());
    return all;
}

std::vector<char*> pointers(std::vector<std::string>& strings) {
    std::vector<char*> out;
    for (std::string& text : strings) out.push_back(text.data());
    out.push_back(nullptr);
    return out;
}

// Child only, between fork and exec: async-signal-safe calls on what the parent prepared.
[[noreturn]] void apply(const Launch& spec, char* const* argv, char* const* envp) noexcept {
    const int streams[3] = {spec.stdin_fd, spec.stdout_fd, spec.stderr_fd};
    for (int target = 0; target < 3; ++target)
        if (streams[target] >= 0) ::dup2(streams[target], target);
    if (spec.controlling_terminal && (::setsid() < 0 || ::ioctl(0, TIOCSCTTY, 0) != 0)) ::_exit(126);
    if (spec.uid != 0 && (::setgroups(0, nullptr) != 0 || ::setgid(spec.uid) != 0 || ::setuid(spec.uid) != 0))
        ::_exit(126);
    // After the change of user, which clears the parent-death signal.
    ::prctl(PR_SET_PDEATHSIG, SIGTERM);
    ::close_range(3, ~0U, 0);
    ::execve(argv[0], argv, envp);
    ::_exit(127);
}

}  // namespace

pid_t launch(const Launch& spec) {
    std::vector<std::string> args = spec.argv, env = environment_with(spec.env);
    const std::vector<char*> argv = pointers(args), envp = pointers(env);
    const pid_t pid = ::fork();
    if (pid < 0) throw std::runtime_error("fork failed for " + spec.argv.at(0));
    if (pid == 0) apply(spec, argv.data(), envp.data());
    return pid;
}

int terminate_child(pid_t& pid) {
    int status = -1;
    if (pid <= 0) return status;
    ::kill(pid, SIGTERM);
    ::waitpid(pid, &status, 0);
    pid = -1;
    return status;
}

}  // namespace jaild::test
