// The frame decoder: the bytes a peer sends over jaild's socket, read with framing::read_frame (as jaild,
// jailctl and the gateway do) and decoded; then what each side does next with a message that decoded.
//
// Input: byte 0 chooses the direction (bit 0: ClientMessage to jaild, or ServerMessage to the gateway), how
// many bytes each read returns (bits 1-3) and the reader's maximum frame size (bits 4-7); the rest is the
// byte stream, read frame after frame until an error or its end.
//
// Invariants:
// - read_frame agrees with a separate model of the format (payload, eof, truncated, too_large) byte for byte,
//   however the stream is split into reads;
// - a decoded message re-encodes to a frame that decodes to the same message;
// - jaild: a RunRequest or ExecuteRequest that validates gives a plan every later stage may trust (argv and
//   env without NUL, files and cwd inside the workspace, limits within the maxima);
// - gateway: whatever jaild answers becomes valid JSON (error bodies, results with the runner's result_json
//   spliced in verbatim, output lines, session and file listings), and output text is valid UTF-8; a file
//   name that is not UTF-8 is listed exactly in path_base64.
#include <google/protobuf/stubs/logging.h>

#include <algorithm>
#include <boost/asio/buffer.hpp>
#include <boost/asio/error.hpp>
#include <boost/json/serialize.hpp>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "fuzz_common.h"
#include "gateway/request_parsing.h"
#include "gateway/result_rendering.h"
#include "gateway/session_codec.h"
#include "gateway/text_encoding.h"
#include "jaild.pb.h"
#include "jaild/languages.h"

using namespace jaild;
namespace json = boost::json;

namespace {

// An Asio SyncReadStream over the input that returns at most `chunk` bytes per read.
struct InputStream {
    const std::uint8_t* data;
    std::size_t size;
    std::size_t chunk;
    std::size_t pos = 0;

