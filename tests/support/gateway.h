// A real jaild-gateway process on a free loopback port, and a jaild with a gateway in front of it.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

#include "gateway/options.h"
#include "tests/support/harness.h"

namespace jaild::test {

int free_port();

// The gateway's options as load_options_file reads them from a config file holding `toml`. Throws what it
// throws (ConfigError).
jaild::gateway::GatewayOptions gateway_options_from(const std::string& toml);

// build/bin/jaild-gateway on a free loopback port (or the --listen among `extra_args`), talking to `socket`, as
// root or as `uid` (its own group, no other groups). Waits until it accepts.
class GatewayProcess {
public:
    explicit GatewayProcess(const std::string& socket, const std::vector<std::string>& extra_args = {}, uid_t uid = 0);
    ~GatewayProcess();  // SIGTERM and wait
    GatewayProcess(const GatewayProcess&) = delete;
    int port() const { return port_; }
    pid_t pid() const { return pid_; }
    int terminate();  // SIGTERM, wait; the waitpid status
    std::string log() const;

private:
    std::string log_path_;
    // Another user's gateway runs from a copy in here (0755): the checkout's own directories may be closed
    // to that user (a clone under a 0700 mktemp directory is).
    TempDir exec_dir_;
    int port_ = 0;
    pid_t pid_ = -1;
};

// A jaild (with `extra_toml`, see Daemon) and a gateway in front of it, for one test.
struct Stack {
    explicit Stack(const std::string& extra_toml = "") : daemon(extra_toml) {}
    Daemon daemon;
    GatewayProcess gateway{daemon.socket()};
    int port() const { return gateway.port(); }
};

}  // namespace jaild::test
