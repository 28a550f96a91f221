// gateway/e2b: the Connect protocol's envelopes and error codes, envd's process events and EntryInfo, and the
// protojson reading of requests, as the pinned E2B SDKs (e2b 2.51.0, connect-web 2.3.0) send and read them
// (docs/e2b.md). Pure; no sockets.
#include <sys/stat.h>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <catch2/catch.hpp>
#include <string>

#include "gateway/e2b/connect_codes.h"
#include "gateway/e2b/connect_envelope.h"
#include "gateway/e2b/entry_info.h"
#include "gateway/e2b/process_events.h"
#include "gateway/e2b/protojson.h"

namespace json = boost::json;
using namespace jaild::gateway::e2b;

namespace {

std::string header(std::uint8_t flags, std::uint32_t length) {
    std::string out(1, static_cast<char>(flags));
    for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<char>((length >> shift) & 0xff));
    return out;
}

EnvelopeError error_of(const std::variant<std::string, EnvelopeError>& parsed) {
    REQUIRE(std::holds_alternative<EnvelopeError>(parsed));
    return std::get<EnvelopeError>(parsed);
}

json::value parsed_event(const std::string& text) { return json::parse(text).at("event"); }

}  // namespace

TEST_CASE("e2b connect: the SDK's Start request body is one envelope", "[unit][e2b]") {
    // As captured from e2b 2.51.0's commands.run('echo hi').
    const std::string message = R"({"process":{"cmd":"/bin/bash","args":["-l","-c","echo hi"]},"stdin":false})";
    const std::string body = header(0, static_cast<std::uint32_t>(message.size())) + message;
    REQUIRE(body.size() == 5 + 74);
    const auto parsed = parse_stream_request(body, 1 << 20);
    REQUIRE(std::holds_alternative<std::string>(parsed));
    CHECK(std::get<std::string>(parsed) == message);
    CHECK(encode_message(message) == body);
}

TEST_CASE("e2b connect: malformed request envelopes are refused, naming the problem", "[unit][e2b]") {
    const std::string message = "{}";
    CHECK(error_of(parse_stream_request("", 100)) == EnvelopeError::no_message);
    CHECK(error_of(parse_stream_request(header(0, 2).substr(0, 3), 100)) == EnvelopeError::truncated);
    CHECK(error_of(parse_stream_request(header(0, 3) + message, 100)) == EnvelopeError::truncated);
    CHECK(error_of(parse_stream_request(header(kFlagCompressed, 2) + message, 100)) == EnvelopeError::compressed);
    CHECK(error_of(parse_stream_request(header(kFlagEndStream, 2) + message, 100)) == EnvelopeError::unexpected_flags);
    CHECK(error_of(parse_stream_request(header(0x80, 2) + message, 100)) == EnvelopeError::unexpected_flags);
    CHECK(error_of(parse_stream_request(header(0, 2) + message + header(0, 2) + message, 100)) ==
          EnvelopeError::extra_message);
    CHECK(error_of(parse_stream_request(header(0, 2) + message + "x", 100)) == EnvelopeError::extra_message);
    // Oversize is known from the header alone: the message's bytes need not have come.
    CHECK(error_of(parse_stream_request(header(0, 101), 100)) == EnvelopeError::too_large);
    CHECK(error_of(parse_stream_request(header(0, 0xffffffff), 100)) == EnvelopeError::too_large);
    CHECK(std::holds_alternative<std::string>(parse_stream_request(header(0, 100) + std::string(100, ' '), 100)));
    CHECK(describe(EnvelopeError::too_large, 100) == "a Connect message is larger than 100 bytes");
    CHECK(describe(EnvelopeError::compressed, 100).find("compressed") != std::string::npos);
}

TEST_CASE("e2b connect: the decoder reads envelopes however the bytes are split", "[unit][e2b]") {
    const std::string stream = encode_message(R"({"a":1})") + encode_message("") + encode_end_stream();
    for (std::size_t piece = 1; piece <= stream.size(); ++piece) {
        EnvelopeDecoder decoder(64);
        std::vector<Envelope> got;
        for (std::size_t at = 0; at < stream.size(); at += piece) {
            decoder.push(std::string_view(stream).substr(at, piece));
            for (;;) {
                auto next = decoder.next();
                REQUIRE_FALSE(std::holds_alternative<EnvelopeError>(next));
                if (std::holds_alternative<std::monostate>(next)) break;
                got.push_back(std::get<Envelope>(std::move(next)));
            }
        }
        CHECK_FALSE(decoder.pending());
        REQUIRE(got.size() == 3);
        CHECK(got[0].flags == 0);
        CHECK(got[0].data == R"({"a":1})");
        CHECK(got[1].data.empty());
        CHECK(got[2].flags == kFlagEndStream);
        CHECK(got[2].data == "{}");
    }
    EnvelopeDecoder decoder(4);
    decoder.push(header(0, 5));
    CHECK(std::get<EnvelopeError>(decoder.next()) == EnvelopeError::too_large);
    decoder.push("12345");
    CHECK(std::get<EnvelopeError>(decoder.next()) == EnvelopeError::too_large);  // stays failed
}

