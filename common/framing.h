// Length-prefixed protobuf frames: a 4-byte big-endian length, then one serialized message. Used by jaild,
// jailctl and the gateway, on any Asio stream (async with coroutines, or blocking).
#pragma once

#include <google/protobuf/message_lite.h>

#include <array>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <cstdint>
#include <string>
#include <system_error>

namespace jaild::framing {

inline constexpr std::size_t header_bytes = 4;

enum class errc {
    too_large = 1,  // the header announces more than the reader's maximum
    truncated,      // the peer closed in the middle of a frame
    malformed,      // the payload is not a valid message of the expected type
};
const std::error_category& category() noexcept;
inline std::error_code make_error_code(errc e) noexcept { return {static_cast<int>(e), category()}; }

// Header + payload, ready to write.
std::string encode(const google::protobuf::MessageLite& message);
std::array<unsigned char, header_bytes> encode_header(std::uint32_t length) noexcept;
std::uint32_t decode_header(const std::array<unsigned char, header_bytes>& header) noexcept;
// Parses a payload; false when it is not a valid message.
bool decode(const std::string& payload, google::protobuf::MessageLite& message);

// Maps the stream's errors: EOF before any byte of the header stays boost::asio::error::eof (the peer closed
// between frames, which is normal); EOF after is errc::truncated.
inline std::error_code classify_read_error(boost::system::error_code ec, bool started) {
    if (ec == boost::asio::error::eof && started) return make_error_code(errc::truncated);
    return ec;
}

// boost's EOF, seen through std::error_code (framing returns std::error_code everywhere).
inline bool is_eof(const std::error_code& ec) {
    return ec == std::error_code(boost::system::error_code(boost::asio::error::eof));
}

// Reads one frame's payload into `out`. A header above `max_bytes` gives errc::too_large without reading
// the payload (the connection is then unusable and should be closed after an Error).
template <class Stream>
boost::asio::awaitable<std::error_code> async_read_frame(Stream& stream, std::size_t max_bytes, std::string& out) {
    namespace asio = boost::asio;
    std::array<unsigned char, header_bytes> header{};
    auto [ec, n] = co_await asio::async_read(stream, asio::buffer(header), asio::as_tuple(asio::use_awaitable));
    if (ec) co_return classify_read_error(ec, n > 0);
    const std::uint32_t length = decode_header(header);
    if (length > max_bytes) co_return make_error_code(errc::too_large);
    out.resize(length);
    auto [ec2, m] = co_await asio::async_read(stream, asio::buffer(out), asio::as_tuple(asio::use_awaitable));
    if (ec2) co_return classify_read_error(ec2, true);
    co_return std::error_code{};
}

template <class Stream>
std::error_code read_frame(Stream& stream, std::size_t max_bytes, std::string& out) {
    namespace asio = boost::asio;
    std::array<unsigned char, header_bytes> header{};
    boost::system::error_code ec;
    std::size_t n = asio::read(stream, asio::buffer(header), ec);
    if (ec) return classify_read_error(ec, n > 0);
    const std::uint32_t length = decode_header(header);
    if (length > max_bytes) return make_error_code(errc::too_large);
    out.resize(length);
    asio::read(stream, asio::buffer(out), ec);
    if (ec) return classify_read_error(ec, true);
    return {};
}

template <class Stream>
std::error_code write_frame(Stream& stream, const google::protobuf::MessageLite& message) {
    boost::system::error_code ec;
    boost::asio::write(stream, boost::asio::buffer(encode(message)), ec);
    return ec;
}

}  // namespace jaild::framing

template <>
struct std::is_error_code_enum<jaild::framing::errc> : std::true_type {};
