// The body of an upload read from the connection a piece at a time, as its handler asks for it (Beast's
// buffer_body parser, moved from the header's parser): the gateway holds one piece of a file, never the
// file. Each piece must arrive within the body timeout; past it the read ends with timed_out and the socket
// stays open, so the client can be told 408.
#pragma once

#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/parser.hpp>
#include <chrono>
#include <memory>

#include "gateway/http_stream.h"
#include "gateway/routes.h"

namespace jaild::gateway {

class UploadBody final : public BodyReader {
public:
    using Parser = http::request_parser<http::buffer_body>;

    // On the HTTP connection's strand; the stream, the buffer (which may hold the body's first bytes) and the
    // parser (its header read) outlive it.
    UploadBody(HttpStream& stream, boost::beast::flat_buffer& buffer, Parser& parser,
               std::chrono::milliseconds timeout);
    ~UploadBody() override;
    UploadBody(const UploadBody&) = delete;

    boost::asio::awaitable<boost::system::error_code> read(std::string& piece, bool& done) override;
    std::optional<std::uint64_t> length() const override;
    bool complete() const { return parser_.is_done(); }

private:
    struct Deadline {
        bool armed = false;
        bool expired = false;
    };
    void wait(std::chrono::milliseconds timeout);

    HttpStream& stream_;
    boost::beast::flat_buffer& buffer_;
    Parser& parser_;
    std::chrono::milliseconds timeout_;
    boost::asio::steady_timer timer_;
    std::shared_ptr<Deadline> deadline_ = std::make_shared<Deadline>();
};

}  // namespace jaild::gateway