TEST_CASE("e2b connect: the end of a stream, with and without an error", "[unit][e2b]") {
    CHECK(encode_end_stream() == header(kFlagEndStream, 2) + "{}");
    // What envd sends for a missing cwd, which the SDK turns into NotFoundError("[not_found] ...").
    const std::string end = encode_end_stream(ConnectError{ConnectCode::not_found, "cwd does not exist"});
    CHECK(static_cast<std::uint8_t>(end[0]) == kFlagEndStream);
    const std::string text = end.substr(kEnvelopeHeaderBytes);
    CHECK(end.substr(0, kEnvelopeHeaderBytes) == header(kFlagEndStream, static_cast<std::uint32_t>(text.size())));
    CHECK(json::parse(text) == json::parse(R"({"error":{"code":"not_found","message":"cwd does not exist"}})"));
    // A message that is not UTF-8 still makes JSON.
    const std::string bad = encode_end_stream(ConnectError{ConnectCode::internal, "\xff"});
    CHECK(json::parse(bad.substr(kEnvelopeHeaderBytes)).at("error").at("message") == "\xEF\xBF\xBD");
}

TEST_CASE("e2b connect: error codes, their names and HTTP statuses", "[unit][e2b]") {
    struct Row {
        ConnectCode code;
        const char* name;
        unsigned status;
    };
    const Row rows[] = {
        {ConnectCode::canceled, "canceled", 499},
        {ConnectCode::unknown, "unknown", 500},
        {ConnectCode::invalid_argument, "invalid_argument", 400},
        {ConnectCode::deadline_exceeded, "deadline_exceeded", 504},
        {ConnectCode::not_found, "not_found", 404},
        {ConnectCode::already_exists, "already_exists", 409},
        {ConnectCode::permission_denied, "permission_denied", 403},
        {ConnectCode::resource_exhausted, "resource_exhausted", 429},
        {ConnectCode::failed_precondition, "failed_precondition", 400},
        {ConnectCode::aborted, "aborted", 409},
        {ConnectCode::out_of_range, "out_of_range", 400},
        {ConnectCode::unimplemented, "unimplemented", 501},
        {ConnectCode::internal, "internal", 500},
        {ConnectCode::unavailable, "unavailable", 503},
        {ConnectCode::data_loss, "data_loss", 500},
        {ConnectCode::unauthenticated, "unauthenticated", 401},
    };
    for (const Row& row : rows) {
        CHECK(code_name(row.code) == row.name);
        CHECK(code_from_name(row.name) == row.code);
        CHECK(http_status(row.code) == row.status);
    }
    CHECK_FALSE(code_from_name("NOT_FOUND"));
    CHECK_FALSE(code_from_name("ok"));
    // connect-web's reading of a status without a Connect body: 404 would be "unimplemented".
    CHECK(code_from_http_status(404) == ConnectCode::unimplemented);
    CHECK(code_from_http_status(401) == ConnectCode::unauthenticated);
    CHECK(code_from_http_status(400) == ConnectCode::internal);
    CHECK(code_from_http_status(502) == ConnectCode::unavailable);
    CHECK(code_from_http_status(418) == ConnectCode::unknown);
    CHECK(json::parse(error_json({ConnectCode::not_found, "process with pid 999 not found"})) ==
          json::parse(R"({"code":"not_found","message":"process with pid 999 not found"})"));
}

TEST_CASE("e2b connect: process events as envd sends them", "[unit][e2b]") {
    CHECK(parsed_event(start_event(42)) == json::parse(R"({"start":{"pid":42}})"));
    CHECK(parsed_event(data_event(OutputStream::stdout_stream, "hi\n")) ==
          json::parse(R"({"data":{"stdout":"aGkK"}})"));
    CHECK(parsed_event(data_event(OutputStream::stderr_stream, std::string("\0\xff", 2))) ==
          json::parse(R"({"data":{"stderr":"AP8="}})"));
    CHECK(parsed_event(data_event(OutputStream::pty, "ls\r\n")) == json::parse(R"({"data":{"pty":"bHMNCg=="}})"));
    CHECK(parsed_event(keepalive_event()) == json::parse(R"({"keepalive":{}})"));
}

TEST_CASE("e2b connect: a process's end in Go's words", "[unit][e2b]") {
    CHECK(parsed_event(end_event({0, 0})) ==
          json::parse(R"({"end":{"exitCode":0,"exited":true,"status":"exit status 0"}})"));
    CHECK(parsed_event(end_event({3, 0})) ==
          json::parse(R"({"end":{"exitCode":3,"exited":true,"status":"exit status 3","error":"exit status 3"}})"));
    CHECK(parsed_event(end_event({0, 9})) ==
          json::parse(R"({"end":{"exitCode":-1,"exited":false,"status":"signal: killed","error":"signal: killed"}})"));
    CHECK(go_status({0, 15}) == "signal: terminated");
    CHECK(go_status({0, 2}) == "signal: interrupt");
    CHECK(go_status({0, 11}) == "signal: segmentation fault");
    CHECK(go_status({0, 31}) == "signal: bad system call");
    CHECK(go_status({0, 34}) == "signal: signal 34");
    CHECK(go_status({255, 0}) == "exit status 255");
}

