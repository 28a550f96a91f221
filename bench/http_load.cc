// jaild-bench-http: a closed-loop HTTP/1.1 load generator on Boost.Beast.
//
//   jaild-bench-http --port P [--host 127.0.0.1] [--path /run] [--body JSON] [--concurrency C]
//                    [--seconds S] [--warmup W] [--max-requests N] [--expect TEXT] [--status N] [--writes 1|2]
//
// C clients, each on its own kept-alive connection, POST the body back to back for S seconds (after W
// seconds of warm-up that are not counted) and stop early after N requests in all. An answer counts as an
// error unless its status is N (default 200) and its body contains TEXT (default "status":"ok"); a broken connection is
// an error too and the client reconnects. Prints one `key=value` line (see stats.h) ending with `sent=N`: every
// request written, warm-up and errors included (what the server saw, to compare with its own counters).
// --writes 2 sends each request's head and body in two writes, with Nagle's algorithm on (no TCP_NODELAY),
// as Python's httpx does; the default sends the request in one write.
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <tuple>
#include <vector>

#include "bench/stats.h"

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using asio::ip::tcp;
using jaild::bench::Clock;

struct Options {
    std::string host = "127.0.0.1";
    unsigned short port = 0;
    std::string path = "/run";
    std::string body = R"({"command":["/bin/echo","hi"]})";
    std::string expect = R"("status":"ok")";
    std::size_t concurrency = 1;
    double seconds = 5;
    double warmup = 1;
    std::size_t max_requests = 1'000'000;
    int writes = 1;
    unsigned status = 200;
};

struct Totals {
    std::vector<double> samples;
    std::size_t errors = 0;
    std::size_t started = 0;
    std::size_t sent = 0;
    Clock::time_point measure_from;
    Clock::time_point stop_at;
};

[[noreturn]] void usage(const char* why) {
    std::fprintf(stderr,
                 "jaild-bench-http: %s\nusage: jaild-bench-http --port P [--host H] [--path /run] [--body JSON] "
                 "[--concurrency C] [--seconds S] [--warmup W] [--max-requests N] [--expect TEXT] [--status N] "
                 "[--writes 1|2]\n",
                 why);
    std::exit(2);
}

Options parse(int argc, char** argv) {
    Options options;
    for (int i = 1; i < argc; i += 2) {
        if (i + 1 >= argc) usage("option without a value");
        const std::string key = argv[i], value = argv[i + 1];
        if (key == "--host")
            options.host = value;
        else if (key == "--port")
            options.port = static_cast<unsigned short>(std::stoul(value));
        else if (key == "--path")
            options.path = value;
        else if (key == "--body")
            options.body = value;
        else if (key == "--expect")
            options.expect = value;
        else if (key == "--concurrency")
            options.concurrency = std::max<std::size_t>(1, std::stoul(value));
        else if (key == "--seconds")
            options.seconds = std::stod(value);
        else if (key == "--warmup")
            options.warmup = std::stod(value);
        else if (key == "--max-requests")
            options.max_requests = std::stoul(value);
        else if (key == "--status")
            options.status = static_cast<unsigned>(std::stoul(value));
        else if (key == "--writes")
            options.writes = std::stoi(value);
        else
            usage("unknown option");
    }
    if (options.port == 0) usage("--port is required");
    if (options.writes != 1 && options.writes != 2) usage("--writes is 1 or 2");
    return options;
}

// The request's head, as a client library writes it before the body.
std::string request_head(const Options& options) {
    return "POST " + options.path + " HTTP/1.1\r\nHost: " + options.host +
           "\r\nContent-Type: application/json\r\nConnection: keep-alive\r\nContent-Length: " +
           std::to_string(options.body.size()) + "\r\n\r\n";
}

// The request in one write, or its head and then its body (the second write waits for the server's ACK of the
// first while Nagle's algorithm holds it back).
asio::awaitable<beast::error_code> send_request(beast::tcp_stream& stream, const Options& options,
                                                const std::string& head) {
    if (options.writes == 1) {
        const std::string whole = head + options.body;
        auto [ec, n] = co_await asio::async_write(stream, asio::buffer(whole), asio::as_tuple(asio::use_awaitable));
        co_return ec;
    }
    auto [ec, n] = co_await asio::async_write(stream, asio::buffer(head), asio::as_tuple(asio::use_awaitable));
    if (!ec)
        std::tie(ec, n) =
            co_await asio::async_write(stream, asio::buffer(options.body), asio::as_tuple(asio::use_awaitable));
    co_return ec;
}

// One client: a kept-alive connection, requests back to back until the stop time or the request budget.
asio::awaitable<void> client(const Options& options, Totals& totals, tcp::endpoint endpoint) {
    const std::string head = request_head(options);

    beast::tcp_stream stream(co_await asio::this_coro::executor);
    bool connected = false;
    beast::flat_buffer buffer;
    while (Clock::now() < totals.stop_at && totals.started < options.max_requests) {
        if (!connected) {
            auto [ec] = co_await stream.async_connect(endpoint, asio::as_tuple(asio::use_awaitable));
            if (ec) {
                ++totals.errors;
                continue;
            }
            connected = true;
            buffer.clear();
        }
        const auto begin = Clock::now();
        const bool counted = begin >= totals.measure_from;
        if (counted) ++totals.started;
        stream.expires_after(std::chrono::seconds(60));
        const beast::error_code write_ec = co_await send_request(stream, options, head);
        if (!write_ec) ++totals.sent;
        http::response<http::string_body> response;
        beast::error_code read_ec = write_ec;
        if (!write_ec) {
            auto [ec, read] = co_await http::async_read(stream, buffer, response, asio::as_tuple(asio::use_awaitable));
            read_ec = ec;
        }
        const bool ok = !read_ec && response.result_int() == options.status &&
                        response.body().find(options.expect) != std::string::npos;
        if (read_ec || !response.keep_alive()) {
            beast::error_code ignored;
            stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
            stream.close();
            connected = false;
        }
        if (!counted) continue;
        if (ok)
            totals.samples.push_back(jaild::bench::ms_since(begin));
        else
            ++totals.errors;
    }
    if (connected) stream.close();
}

}  // namespace

int main(int argc, char** argv) {
    const Options options = parse(argc, argv);
    asio::io_context io(1);
    const tcp::endpoint endpoint(asio::ip::make_address(options.host), options.port);
    Totals totals;
    const auto to_duration = [](double s) {
        return std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(s));
    };
    totals.measure_from = Clock::now() + to_duration(options.warmup);
    totals.stop_at = totals.measure_from + to_duration(options.seconds);
    for (std::size_t i = 0; i < options.concurrency; ++i)
        asio::co_spawn(io, client(options, totals, endpoint), asio::detached);
    io.run();
    // Requests in flight at the stop time finish and are counted, so measure to the last answer.
    const double seconds = std::chrono::duration<double>(
                               std::min(Clock::now(), totals.stop_at + std::chrono::seconds(60)) - totals.measure_from)
                               .count();
    jaild::bench::print_report(std::move(totals.samples), totals.errors, seconds,
                               "sent=" + std::to_string(totals.sent));
    return 0;
}
