// Length-prefixed protobuf frames: the header layout, encode/decode, and read_frame over a real Unix
// socketpair (every way a peer can end or break a frame).
#include <algorithm>
#include <array>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/local/connect_pair.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/write.hpp>
#include <catch2/catch.hpp>
#include <cstdint>
#include <string>

#include "common/framing.h"
#include "jaild.pb.h"

namespace asio = boost::asio;
namespace framing = jaild::framing;
using Socket = asio::local::stream_protocol::socket;

namespace {

// Two connected ends of a Unix stream socket: tests write raw bytes on `writer` and read frames on `reader`.
struct SocketPair {
    asio::io_context io;
    Socket reader{io};
    Socket writer{io};
    SocketPair() { asio::local::connect_pair(reader, writer); }

    void send(const std::string& bytes) { asio::write(writer, asio::buffer(bytes)); }
    void send_header(std::uint32_t length) {
        const auto header = framing::encode_header(length);
        asio::write(writer, asio::buffer(header));
    }
    // The peer goes away: the reader sees EOF once it has read what was sent.
    void close_writer() { writer.close(); }
};

jaild::v1::ClientMessage sample_run_request() {
    jaild::v1::ClientMessage message;
    message.set_request_id("req-42");
    message.set_principal("alice");
    auto* run = message.mutable_run();
    run->add_argv("/usr/bin/python3");
    run->add_argv("-c");
    run->add_argv("print('hi')");
    (*run->mutable_env())["LANG"] = "C.UTF-8";
    run->set_cwd("/workspace");
    run->mutable_limits()->set_cpu_ms(1500);
    run->mutable_limits()->set_memory_kb(65536);
    run->set_stdin(std::string("in\0put", 6));
    auto* file = run->add_files();
    file->set_path("src/main.py");
    file->set_content("print(1)\n");
    file->set_executable(true);
    return message;
}

}  // namespace

TEST_CASE("encode then decode gives back the same ClientMessage", "[unit][framing]") {
    const auto original = sample_run_request();
    const std::string frame = framing::encode(original);
    REQUIRE(frame.size() == framing::header_bytes + original.ByteSizeLong());

    std::array<unsigned char, framing::header_bytes> header{};
    std::copy_n(frame.begin(), framing::header_bytes, header.begin());
    REQUIRE(framing::decode_header(header) == original.ByteSizeLong());

    jaild::v1::ClientMessage decoded;
    REQUIRE(framing::decode(frame.substr(framing::header_bytes), decoded));
    CHECK(decoded.request_id() == "req-42");
    CHECK(decoded.principal() == "alice");
    REQUIRE(decoded.has_run());
    CHECK(decoded.run().argv_size() == 3);
    CHECK(decoded.run().argv(2) == "print('hi')");
    CHECK(decoded.run().env().at("LANG") == "C.UTF-8");
    CHECK(decoded.run().limits().cpu_ms() == 1500);
    CHECK(decoded.run().limits().memory_kb() == 65536);
    CHECK(decoded.run().stdin() == std::string("in\0put", 6));
    REQUIRE(decoded.run().files_size() == 1);
    CHECK(decoded.run().files(0).executable());
    CHECK(decoded.SerializeAsString() == original.SerializeAsString());
}

TEST_CASE("the frame header is the payload length, big-endian", "[unit][framing]") {
    using Header = std::array<unsigned char, framing::header_bytes>;
    CHECK(framing::encode_header(0x01020304) == Header{0x01, 0x02, 0x03, 0x04});
    CHECK(framing::encode_header(0) == Header{0, 0, 0, 0});
    CHECK(framing::encode_header(300) == Header{0, 0, 0x01, 0x2c});
    CHECK(framing::encode_header(0xffffffff) == Header{0xff, 0xff, 0xff, 0xff});
    CHECK(framing::decode_header(Header{0x01, 0x02, 0x03, 0x04}) == 0x01020304u);
    CHECK(framing::decode_header(Header{0x80, 0, 0, 0x01}) == 0x80000001u);
    for (std::uint32_t n : {0u, 1u, 255u, 256u, 65535u, 65536u, 0x00abcdefu, 0xfffffffeu})
        CHECK(framing::decode_header(framing::encode_header(n)) == n);

    // A payload longer than 255 bytes exercises more than the low byte of a real frame.
    jaild::v1::ClientMessage message;
    message.mutable_run()->set_stdin(std::string(1000, 'x'));
    const std::string frame = framing::encode(message);
    const std::size_t size = message.ByteSizeLong();
    REQUIRE(size > 255);
    CHECK(static_cast<unsigned char>(frame[0]) == ((size >> 24) & 0xff));
    CHECK(static_cast<unsigned char>(frame[1]) == ((size >> 16) & 0xff));
    CHECK(static_cast<unsigned char>(frame[2]) == ((size >> 8) & 0xff));
    CHECK(static_cast<unsigned char>(frame[3]) == (size & 0xff));
}

