// The parts of live sessions that need no sandbox: a process's output log (order, per-stream bounds, what a
// late reader is told it missed), the agent's framing, a live session's meta.json, and the devpts mount a
// live sandbox gets (and other runs do not).
#include <catch2/catch.hpp>
#include <string>

#include "jaild/live/agent_frames.h"
#include "jaild/live/live_messages.h"
#include "jaild/live/output_log.h"
#include "jaild/sandbox/rootfs.h"
#include "jaild/sessions.h"

using namespace jaild;
using namespace jaild::live;

namespace {

std::string joined(const std::vector<OutputLog::Piece>& pieces, Stream stream) {
    std::string out;
    for (const auto& piece : pieces)
        if (piece.stream == stream) out += piece.data;
    return out;
}

std::uint64_t dropped(const std::vector<OutputLog::Piece>& pieces, Stream stream) {
    std::uint64_t total = 0;
    for (const auto& piece : pieces)
        if (piece.stream == stream) total += piece.dropped;
    return total;
}

}  // namespace

TEST_CASE("OutputLog keeps both streams in the order they came, and a reader where it was", "[unit][live]") {
    OutputLog log(1024);
    log.append(Stream::stdout_, "one ");
    log.append(Stream::stderr_, "err ");
    log.append(Stream::stdout_, "two");
    OutputLog::Cursor from_start = log.start();
    const auto pieces = log.read(from_start);
    REQUIRE(pieces.size() == 3);
    CHECK(pieces[0].data == "one ");
    CHECK(pieces[1].stream == Stream::stderr_);
    CHECK(pieces[2].data == "two");
    CHECK(dropped(pieces, Stream::stdout_) == 0);
    CHECK(log.read(from_start).empty());  // nothing new

    OutputLog::Cursor live = log.end();
    log.append(Stream::stdout_, "three");
    CHECK(joined(log.read(live), Stream::stdout_) == "three");
    CHECK(joined(log.read(from_start), Stream::stdout_) == "three");
    log.append(Stream::stdout_, "");  // nothing to keep
    CHECK(log.read(live).empty());
}

TEST_CASE("OutputLog bounds each stream apart and tells a reader how many bytes it missed", "[unit][live]") {
    constexpr std::size_t chunk = 4 + OutputLog::chunk_overhead;  // what a 4-byte chunk costs of the bound
    OutputLog log(2 * chunk);
    log.append(Stream::stderr_, "E");
    for (int i = 0; i < 5; ++i) log.append(Stream::stdout_, "abcd");  // 5 chunks into room for 2
    OutputLog::Cursor cursor = log.start();
    const auto pieces = log.read(cursor);
    CHECK(joined(pieces, Stream::stdout_) == "abcdabcd");
    CHECK(dropped(pieces, Stream::stdout_) == 12);
    CHECK(joined(pieces, Stream::stderr_) == "E");  // the other stream's bytes are not pushed out
    CHECK(log.total(Stream::stdout_) == 20);

    // A chunk larger than the bound keeps its tail; a reader that had seen everything misses its head.
    OutputLog::Cursor caught_up = log.end();
    log.append(Stream::stdout_, std::string(100, 'x') + "TAIL");
    const auto late = log.read(caught_up);
    const std::size_t room = 2 * chunk - OutputLog::chunk_overhead;
    CHECK(joined(late, Stream::stdout_) == std::string(room - 4, 'x') + "TAIL");
    CHECK(dropped(late, Stream::stdout_) == 104 - room);

    // A reader that fell behind every kept chunk of a stream is told at the end.
    OutputLog small(chunk);
    OutputLog::Cursor slow = small.start();
    small.append(Stream::stdout_, "1234");
    small.append(Stream::stdout_, "5678");
    const auto behind = small.read(slow);
    CHECK(joined(behind, Stream::stdout_) == "5678");
    CHECK(dropped(behind, Stream::stdout_) == 4);

    // A byte at a time costs the bound its overhead too: the log keeps few chunks, not a million.
    OutputLog bytes(1024);
    for (int i = 0; i < 100000; ++i) bytes.append(Stream::stdout_, "z");
    OutputLog::Cursor all = bytes.start();
    CHECK(joined(bytes.read(all), Stream::stdout_).size() <= 1024 / OutputLog::chunk_overhead);
}

