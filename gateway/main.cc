// jaild-gateway: the unprivileged HTTP front end of jaild. Parses options, binds, runs the io_context on
// one thread per core, and turns SIGTERM/SIGINT into a graceful shutdown.
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <thread>
#include <vector>

#include "common/log.h"
#include "gateway/listener.h"
#include "gateway/options.h"

namespace {

jaild::gateway::GatewayOptions parse_command_line(int argc, char** argv) {
    using jaild::gateway::GatewayOptions;
    CLI::App app{"jaild-gateway: HTTP front end of jaild"};
    std::string listen, socket, config;
    bool allow_remote = false;
    unsigned threads = 0;
    app.add_option("--listen", listen, "ADDR:PORT to listen on (default 127.0.0.1:8080)");
    app.add_option("--jaild-socket", socket, "jaild's socket (default /run/jaild/jaild.sock)");
    app.add_option("--config", config, "TOML file with [gateway] and [log] tables");
    app.add_flag("--allow-remote", allow_remote, "allow a non-loopback listen address");
    app.add_option("--threads", threads, "worker threads (default: one per core)");
    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& error) {
        std::exit(app.exit(error));
    }
    GatewayOptions options;
    if (!config.empty()) jaild::gateway::load_options_file(config, options);
    if (!listen.empty()) jaild::gateway::parse_listen(listen, options);
    if (!socket.empty()) options.jaild_socket = socket;
    if (allow_remote) options.allow_remote = true;
    if (threads != 0) options.threads = threads;
    jaild::gateway::check_listen_allowed(options);
    return options;
}

}  // namespace

int main(int argc, char** argv) {
    try {
        const auto options = parse_command_line(argc, argv);
        jaild::init_logging("jaild-gateway", options.log);
        const unsigned threads = options.threads ? options.threads : std::max(1u, std::thread::hardware_concurrency());
        boost::asio::io_context context(static_cast<int>(threads));
        jaild::gateway::Listener listener(context, options);
        boost::asio::signal_set signals(context, SIGTERM, SIGINT);
        signals.async_wait([&](const boost::system::error_code& ec, int) {
            if (!ec) listener.shutdown();
        });
        listener.start();
        const auto endpoint = listener.local_endpoint();
        spdlog::info("listening on {}:{}, jaild at {}, {} threads", endpoint.address().to_string(), endpoint.port(),
                     options.jaild_socket, threads);
        std::vector<std::thread> workers;
        for (unsigned i = 1; i < threads; ++i) workers.emplace_back([&] { context.run(); });
        context.run();
        for (auto& worker : workers) worker.join();
        spdlog::info("stopped");
        return 0;
    } catch (const std::exception& error) {
        std::fprintf(stderr, "jaild-gateway: %s\n", error.what());
        return 1;
    }
}