TEST_CASE("an empty message encodes as a bare zero header", "[unit][framing]") {
    const jaild::v1::ClientMessage empty;
    CHECK(framing::encode(empty) == std::string(4, '\0'));
    jaild::v1::ClientMessage decoded;
    CHECK(framing::decode("", decoded));
    CHECK(decoded.kind_case() == jaild::v1::ClientMessage::KIND_NOT_SET);
}

TEST_CASE("decode refuses bytes that are not a message", "[unit][framing]") {
    jaild::v1::ClientMessage message;
    // Field 1 (request_id), length-delimited, announcing far more bytes than follow.
    CHECK_FALSE(framing::decode(std::string("\x0a\xff\xff\xff\x0f"
                                            "abc",
                                            8),
                                message));
    // Wire types 6 and 7 do not exist.
    CHECK_FALSE(framing::decode(std::string("\x0f\x01\x02", 3), message));
    CHECK_FALSE(framing::decode(std::string("\x0e", 1), message));
    // A varint that never ends.
    CHECK_FALSE(framing::decode(std::string("\x08\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff", 12), message));
    // Field number 0 is invalid.
    CHECK_FALSE(framing::decode(std::string("\x00\x01", 2), message));
    // A valid frame's payload cut short by one byte.
    const std::string frame = framing::encode(sample_run_request());
    CHECK_FALSE(
        framing::decode(frame.substr(framing::header_bytes, frame.size() - framing::header_bytes - 1), message));
}

TEST_CASE("framing errors have their own category and messages", "[unit][framing]") {
    const std::error_code too_large = framing::errc::too_large;
    CHECK(too_large.category() == framing::category());
    CHECK(std::string(framing::category().name()) == "jaild.framing");
    CHECK(too_large == framing::errc::too_large);
    CHECK(too_large != framing::errc::truncated);
    CHECK_FALSE(framing::is_eof(too_large));
    for (auto e : {framing::errc::too_large, framing::errc::truncated, framing::errc::malformed}) {
        const std::string text = framing::make_error_code(e).message();
        CHECK_FALSE(text.empty());
        CHECK(text != "unknown framing error");
    }
}

TEST_CASE("read_frame reads one good frame", "[unit][framing]") {
    SocketPair pair;
    const auto original = sample_run_request();
    REQUIRE_FALSE(framing::write_frame(pair.writer, original));

    std::string payload = "stale";
    REQUIRE_FALSE(framing::read_frame(pair.reader, 1 << 20, payload));
    jaild::v1::ClientMessage decoded;
    REQUIRE(framing::decode(payload, decoded));
    CHECK(decoded.SerializeAsString() == original.SerializeAsString());
}

TEST_CASE("read_frame reads two frames sent back to back, then EOF", "[unit][framing]") {
    SocketPair pair;
    jaild::v1::ClientMessage first = sample_run_request();
    jaild::v1::ClientMessage second;
    second.set_request_id("second");
    second.mutable_cancel();
    // One write carrying both frames: the reader must not read past the first one's payload.
    pair.send(framing::encode(first) + framing::encode(second));
    pair.close_writer();

    std::string payload;
    jaild::v1::ClientMessage decoded;
    REQUIRE_FALSE(framing::read_frame(pair.reader, 1 << 20, payload));
    REQUIRE(framing::decode(payload, decoded));
    CHECK(decoded.request_id() == "req-42");
    CHECK(decoded.has_run());

    REQUIRE_FALSE(framing::read_frame(pair.reader, 1 << 20, payload));
    REQUIRE(framing::decode(payload, decoded));
    CHECK(decoded.request_id() == "second");
    CHECK(decoded.has_cancel());

    // The peer closed between frames: plain EOF, not a truncated frame.
    const std::error_code ec = framing::read_frame(pair.reader, 1 << 20, payload);
    CHECK(framing::is_eof(ec));
    CHECK(ec != framing::errc::truncated);
}