TEST_CASE("e2b connect: EntryInfo with Go's file modes", "[unit][e2b]") {
    CHECK(go_file_mode(S_IFDIR | 0755) == 2147484141u);  // 0x80000000 | 0755, as captured
    CHECK(go_file_mode(S_IFREG | 0644) == 0644);
    CHECK(go_file_mode(S_IFLNK | 0777) == ((1u << 27) | 0777));
    CHECK(go_file_mode(S_IFREG | S_ISUID | 0755) == ((1u << 23) | 0755));
    CHECK(go_file_mode(S_IFDIR | S_ISVTX | 01777) == ((1u << 31) | (1u << 20) | 0777));
    CHECK(go_mode_string(go_file_mode(S_IFDIR | 0755)) == "drwxr-xr-x");
    CHECK(go_mode_string(go_file_mode(S_IFREG | 0644)) == "-rw-r--r--");
    CHECK(go_mode_string(go_file_mode(S_IFLNK | 0777)) == "Lrwxrwxrwx");
    CHECK(go_mode_string(go_file_mode(S_IFREG | S_ISUID | 0755)) == "urwxr-xr-x");
    CHECK(go_mode_string(go_file_mode(S_IFDIR | S_ISVTX | 01777)) == "dtrwxrwxrwx");
    CHECK(go_mode_string(go_file_mode(S_IFCHR | 0666)) == "Dcrw-rw-rw-");
    CHECK(go_mode_string(go_file_mode(S_IFIFO | 0600)) == "prw-------");
    CHECK(file_type(S_IFREG | 0644) == FileType::file);
    CHECK(file_type(S_IFIFO | 0644) == FileType::unspecified);

    CHECK(rfc3339_utc(0) == "1970-01-01T00:00:00Z");
    CHECK(rfc3339_utc(1'796'454'000'123'000'000) == "2026-12-05T07:00:00.123Z");
    CHECK(rfc3339_utc(1'796'454'000'000'100'000) == "2026-12-05T07:00:00.000100Z");
    CHECK(rfc3339_utc(1'796'454'000'000'000'001) == "2026-12-05T07:00:00.000000001Z");
    CHECK(rfc3339_utc(-1) == "1969-12-31T23:59:59.999999999Z");

    EntryInfo entry{"a.txt", "/home/user/a.txt", S_IFREG | 0644, 5, "user", "user", 1'796'454'000'123'000'000, {}};
    CHECK(entry_info_json(entry) == json::parse(R"({"name":"a.txt","type":"FILE_TYPE_FILE","path":"/home/user/a.txt",
        "size":"5","mode":420,"permissions":"-rw-r--r--","owner":"user","group":"user",
        "modifiedTime":"2026-12-05T07:00:00.123Z"})"));
    EntryInfo link{"l\xff", "/home/user/l\xff", S_IFLNK | 0777, 7, "user", "user", 0, "target"};
    const json::object linked = entry_info_json(link);
    CHECK(linked.at("type") == "FILE_TYPE_SYMLINK");
    CHECK(linked.at("name") == "l\xEF\xBF\xBD");
    CHECK(linked.at("symlinkTarget") == "target");
}

TEST_CASE("e2b connect: protojson fields under either name, bytes in either base64", "[unit][e2b]") {
    const json::object camel = json::parse(R"({"exitCode":3})").as_object();
    const json::object snake = json::parse(R"({"exit_code":4})").as_object();
    REQUIRE(find_field(camel, "exitCode", "exit_code"));
    CHECK(*find_field(camel, "exitCode", "exit_code") == 3);
    CHECK(*find_field(snake, "exitCode", "exit_code") == 4);
    CHECK_FALSE(find_field(snake, "pid", "pid"));

    CHECK(base64_decode("YWJj") == "abc");
    CHECK(base64_decode("bHMK") == "ls\n");
    CHECK(base64_decode("AP8=") == std::string("\0\xff", 2));
    CHECK(base64_decode("AP8") == std::string("\0\xff", 2));
    CHECK(base64_decode("_-8=") == std::string("\xff\xef", 2));
    CHECK(base64_decode("/+8") == std::string("\xff\xef", 2));
    CHECK(base64_decode("YQ==") == "a");
    CHECK(base64_decode("YQ") == "a");
    CHECK(base64_decode("") == "");
    CHECK_FALSE(base64_decode("Y"));
    CHECK_FALSE(base64_decode("YW J"));
    CHECK_FALSE(base64_decode("Y==="));
    CHECK_FALSE(base64_decode("YQ=a"));
}
