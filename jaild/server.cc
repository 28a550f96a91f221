#include "jaild/server.h"

#include <grp.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <stdexcept>

#include "jaild/connection.h"
#include "jaild/socket_claim.h"
#include "jaild/supervisor.h"

namespace jaild {

namespace asio = boost::asio;
using stream_protocol = asio::local::stream_protocol;

Server::Server(asio::io_context& io, Supervisor& supervisor, SocketClaim& claim)
    : io_(io), supervisor_(supervisor), claim_(claim), path_(claim.path()), acceptor_(io) {}

void Server::start() {
    const ServerConfig& config = supervisor_.config().server;
    acceptor_.open();
    acceptor_.bind(stream_protocol::endpoint(path_));
    claim_.bound();
    acceptor_.listen(asio::socket_base::max_listen_connections);

    std::vector<std::uint32_t> gids = config.allowed_gids;
    gid_t group = 0;
    if (!config.socket_group.empty()) {
        if (const ::group* entry = ::getgrnam(config.socket_group.c_str())) {
            group = entry->gr_gid;
            gids.push_back(group);
        } else {
            spdlog::warn("socket group \"{}\" does not exist: only root and allowed_uids can connect",
                         config.socket_group);
        }
    }
    if (::chown(path_.c_str(), 0, group) != 0 || ::chmod(path_.c_str(), config.socket_mode) != 0)
        throw std::runtime_error("cannot set owner and mode of " + path_ + ": " + std::strerror(errno));
    supervisor_.set_allowed_gids(std::move(gids));
    asio::co_spawn(io_, accept_loop(), asio::detached);
    spdlog::info("listening on {}", path_);
}

void Server::stop() {
    boost::system::error_code ignored;
    acceptor_.close(ignored);
    if (!claim_.release()) spdlog::warn("socket {} is no longer the one this jaild bound: left in place", path_);
}

asio::awaitable<void> Server::accept_loop() {
    while (acceptor_.is_open()) {
        auto [ec, socket] = co_await acceptor_.async_accept(asio::as_tuple(asio::use_awaitable));
        if (ec == asio::error::operation_aborted || !acceptor_.is_open()) co_return;
        if (ec) {
            // EMFILE and friends: log and go on; the next accept may succeed once connections close.
            spdlog::error("accept: {}", ec.message());
            asio::steady_timer pause(io_, std::chrono::milliseconds(100));  // do not spin on EMFILE
            co_await pause.async_wait(asio::as_tuple(asio::use_awaitable));
            continue;
        }
        asio::co_spawn(io_, serve_connection(supervisor_, std::move(socket)), [](std::exception_ptr error) {
            if (!error) return;
            try {
                std::rethrow_exception(error);
            } catch (const std::exception& e) {
                spdlog::error("connection ended by an exception: {}", e.what());
            }
        });
    }
}

}  // namespace jaild
