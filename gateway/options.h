// The gateway's settings: command line over config file over defaults. Read once in main().
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common/config.h"
#include "gateway/client_address.h"
#include "gateway/limits.h"
#include "gateway/node_identity.h"
#include "gateway/quotas.h"

namespace jaild::gateway {

namespace e2b {
class SandboxTokens;  // gateway/e2b/sandbox_tokens.h
}

// Static files (gateway/static_files.h): the request paths under `prefix` (ends with '/') come from `dir`.
struct StaticMount {
    std::string prefix;
    std::string dir;
};

struct GatewayOptions {
    std::string listen_address = "127.0.0.1";
    std::uint16_t listen_port = 8080;
    std::string jaild_socket = "/run/jaild/jaild.sock";
    std::string keys_file;          // the tenants and their API keys; empty: no keys, every caller is let in
    AddressSet trusted_proxies;     // peers whose X-Forwarded-For names the client
    bool insecure_no_auth = false;  // a non-loopback listen address without keys_file needs this
    unsigned threads = 0;           // 0: one per core
    // Origins whose pages get CORS headers ("*": any page); empty: none.
    std::vector<std::string> cors_origins;
    // PEM files: with both, the listener speaks only TLS; with neither, plain HTTP.
    std::string tls_cert, tls_key;
    GatewayLimits limits;
    LogConfig log;
    // [tenant_defaults]: the quotas of a caller whose tenant sets none (docs/operations.md).
    TenantLimits tenant_defaults;
    // The callers' runs in flight and rate buckets, shared by every connection.
    std::shared_ptr<QuotaState> quotas = std::make_shared<QuotaState>();
    // jaild's node id, sent as X-Jaild-Node on every answer; shared by every connection.
    std::shared_ptr<NodeIdentity> node = std::make_shared<NodeIdentity>();
    // metrics_listen: a second address where GET /metrics is the only route and needs no key (bind it to
    // loopback or a private interface); port 0: none.
    std::string metrics_address;
    std::uint16_t metrics_port = 0;
    bool metrics_only = false;  // set in the metrics listener's own copy of these options
    // The playground's files at / (www_dir; empty: none) and the Debian packages' libraries it loads
    // (www_vendor: /vendor/NAME/ from a directory), served read-only to anyone (docs/playground.md).
    std::string www_dir = "/usr/share/jaild/www";
    std::vector<StaticMount> www_vendor = {{"/vendor/codemirror/", "/usr/share/javascript/codemirror"},
                                           {"/vendor/termjs/", "/usr/share/javascript/term.js"}};
    // E2B sandboxes' access tokens (docs/e2b.md): their secret's file (e2b_secret_file; empty: a random secret
    // per process), and the tokens made from it in main().
    std::string e2b_secret_file;
    std::shared_ptr<const e2b::SandboxTokens> e2b_tokens;
};

// Parses "ADDR:PORT" ("[v6]:PORT" for IPv6). Throws ConfigError.
void parse_listen(const std::string& text, GatewayOptions& options);
// The same for metrics_listen (also a key of the [gateway] table).
void parse_metrics_listen(const std::string& text, GatewayOptions& options);
// The options of the metrics listener: these, listening on the metrics address, serving /metrics alone.
GatewayOptions metrics_listener_options(const GatewayOptions& options);

// Reads a TOML file with a [gateway] table (listen, jaild_socket, keys_file, trusted_proxies, insecure_no_auth,
// threads, body_limit_bytes, header_limit_bytes, header_timeout_ms, body_timeout_ms, idle_timeout_ms,
// write_timeout_ms, shutdown_grace_ms, max_connections, script_max_bytes, cors_origins, tls_cert, tls_key,
// www_dir, www_vendor, e2b_secret_file), a [log] table (level, format) and a [tenant_defaults] table (the keys
// file's limit keys, integers of at least 1).
// Unknown keys throw ConfigError; so does allow_remote, which is gone (the message says what replaces it).
void load_options_file(const std::string& path, GatewayOptions& options);

// Throws ConfigError, saying what to do, when the listen address is not loopback while there is no keys_file
// and insecure_no_auth is off.
void check_listen_allowed(const GatewayOptions& options);

// Throws ConfigError naming the missing one when only one of tls_cert and tls_key is set.
void check_tls_options(const GatewayOptions& options);

}  // namespace jaild::gateway