TEST_CASE("read_frame refuses a frame above the maximum without reading its payload", "[unit][framing]") {
    SocketPair pair;
    const std::size_t max = 100;
    pair.send_header(max + 1);
    pair.send(std::string(max + 1, 'p'));

    std::string payload;
    const std::error_code ec = framing::read_frame(pair.reader, max, payload);
    CHECK(ec == framing::errc::too_large);
    CHECK(payload.size() <= max);  // no buffer was sized from the untrusted header
    // The payload is still in the socket: read_frame stopped after the 4 header bytes.
    CHECK(pair.reader.available() == max + 1);
}

TEST_CASE("read_frame accepts a frame of exactly the maximum", "[unit][framing]") {
    SocketPair pair;
    pair.send_header(64);
    pair.send(std::string(64, 'q'));
    std::string payload;
    REQUIRE_FALSE(framing::read_frame(pair.reader, 64, payload));
    CHECK(payload == std::string(64, 'q'));
}

TEST_CASE("read_frame reports EOF before any byte as plain EOF", "[unit][framing]") {
    SocketPair pair;
    pair.close_writer();
    std::string payload;
    const std::error_code ec = framing::read_frame(pair.reader, 1024, payload);
    CHECK(ec);
    CHECK(framing::is_eof(ec));
}

TEST_CASE("read_frame reports EOF inside the header as truncated", "[unit][framing]") {
    SocketPair pair;
    pair.send(std::string("\x00\x00", 2));
    pair.close_writer();
    std::string payload;
    const std::error_code ec = framing::read_frame(pair.reader, 1024, payload);
    CHECK(ec == framing::errc::truncated);
    CHECK_FALSE(framing::is_eof(ec));
}

TEST_CASE("read_frame reports EOF inside the payload as truncated", "[unit][framing]") {
    SocketPair pair;
    pair.send_header(10);
    pair.send("12345");
    pair.close_writer();
    std::string payload;
    const std::error_code ec = framing::read_frame(pair.reader, 1024, payload);
    CHECK(ec == framing::errc::truncated);
    CHECK_FALSE(framing::is_eof(ec));
}

TEST_CASE("read_frame reports EOF right after the header as truncated", "[unit][framing]") {
    SocketPair pair;
    pair.send_header(3);
    pair.close_writer();
    std::string payload;
    CHECK(framing::read_frame(pair.reader, 1024, payload) == framing::errc::truncated);
}

TEST_CASE("read_frame reads a zero-length frame as an empty payload", "[unit][framing]") {
    SocketPair pair;
    pair.send_header(0);
    jaild::v1::ClientMessage next;
    next.set_request_id("after-empty");
    REQUIRE_FALSE(framing::write_frame(pair.writer, next));

    std::string payload = "stale";
    REQUIRE_FALSE(framing::read_frame(pair.reader, 1024, payload));
    CHECK(payload.empty());
    // The stream stays in step: the next frame is read whole.
    REQUIRE_FALSE(framing::read_frame(pair.reader, 1024, payload));
    jaild::v1::ClientMessage decoded;
    REQUIRE(framing::decode(payload, decoded));
    CHECK(decoded.request_id() == "after-empty");
}

TEST_CASE("async_read_frame gives the same results as read_frame", "[unit][framing]") {
    SocketPair pair;
    jaild::v1::ClientMessage message;
    message.set_request_id("async");
    pair.send(framing::encode(message));
    pair.send_header(1000);  // second frame: above the maximum below
    pair.close_writer();

    std::string first, second;
    std::error_code first_ec = framing::errc::malformed, second_ec;
    asio::co_spawn(
        pair.io,
        [&]() -> asio::awaitable<void> {
            first_ec = co_await framing::async_read_frame(pair.reader, 100, first);
            second_ec = co_await framing::async_read_frame(pair.reader, 100, second);
        },
        asio::detached);
    pair.io.run();

    CHECK_FALSE(first_ec);
    jaild::v1::ClientMessage decoded;
    REQUIRE(framing::decode(first, decoded));
    CHECK(decoded.request_id() == "async");
    CHECK(second_ec == framing::errc::too_large);
}

TEST_CASE("async_read_frame tells EOF between frames from EOF inside one", "[unit][framing]") {
    std::error_code ec;
    std::string payload;
    auto read_one = [&](SocketPair& pair) {
        asio::co_spawn(
            pair.io,
            [&]() -> asio::awaitable<void> { ec = co_await framing::async_read_frame(pair.reader, 100, payload); },
            asio::detached);
        pair.io.run();
    };
    {
        SocketPair pair;
        pair.close_writer();
        read_one(pair);
        CHECK(framing::is_eof(ec));
    }
    {
        SocketPair pair;
        pair.send_header(8);
        pair.send("abc");
        pair.close_writer();
        read_one(pair);
        CHECK(ec == framing::errc::truncated);
    }
}
