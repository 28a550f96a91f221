#include "gateway/upload_body.h"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/read.hpp>

namespace jaild::gateway {

namespace asio = boost::asio;

namespace {

// The most one piece holds: what one read of the socket brings, at most.
constexpr std::size_t kPieceBytes = 256 * 1024;

}  // namespace

UploadBody::UploadBody(HttpStream& stream, boost::beast::flat_buffer& buffer, Parser& parser,
                       std::chrono::milliseconds timeout)
    : stream_(stream), buffer_(buffer), parser_(parser), timeout_(timeout), timer_(stream.get_executor()) {}

UploadBody::~UploadBody() { deadline_->armed = false; }

std::optional<std::uint64_t> UploadBody::length() const {
    const auto length = parser_.content_length();
    return length ? std::optional<std::uint64_t>(*length) : std::nullopt;
}

// Cancels the socket's pending read when the deadline passes, then again every 50 ms until the read is over:
// http::async_read_some may read the socket more than once, and a cancel that comes between two of its reads
// would be lost.
void UploadBody::wait(std::chrono::milliseconds timeout) {
    timer_.expires_after(timeout);
    timer_.async_wait([this, deadline = deadline_](const boost::system::error_code& ec) {
        if (ec || !deadline->armed) return;  // the read is over (and `this` may be gone)
        deadline->expired = true;
        boost::system::error_code ignored;
        stream_.socket().cancel(ignored);
        wait(std::chrono::milliseconds(50));
    });
}

asio::awaitable<boost::system::error_code> UploadBody::read(std::string& piece, bool& done) {
    piece.clear();
    done = parser_.is_done();
    if (done) co_return boost::system::error_code{};
    piece.resize(kPieceBytes);
    parser_.get().body().data = piece.data();
    parser_.get().body().size = piece.size();
    deadline_->armed = true;
    deadline_->expired = false;
    wait(timeout_);
    auto [ec, n] = co_await http::async_read_some(stream_, buffer_, parser_, asio::as_tuple(asio::use_awaitable));
    deadline_->armed = false;
    timer_.cancel();
    if (ec == http::error::need_buffer) ec = {};  // the piece is full
    if (ec == asio::error::operation_aborted && deadline_->expired) ec = asio::error::timed_out;
    piece.resize(kPieceBytes - parser_.get().body().size);
    parser_.get().body().data = nullptr;
    done = !ec && parser_.is_done();
    co_return ec;
}

}  // namespace jaild::gateway
