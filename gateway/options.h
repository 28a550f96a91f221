// The gateway's settings: command line over config file over defaults. Read once in main().
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/config.h"
#include "gateway/limits.h"

namespace jaild::gateway {

struct GatewayOptions {
    std::string listen_address = "127.0.0.1";
    std::uint16_t listen_port = 8080;
    std::string jaild_socket = "/run/jaild/jaild.sock";
    bool allow_remote = false;  // a non-loopback listen address needs this: the API runs code on request
    unsigned threads = 0;       // 0: one per core
    // Origins whose pages get CORS headers ("*": any page); empty: none.
    std::vector<std::string> cors_origins;
    GatewayLimits limits;
    LogConfig log;
    // metrics_listen: a second address where GET /metrics is the only route and needs no key (bind it to
    // loopback or a private interface); port 0: none.
    std::string metrics_address;
    std::uint16_t metrics_port = 0;
    bool metrics_only = false;  // set in the metrics listener's own copy of these options
};

// Parses "ADDR:PORT" ("[v6]:PORT" for IPv6). Throws ConfigError.
void parse_listen(const std::string& text, GatewayOptions& options);
// The same for metrics_listen (also a key of the [gateway] table).
void parse_metrics_listen(const std::string& text, GatewayOptions& options);
// The options of the metrics listener: these, listening on the metrics address, serving /metrics alone.
GatewayOptions metrics_listener_options(const GatewayOptions& options);

// Reads a TOML file with a [gateway] table (listen, jaild_socket, allow_remote, threads, body_limit_bytes,
// header_limit_bytes, header_timeout_ms, body_timeout_ms, idle_timeout_ms, write_timeout_ms, shutdown_grace_ms,
// max_connections, script_max_bytes, cors_origins) and a [log] table (level, format). Unknown keys throw ConfigError.
void load_options_file(const std::string& path, GatewayOptions& options);

// Throws ConfigError when the listen address is not loopback and allow_remote is off.
void check_listen_allowed(const GatewayOptions& options);

}  // namespace jaild::gateway
