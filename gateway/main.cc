// jaild-gateway: the unprivileged HTTP front end of jaild. Parses options, binds, runs the io_context on
// one thread per core, and turns SIGTERM/SIGINT into a graceful shutdown. `jaild-gateway keys ...` manages the
// keys file instead (gateway/keys_command.h).
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <optional>
#include <thread>
#include <vector>

#include "common/log.h"
#include "gateway/keys_command.h"
#include "gateway/listener.h"
#include "gateway/options.h"

namespace {

constexpr int kUsageError = 2;

struct CommandLine {
    std::string listen, metrics_listen, socket, config;
    bool allow_remote = false;
    unsigned threads = 0;
};

void add_serve_options(CLI::App& app, CommandLine& line) {
    app.add_option("--listen", line.listen, "ADDR:PORT to listen on (default 127.0.0.1:8080)");
    app.add_option("--metrics-listen", line.metrics_listen,
                   "ADDR:PORT serving GET /metrics alone, without a key (loopback or a private interface)");
    app.add_option("--jaild-socket", line.socket, "jaild's socket (default /run/jaild/jaild.sock)");
    app.add_option("--config", line.config, "TOML file with [gateway] and [log] tables");
    app.add_flag("--allow-remote", line.allow_remote, "allow a non-loopback listen address");
    app.add_option("--threads", line.threads, "worker threads (default: one per core)");
}

jaild::gateway::GatewayOptions serve_options(const CommandLine& line) {
    jaild::gateway::GatewayOptions options;
    if (!line.config.empty()) jaild::gateway::load_options_file(line.config, options);
    if (!line.listen.empty()) jaild::gateway::parse_listen(line.listen, options);
    if (!line.metrics_listen.empty()) jaild::gateway::parse_metrics_listen(line.metrics_listen, options);
    if (!line.socket.empty()) options.jaild_socket = line.socket;
    if (line.allow_remote) options.allow_remote = true;
    if (line.threads != 0) options.threads = line.threads;
    jaild::gateway::check_listen_allowed(options);
    return options;
}

int serve(const jaild::gateway::GatewayOptions& options) {
    jaild::init_logging("jaild-gateway", options.log);
    const unsigned threads = options.threads ? options.threads : std::max(1u, std::thread::hardware_concurrency());
    boost::asio::io_context context(static_cast<int>(threads));
    jaild::gateway::Listener listener(context, options);
    const jaild::gateway::GatewayOptions metrics_options = jaild::gateway::metrics_listener_options(options);
    std::optional<jaild::gateway::Listener> metrics;
    if (options.metrics_port != 0) metrics.emplace(context, metrics_options);
    boost::asio::signal_set signals(context, SIGTERM, SIGINT);
    signals.async_wait([&](const boost::system::error_code& ec, int) {
        if (ec) return;
        if (metrics) metrics->shutdown();
        listener.shutdown();
    });
    listener.start();
    if (metrics) metrics->start();
    const auto endpoint = listener.local_endpoint();
    spdlog::info("listening on {}:{}, jaild at {}, {} threads", endpoint.address().to_string(), endpoint.port(),
                 options.jaild_socket, threads);
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
