#include "tests/support/gateway.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include "tests/support/http_client.h"
#include "tests/support/process.h"

namespace jaild::test {

int free_port() {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address);
    socklen_t length = sizeof address;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length);
    ::close(fd);
    return ntohs(address.sin_port);
}

GatewayProcess::GatewayProcess(const std::string& socket, const std::vector<std::string>& extra_args, uid_t uid) {
    static int instance = 0;
    log_path_ = "/tmp/jaild-gateway-test-" + std::to_string(::getpid()) + "-" + std::to_string(++instance) + ".log";
    port_ = free_port();
    std::string program = bin("jaild-gateway");
    if (uid != 0) {
        ::chmod(exec_dir_.path().c_str(), 0755);
        const std::string copy = exec_dir_.path() + "/jaild-gateway";
        std::filesystem::copy_file(program, copy);
        ::chmod(copy.c_str(), 0755);
        program = copy;
    }
    std::vector<std::string> args = {program, "--jaild-socket", socket};
    // A --listen among extra_args (e.g. 0.0.0.0:PORT) replaces the loopback default; the port is its own.
    const auto listen = std::find(extra_args.begin(), extra_args.end(), "--listen");
    if (listen != extra_args.end() && listen + 1 != extra_args.end())
        port_ = std::stoi(listen[1].substr(listen[1].rfind(':') + 1));
    else
        args.insert(args.end(), {"--listen", "127.0.0.1:" + std::to_string(port_)});
    args.insert(args.end(), extra_args.begin(), extra_args.end());
    const int log_fd = ::open(log_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    pid_ = launch({.argv = args, .stderr_fd = log_fd, .uid = uid});
    ::close(log_fd);
    const bool up = wait_until(
        [&] {
            if (::waitpid(pid_, nullptr, WNOHANG) == pid_) {
                pid_ = -1;
                throw std::runtime_error("jaild-gateway exited at start:\n" + log());
            }
            RawConnection probe(port_);
            return probe.connected();
        },
        std::chrono::seconds(10));
    if (!up) throw std::runtime_error("jaild-gateway did not start listening:\n" + log());
}

GatewayProcess::~GatewayProcess() {
    terminate();
    ::unlink(log_path_.c_str());
}

int GatewayProcess::terminate() { return terminate_child(pid_); }

std::string GatewayProcess::log() const {
    std::ifstream in(log_path_);
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
}

jaild::gateway::GatewayOptions gateway_options_from(const std::string& toml) {
    TempDir dir;
    const std::string path = dir.path() + "/gateway.toml";
    std::ofstream(path) << toml;
    jaild::gateway::GatewayOptions options;
    jaild::gateway::load_options_file(path, options);
    return options;
}

}  // namespace jaild::test