    template <class Buffers>
    std::size_t read_some(const Buffers& buffers, boost::system::error_code& ec) {
        ec = {};
        if (pos == size) {
            ec = boost::asio::error::eof;
            return 0;
        }
        const std::size_t n =
            boost::asio::buffer_copy(buffers, boost::asio::buffer(data + pos, std::min(chunk, size - pos)));
        pos += n;
        return n;
    }
    template <class Buffers>
    std::size_t read_some(const Buffers& buffers) {
        boost::system::error_code ec;
        const std::size_t n = read_some(buffers, ec);
        if (ec) throw boost::system::system_error(ec);
        return n;
    }
};

struct Expected {
    std::error_code ec;
    std::string payload;
};

// The format as docs/protocol.md states it, independently of framing.h.
Expected model_read(const std::uint8_t* data, std::size_t size, std::size_t& pos, std::size_t max_bytes) {
    const std::size_t left = size - pos;
    if (left == 0) return {boost::system::error_code(boost::asio::error::eof), {}};
    if (left < 4) return {framing::make_error_code(framing::errc::truncated), {}};
    const std::uint64_t length = (std::uint64_t{data[pos]} << 24) | (std::uint64_t{data[pos + 1]} << 16) |
                                 (std::uint64_t{data[pos + 2]} << 8) | data[pos + 3];
    if (length > max_bytes) return {framing::make_error_code(framing::errc::too_large), {}};
    if (left - 4 < length) return {framing::make_error_code(framing::errc::truncated), {}};
    Expected out{{}, std::string(reinterpret_cast<const char*>(data + pos + 4), length)};
    pos += 4 + length;
    return out;
}

struct World {
    Config config;
    LanguageRegistry registry;
};

const World& world() {
    static const World w = [] {
        google::protobuf::SetLogHandler(nullptr);  // invalid UTF-8 in a string field is logged on every parse
        World out;
        out.registry = LanguageRegistry(load_languages(JAILD_SOURCE_DIR "/languages"));
        return out;
    }();
    return w;
}

void check_client(const v1::ClientMessage& message) {
    const World& w = world();
    const LimitSet& defaults = w.config.limits_default;
    const LimitSet& maxima = w.config.limits_max;
    if (message.has_run()) {
        auto planned = make_run_plan(message.run(), defaults, maxima);
        if (auto* plan = std::get_if<RunPlan>(&planned)) {
            fuzz::check_plan(*plan, maxima);
            FUZZ_CHECK(plan->files.size() == static_cast<std::size_t>(message.run().files_size()));
        } else {
            FUZZ_CHECK(!std::get<PlanError>(planned).field.empty());
        }
    }
    if (message.has_execute()) {
        auto planned = make_execute_plan(message.execute(), w.registry, defaults, maxima);
        if (auto* plan = std::get_if<ExecutePlan>(&planned)) {
            FUZZ_CHECK(plan->language != nullptr);
            fuzz::check_plan(plan->run, maxima);
            if (plan->compile) fuzz::check_plan(*plan->compile, maxima, true);
            // The code lands in the language's source file, which the run removes before a session keeps it.
            const std::vector<PlanFile>& files = plan->compile ? plan->compile->files : plan->run.files;
            FUZZ_CHECK(std::any_of(files.begin(), files.end(), [&](const PlanFile& f) {
                return f.path == plan->language->source && f.content == message.execute().code();
            }));
            FUZZ_CHECK(plan->run.transient_file == plan->language->source);
            if (plan->run.result_channel) FUZZ_CHECK(fuzz::parse_json_or_trap(plan->run.result_input).is_object());
        } else {
            FUZZ_CHECK(!std::get<PlanError>(planned).field.empty());
        }
    }
    // The session file routes' paths and the cwd route: jaild's validators only.
    for (const std::string* path :
         {&message.file_get().path(), &message.file_put().path(), &message.file_delete().path()}) {
        if (check_relative_path(*path).empty()) {
            FUZZ_CHECK(!path->empty() && path->front() != '/' && path->find('\0') == std::string::npos);
            FUZZ_CHECK(("/" + *path + "/").find("/../") == std::string::npos);
        }
    }
    if (message.has_session_set_cwd() && check_cwd_path(message.session_set_cwd().cwd()).empty())
        FUZZ_CHECK(message.session_set_cwd().cwd().front() == '/');
}

void check_server(const v1::ServerMessage& message) {
    using gateway::Encoding;
    using gateway::RequestKind;
    if (message.has_error()) {
        for (RequestKind kind :
             {RequestKind::run, RequestKind::execute, RequestKind::languages, RequestKind::session}) {
            const gateway::HttpError error = gateway::map_jaild_error(message.error(), kind);
            FUZZ_CHECK(error.status >= 400 && error.status <= 599);
            const boost::json::value body = fuzz::parse_json_or_trap(error.body);
            FUZZ_CHECK(body.is_object() && body.as_object().contains("error"));
        }
    }
    // tests/fuzz/crashes/fuzz_frame_decoder-unknown-exit-status: an Exit whose status is not one of the enum's
    // values (a newer jaild) once threw std::out_of_range from result_object's status_name.
    if (message.has_exit()) {
        for (bool script : {false, true}) {
            for (Encoding encoding : {Encoding::utf8, Encoding::base64}) {
                gateway::ParsedRequest request;
                request.kind = script ? RequestKind::execute : RequestKind::run;
                request.script = script;
                request.encoding = encoding;
                if (script) {
                    request.message.mutable_execute()->mutable_limits()->set_cpu_ms(message.exit().cpu_ms());
                } else {
                    request.message.mutable_run();
                }
                boost::json::object result =
                    gateway::result_object(message.exit(), message.exit().error(), message.exit().trace(), request);
                const std::string text = gateway::serialize_result(result, message.exit().result_json());
                const boost::json::value back = fuzz::parse_json_or_trap(text);
                FUZZ_CHECK(back.is_object() && back.as_object().contains("status"));
                // The runner's result appears as it parses on its own, or as null when it is not JSON.
                boost::system::error_code ec;
                const boost::json::value own = boost::json::parse(message.exit().result_json(), ec);
                FUZZ_CHECK(back.at("result") == (ec ? boost::json::value(nullptr) : own));
            }
        }
    }
    if (message.has_output()) {
        const std::string& data = message.output().data();
        const std::string text = gateway::encode_output(data, Encoding::utf8);
        FUZZ_CHECK(fuzz::valid_utf8(text));
        fuzz::parse_json_or_trap(gateway::output_line(message.output().stream(), text));
        fuzz::parse_json_or_trap(gateway::output_line(message.output().stream(), gateway::base64_encode(data)));
        const std::size_t n = gateway::complete_utf8_prefix(data);
        FUZZ_CHECK(n <= data.size() && data.size() - n < 4);
    }
    if (message.has_session()) fuzz::parse_json_or_trap(gateway::session_info_body(message.session()));
    if (message.has_sessions()) fuzz::parse_json_or_trap(gateway::session_list_body(message.sessions()));
    if (message.has_files()) {
        // Names are bytes: each is listed as valid UTF-8, and exactly (path_base64) when it is not UTF-8.
        const json::value listing = fuzz::parse_json_or_trap(gateway::file_list_body(message.files()));
        const json::array& files = listing.at("files").as_array();
        FUZZ_CHECK(files.size() == static_cast<std::size_t>(message.files().files_size()));
        for (int i = 0; i < message.files().files_size(); ++i) {
            const std::string& raw = message.files().files(i).path();
            const json::object& entry = files[std::size_t(i)].as_object();
            const json::value* exact = entry.if_contains("path_base64");
            FUZZ_CHECK(fuzz::valid_utf8(raw) ? entry.at("path").as_string() == raw && !exact
                                             : exact && fuzz::base64_decode(exact->as_string()) == raw);
        }
        FUZZ_CHECK(gateway::workspace_paths(message.files()).size() ==
                   static_cast<std::size_t>(message.files().files_size()));
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size < 1) return 0;
    world();
    const bool to_jaild = (data[0] & 1) == 0;
    const std::size_t chunk = std::size_t{1} << ((data[0] >> 1) & 7);  // 1 .. 128 bytes per read
    // jaild's default is 16 MiB; read_frame allocates the announced length first, so 1 MiB keeps it fast.
    static constexpr std::size_t kMaxima[] = {0, 1, 4, 16, 64, 256, 1024, 4096, 65536, 1 << 20};
    const std::size_t max_bytes = kMaxima[(data[0] >> 4) % std::size(kMaxima)];
    ++data, --size;

    InputStream stream{data, size, chunk};
    std::size_t model_pos = 0;
    for (int frames = 0; frames < 64; ++frames) {
        std::string payload;
        const std::error_code ec = framing::read_frame(stream, max_bytes, payload);
        const Expected expected = model_read(data, size, model_pos, max_bytes);
        FUZZ_CHECK(ec == expected.ec);
        if (ec) break;
        FUZZ_CHECK(payload == expected.payload && payload.size() <= max_bytes);
        FUZZ_CHECK(stream.pos == model_pos);

        if (to_jaild) {
            v1::ClientMessage message;
            if (!framing::decode(payload, message)) continue;
            fuzz::check_frame_round_trip(message);
            check_client(message);
        } else {
            v1::ServerMessage message;
            if (!framing::decode(payload, message)) continue;
            fuzz::check_frame_round_trip(message);
            check_server(message);
        }
    }
    return 0;
}
