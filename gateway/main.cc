// jaild-gateway: the unprivileged HTTP front end of jaild. Parses options, binds, runs the io_context on
// one thread per core, turns SIGTERM/SIGINT into a graceful shutdown and SIGHUP into a reload of the keys file
// and the TLS certificate. `jaild-gateway keys ...` manages the keys file instead (gateway/keys_command.h).
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <memory>
#include <optional>
#include <thread>
#include <vector>

#include "common/log.h"
#include "gateway/authenticator.h"
#include "gateway/e2b/sandbox_tokens.h"
#include "gateway/keys_command.h"
#include "gateway/listener.h"
#include "gateway/node_id_learner.h"
#include "gateway/options.h"
#include "gateway/tls_context.h"

namespace {

constexpr int kUsageError = 2;

struct CommandLine {
    std::string listen, metrics_listen, socket, config, keys_file, tls_cert, tls_key, www_dir;
    bool insecure_no_auth = false;
    bool allow_remote = false;  // gone: refused with what replaces it
    unsigned threads = 0;
};

void add_serve_options(CLI::App& app, CommandLine& line) {
    app.add_option("--listen", line.listen, "ADDR:PORT to listen on (default 127.0.0.1:8080)");
    app.add_option("--metrics-listen", line.metrics_listen,
                   "ADDR:PORT serving GET /metrics alone, without a key (loopback or a private interface)");
    app.add_option("--jaild-socket", line.socket, "jaild's socket (default /run/jaild/jaild.sock)");
    app.add_option("--config", line.config, "TOML file with [gateway], [log] and [tenant_defaults] tables");
    app.add_option("--keys-file", line.keys_file, "tenants and API keys (TOML); every request but /health needs a key");
    app.add_flag("--insecure-no-auth", line.insecure_no_auth,
                 "listen on a non-loopback address without API keys (an authenticating proxy guards the port)");
    app.add_flag("--allow-remote", line.allow_remote)->group("");
    app.add_option("--threads", line.threads, "worker threads (default: one per core)");
    app.add_option("--tls-cert", line.tls_cert, "PEM certificate chain: serve HTTPS only (with --tls-key)");
    app.add_option("--tls-key", line.tls_key, "PEM private key of --tls-cert");
    app.add_option("--www-dir", line.www_dir, "the playground's files, served at / (default /usr/share/jaild/www)");
}

jaild::gateway::GatewayOptions serve_options(const CommandLine& line) {
    jaild::gateway::GatewayOptions options;
    if (!line.config.empty()) jaild::gateway::load_options_file(line.config, options);
    if (!line.listen.empty()) jaild::gateway::parse_listen(line.listen, options);
    if (!line.metrics_listen.empty()) jaild::gateway::parse_metrics_listen(line.metrics_listen, options);
    if (!line.socket.empty()) options.jaild_socket = line.socket;
    if (line.allow_remote)
        throw jaild::ConfigError(
            "--allow-remote is gone: pass --keys-file to require API keys (docs/operations.md, \"Tenants and API "
            "keys\"), or --insecure-no-auth to listen beyond loopback without them");
    if (!line.keys_file.empty()) options.keys_file = line.keys_file;
    if (line.insecure_no_auth) options.insecure_no_auth = true;
    if (line.threads != 0) options.threads = line.threads;
    if (!line.tls_cert.empty()) options.tls_cert = line.tls_cert;
    if (!line.tls_key.empty()) options.tls_key = line.tls_key;
    if (!line.www_dir.empty()) options.www_dir = line.www_dir;
    jaild::gateway::check_listen_allowed(options);
    jaild::gateway::check_tls_options(options);
    using jaild::gateway::e2b::SandboxTokens;
    try {
        options.e2b_tokens = std::make_shared<const SandboxTokens>(
            options.e2b_secret_file.empty() ? SandboxTokens::random()
                                            : SandboxTokens::from_file(options.e2b_secret_file));
    } catch (const std::runtime_error& error) {
        throw jaild::ConfigError(error.what());
    }
    return options;
}

// SIGHUP: reads again what can change without dropping a connection (the keys file, the TLS certificate and
// key); each reload keeps what it had when the new files are broken.
void reload_on_sighup(boost::asio::signal_set& hangups, jaild::gateway::Authenticator& authenticator,
                      jaild::gateway::TlsContext* tls) {
    hangups.async_wait([&hangups, &authenticator, tls](const boost::system::error_code& ec, int) {
        if (ec) return;
        spdlog::info("SIGHUP: reloading");
        authenticator.reload();
        if (tls) tls->reload();
        reload_on_sighup(hangups, authenticator, tls);
    });
}

int serve(const jaild::gateway::GatewayOptions& options) {
    jaild::init_logging("jaild-gateway", options.log);
    jaild::gateway::Authenticator authenticator(options);
    const unsigned threads = options.threads ? options.threads : std::max(1u, std::thread::hardware_concurrency());
    std::unique_ptr<jaild::gateway::TlsContext> tls;
    if (!options.tls_cert.empty())
        tls = std::make_unique<jaild::gateway::TlsContext>(options.tls_cert, options.tls_key);
    boost::asio::io_context context(static_cast<int>(threads));
    jaild::gateway::Listener listener(context, options, authenticator, tls.get());
    // The metrics listener serves GET /metrics alone, in plain HTTP and without keys (its options have none).
    const jaild::gateway::GatewayOptions metrics_options = jaild::gateway::metrics_listener_options(options);
    jaild::gateway::Authenticator metrics_authenticator(metrics_options);
    std::optional<jaild::gateway::Listener> metrics;
    if (options.metrics_port != 0) metrics.emplace(context, metrics_options, metrics_authenticator);
    jaild::gateway::NodeIdLearner node_learner(context, options.jaild_socket, *options.node);
    boost::asio::signal_set signals(context, SIGTERM, SIGINT);
    boost::asio::signal_set hangups(context, SIGHUP);
    signals.async_wait([&](const boost::system::error_code& ec, int) {
        hangups.cancel();
        if (ec) return;
        if (metrics) metrics->shutdown();
        listener.shutdown();
        node_learner.stop();
    });
    reload_on_sighup(hangups, authenticator, tls.get());
    node_learner.start();
    listener.start();
    if (metrics) metrics->start();
    const auto endpoint = listener.local_endpoint();
    spdlog::info("listening on {}:{} ({}), jaild at {}, {} threads, {}", endpoint.address().to_string(),
                 endpoint.port(), tls ? "https" : "http", options.jaild_socket, threads,
                 options.keys_file.empty() ? std::string("no API keys (callers told apart by address)")
                                           : "API keys from " + options.keys_file);
    if (metrics)
        spdlog::info("metrics on {}:{} (GET /metrics only, no key)", metrics->local_endpoint().address().to_string(),
                     metrics->local_endpoint().port());
    std::vector<std::thread> workers;
    for (unsigned i = 1; i < threads; ++i) workers.emplace_back([&] { context.run(); });
    context.run();
    for (auto& worker : workers) worker.join();
    spdlog::info("stopped");
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{"jaild-gateway: HTTP front end of jaild"};
    CommandLine line;
    add_serve_options(app, line);
    const jaild::gateway::KeysCommand keys(app);
    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& error) {
        // --help is a "parse error" that exits 0; a real usage error exits 2.
        return app.exit(error) == 0 ? 0 : kUsageError;
    }
    if (keys.chosen()) return keys.run();
    try {
        return serve(serve_options(line));
    } catch (const std::exception& error) {
        std::fprintf(stderr, "jaild-gateway: %s\n", error.what());
        return 1;
    }
}