TEST_CASE("agent frames: length, type, id and payload, and refused lengths", "[unit][live]") {
    const std::string frame = encode_frame(FrameType::stdin_data, 0x01020304, "hello");
    REQUIRE(frame.size() == header_bytes + 5);
    CHECK(frame.substr(0, 4) == std::string("\0\0\0\x0a", 4));
    CHECK(static_cast<unsigned char>(frame[4]) == 0x02);
    CHECK(read_u32(frame.substr(5)) == 0x01020304);
    CHECK(frame.substr(header_bytes) == "hello");
    CHECK(payload_length(frame) == 5u);
    CHECK(payload_length(encode_frame(FrameType::ready, 0, "")) == 0u);
    CHECK_FALSE(payload_length(std::string("\0\0\0\x04xxxxx", 9)));  // shorter than type + id
    CHECK_FALSE(
        payload_length(std::string("\x7f\xff\xff\xff"
                                   "xxxxx",
                                   9)));  // past max_payload
    CHECK_FALSE(payload_length("short"));
}

TEST_CASE("a live session's meta.json keeps live, restarted and the deadline, an old one reads as not live",
          "[unit][live]") {
    SessionMeta meta;
    meta.id = std::string(32, 'a');
    meta.principal = "uid:0";
    meta.live = true;
    meta.restarted = true;
    meta.deadline_ms = 1234567;
    SessionMeta back;
    REQUIRE(meta_from_json(meta_to_json(meta), back));
    CHECK(back.live);
    CHECK(back.restarted);
    CHECK(back.deadline_ms == 1234567);

    SessionMeta plain;
    plain.id = std::string(32, 'b');
    const std::string text = meta_to_json(plain);
    CHECK(text.find("live") == std::string::npos);  // files written before live sessions are unchanged
    SessionMeta read;
    REQUIRE(meta_from_json(text, read));
    CHECK_FALSE(read.live);
    CHECK(read.deadline_ms == 0);
}

TEST_CASE("only a live sandbox mounts a devpts instance of its own", "[unit][live]") {
    SandboxConfig config;
    config.run_dir = "/tmp/jaild-unit-live";
    Rootfs rootfs(config, {}, "");
    const auto count_devpts = [](const MountList& list) {
        int n = 0;
        for (const auto& op : list.ops())
            if (op.kind == mounts::Op::Kind::devpts) {
                ++n;
                CHECK(std::string(op.data).find("newinstance") != std::string::npos);
                CHECK(std::string(op.data).find("ptmxmode=0666") != std::string::npos);
                CHECK(std::string(op.target).ends_with("/dev/pts"));
            }
        return n;
    };
    JobFilesystem job{61000, 61000, 1 << 20};
    CHECK(count_devpts(rootfs.for_job(job)) == 0);
    job.terminals = true;
    CHECK(count_devpts(rootfs.for_job(job)) == 1);
}

TEST_CASE("an interpreter's events become CellResult, CellError and CellEnd, anything else is skipped",
          "[unit][live]") {
    v1::ServerMessage result;
    CHECK(cell_message(R"({"type":"result","text":"2","html":"<b>2</b>","png":"iVBORw0KGgo=","is_main_result":true})",
                       result));
    REQUIRE(result.has_cell_result());
    CHECK(result.cell_result().text() == "2");
    CHECK(result.cell_result().html() == "<b>2</b>");
    CHECK(result.cell_result().png() == std::string("\x89PNG\r\n\x1a\n", 8));  // base64 decoded, padding cut
    CHECK(result.cell_result().is_main_result());

    v1::ServerMessage error;
    CHECK(cell_message(R"({"type":"error","name":"ZeroDivisionError","value":"division by zero","traceback":"T"})",
                       error));
    REQUIRE(error.has_cell_error());
    CHECK(error.cell_error().name() == "ZeroDivisionError");
    CHECK(error.cell_error().traceback() == "T");

    v1::ServerMessage end;
    CHECK_FALSE(cell_message(R"({"type":"end","execution_count":7})", end));
    CHECK(end.cell_end().execution_count() == 7);

    for (const char* junk : {"", "[1]", "{\"type\":\"weird\"}", "{\"type\":\"result\",\"png\":\"%%%\"}", "not json"}) {
        v1::ServerMessage out;
        INFO(junk);
        CHECK(cell_message(junk, out));
        if (out.has_cell_result())
            CHECK(out.cell_result().png().empty());  // bad base64 is dropped, not passed on
        else
            CHECK(out.kind_case() == v1::ServerMessage::KIND_NOT_SET);
    }
}
