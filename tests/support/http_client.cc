#include "tests/support/http_client.h"

#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <boost/json/parse.hpp>
#include <cctype>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "tests/support/harness.h"

namespace jaild::test {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using asio::ip::tcp;
using Clock = std::chrono::steady_clock;

boost::json::value HttpResponse::json() const { return boost::json::parse(body); }

std::string HttpResponse::header(const std::string& name) const {
    auto it = headers.find(name);
    return it == headers.end() ? std::string() : it->second;
}

namespace {

std::string lower(std::string text) {
    for (char& c : text) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return text;
}

template <class Fields>
std::map<std::string, std::string> header_map(const Fields& fields) {
    std::map<std::string, std::string> out;
    for (const auto& field : fields) out[lower(std::string(field.name_string()))] = std::string(field.value());
    return out;
}

// A blocking socket whose reads and writes give up after `timeout` (SO_RCVTIMEO/SO_SNDTIMEO).
void connect_with_timeout(tcp::socket& socket, int port, std::chrono::milliseconds timeout) {
    socket.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), static_cast<unsigned short>(port)));
    timeval tv{static_cast<time_t>(timeout.count() / 1000), static_cast<suseconds_t>(timeout.count() % 1000 * 1000)};
    ::setsockopt(socket.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    ::setsockopt(socket.native_handle(), SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
}

http::request<http::string_body> make_request(const std::string& method, const std::string& target,
                                              const std::string& body, const Headers& headers) {
    http::request<http::string_body> request{http::string_to_verb(method), target, 11};
    request.set(http::field::host, "127.0.0.1");
    request.set(http::field::connection, "close");
    for (const auto& [name, value] : headers) request.set(name, value);
    request.body() = body;
    if (!body.empty() || method == "POST") request.prepare_payload();
    return request;
}

}  // namespace

HttpResponse http_request(int port, const std::string& method, const std::string& target, const std::string& body,
                          const Headers& headers, std::chrono::milliseconds timeout) {
    const auto start = Clock::now();
    HttpResponse out;
    asio::io_context context;
    tcp::socket socket(context);
    boost::system::error_code ec;
    try {
        connect_with_timeout(socket, port, timeout);
    } catch (const std::exception&) {
        return out;
    }
    auto request = make_request(method, target, body, headers);
    http::write(socket, request, ec);
    beast::flat_buffer buffer;
    http::response_parser<http::string_body> parser;
    parser.body_limit(256 * 1024 * 1024);
    if (!ec) http::read(socket, buffer, parser, ec);
    if (!ec || parser.is_header_done()) {
        const auto& response = parser.get();
        out.status = parser.is_header_done() ? static_cast<int>(response.result_int()) : 0;
        out.headers = header_map(response);
        out.body = response.body();
    }
    out.elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start);
    return out;
}

HttpResponse post_json(int port, const std::string& target, const std::string& body, const Headers& headers) {
    Headers all = headers;
    all.emplace("Content-Type", "application/json");
    return http_request(port, "POST", target, body, all);
}

namespace {

StreamResponse stream_request(int port, const std::string& method, const std::string& target, const std::string& body,
                              const Headers& headers) {
    StreamResponse out;
    asio::io_context context;
    tcp::socket socket(context);
    connect_with_timeout(socket, port, std::chrono::seconds(60));
    auto request = make_request(method, target, body, headers);
    boost::system::error_code ec;
    http::write(socket, request, ec);
    beast::flat_buffer buffer;
    http::response_parser<http::string_body> parser;
    std::string pending;
    // Each chunk is stamped when it arrives; lines are cut out of the chunks as they complete.
    auto on_chunk = [&](std::uint64_t, std::string_view data, boost::system::error_code&) -> std::size_t {
        pending.append(data);
        for (std::size_t nl; (nl = pending.find('\n')) != std::string::npos; pending.erase(0, nl + 1))
            out.lines.push_back({Clock::now(), pending.substr(0, nl)});
        return data.size();
    };
    parser.on_chunk_body(on_chunk);
    http::read_header(socket, buffer, parser, ec);
    if (ec) return out;
    out.status = static_cast<int>(parser.get().result_int());
    out.headers = header_map(parser.get());
    while (!ec && !parser.is_done()) http::read_some(socket, buffer, parser, ec);
    if (!parser.get().chunked()) {  // an error answer is a plain body
        std::istringstream lines(parser.get().body());
        for (std::string line; std::getline(lines, line);) out.lines.push_back({Clock::now(), line});
    }
    return out;
}

}  // namespace

StreamResponse post_stream(int port, const std::string& target, const std::string& body, const Headers& headers) {
    Headers all = headers;
    all.emplace("Content-Type", "application/json");
    return stream_request(port, "POST", target, body, all);
}

StreamResponse get_stream(int port, const std::string& target, const Headers& headers) {
    return stream_request(port, "GET", target, "", headers);
}

RawConnection::RawConnection(int port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(static_cast<std::uint16_t>(port));
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) close();
}

RawConnection::~RawConnection() { close(); }

void RawConnection::close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
}

bool RawConnection::send(const std::string& bytes) { return send_all(fd_, bytes); }

std::string RawConnection::receive_all(std::chrono::milliseconds timeout, bool& closed) {
    std::string out;
    closed = false;
    const auto deadline = Clock::now() + timeout;
    while (fd_ >= 0) {
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
        pollfd pfd{fd_, POLLIN, 0};
        if (left <= 0 || ::poll(&pfd, 1, static_cast<int>(left)) != 1) break;
        char data[4096];
        const ssize_t n = ::read(fd_, data, sizeof data);
        if (n <= 0) {
            closed = true;  // EOF or reset: either way the server closed the connection
            break;
        }
        out.append(data, static_cast<std::size_t>(n));
    }
    return out;
}

}  // namespace jaild::test
