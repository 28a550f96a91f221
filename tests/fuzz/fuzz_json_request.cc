// The gateway's JSON → protobuf mapping: one HTTP body given to every route's parser (POST /run, /execute,
// /sessions, /sessions/{id}/env and /cwd), and as a URL path segment to percent_decode.
//
// Invariants:
// - an accepted body maps field for field: what reaches jaild is what the JSON said (a separate reading of
//   the same JSON with Boost.JSON), nothing more, and every key of the body is a known field;
// - the mapped ClientMessage survives framing (encode, decode, same message);
// - jaild re-validates it: make_run_plan / make_execute_plan (with the shipped languages and the default
//   limits) either give a plan every later stage may trust or an error the gateway turns into a 400 whose
//   body is JSON naming the field; data the gateway accepted as an object is never refused as not one;
// - seed 002 (user_id) and seed 004 (script) requests keep their fixed shape (Python, the mode, the limits);
// - percent_decode never yields NUL and round-trips with percent-encoding; sanitize_utf8 yields valid
//   UTF-8, is the identity on valid UTF-8 and idempotent; base64_encode decodes back to its input;
// - as a URL parameter (decode_url_param) the text is accepted exactly when it decodes to UTF-8 without NUL,
//   and what is accepted survives framing in the messages URLs name; what is refused names the field.
#include <google/protobuf/stubs/logging.h>
#include <algorithm>
#include <cmath>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz_common.h"
#include "gateway/limits.h"
#include "gateway/precise_json.h"
#include "gateway/request_parsing.h"
#include "gateway/result_rendering.h"
#include "gateway/session_codec.h"
#include "gateway/text_encoding.h"
#include "jaild.pb.h"
#include "jaild/languages.h"

using namespace jaild;
namespace json = boost::json;
using gateway::ParsedRequest;
using gateway::RequestKind;

namespace {

struct World {
    Config config;
    LanguageRegistry registry;
    gateway::GatewayLimits limits;
};

const World& world() {
    static const World w = [] {
        google::protobuf::SetLogHandler(nullptr);
        World out;
        out.registry = LanguageRegistry(load_languages(JAILD_SOURCE_DIR "/languages"));
        return out;
    }();
    return w;
}

std::string as_string(const json::value& v) {
    FUZZ_CHECK(v.is_string());
    return std::string(v.get_string());
}

std::uint64_t as_uint(const json::value& v) {
    if (v.is_uint64()) return v.get_uint64();
    FUZZ_CHECK(v.is_int64() && v.get_int64() >= 0);
    return static_cast<std::uint64_t>(v.get_int64());
}

void check_strings(const google::protobuf::RepeatedPtrField<std::string>& got, const json::value& want) {
    FUZZ_CHECK(want.is_array() && want.get_array().size() == static_cast<std::size_t>(got.size()));
    for (int i = 0; i < got.size(); ++i) FUZZ_CHECK(got[i] == as_string(want.get_array()[std::size_t(i)]));
}

void check_map(const google::protobuf::Map<std::string, std::string>& got, const json::value& want) {
    FUZZ_CHECK(want.is_object() && want.get_object().size() == got.size());
    for (const auto& entry : want.get_object()) {
        auto it = got.find(std::string(entry.key()));
        FUZZ_CHECK(it != got.end() && it->second == as_string(entry.value()));
    }
}

// A limit given at the top level of /run or /execute (seed 003's vocabulary) or in /execute's "limits".
bool check_limit(const v1::Limits& limits, std::string_view key, const json::value& value) {
    std::uint64_t got = 0;
    if (key == "time") {
        got = limits.cpu_ms();
    } else if (key == "wall") {
        got = limits.wall_ms();
    } else if (key == "mem") {
        got = limits.memory_kb();
    } else if (key == "fsize") {
        got = limits.fsize_kb();
    } else if (key == "nofile") {
        got = limits.nofile();
    } else if (key == "nproc") {
        got = limits.nproc();
    } else if (key == "output") {
        got = limits.output_bytes();
    } else if (key == "tmp") {
        got = limits.tmp_kb();
    } else {
        return false;
    }
    FUZZ_CHECK(got == as_uint(value));
    return true;
}

void check_common(const ParsedRequest& request, std::string_view key, const json::value& value) {
    if (key == "stream") {
        FUZZ_CHECK(value.is_bool() && request.stream == value.get_bool());
    } else {
        FUZZ_CHECK(key == "encoding");
        const std::string name = as_string(value);
        FUZZ_CHECK(name == "base64" ? request.encoding == gateway::Encoding::base64
                                    : request.encoding == gateway::Encoding::utf8);
    }
}

void check_run_mapping(const ParsedRequest& request, const json::object& body) {
    const v1::RunRequest& run = request.message.run();
    FUZZ_CHECK(request.message.has_run() && run.argv_size() > 0);
    for (const auto& entry : body) {
        const std::string_view key = entry.key();
        const json::value& value = entry.value();
        if (key == "command") {
            check_strings(run.argv(), value);
        } else if (key == "env") {
            check_map(run.env(), value);
        } else if (key == "cwd") {
            FUZZ_CHECK(run.cwd() == as_string(value));
        } else if (key == "stdin") {
            FUZZ_CHECK(run.stdin() == as_string(value));
        } else if (!check_limit(run.limits(), key, value)) {
            check_common(request, key, value);
        }
    }
    FUZZ_CHECK(run.files_size() == 0 && run.session_id().empty() && !run.stdin_stream());
}

void check_execute_mapping(const ParsedRequest& request, const json::object& body, std::size_t max_script) {
    const v1::ExecuteRequest& execute = request.message.execute();
    FUZZ_CHECK(request.message.has_execute());
    for (const auto& entry : body) {
        const std::string_view key = entry.key();
        const json::value& value = entry.value();
        if (key == "language") {
            FUZZ_CHECK(execute.language() == as_string(value));
        } else if (key == "code") {
            FUZZ_CHECK(!request.script && execute.code() == as_string(value));
        } else if (key == "script") {
            FUZZ_CHECK(request.script && execute.code() == as_string(value));
        } else if (key == "stdin") {
            FUZZ_CHECK(execute.stdin() == as_string(value));
        } else if (key == "args") {
            check_strings(execute.args(), value);
        } else if (key == "env") {
            check_map(execute.env(), value);
        } else if (key == "files") {
            FUZZ_CHECK(value.is_object() && value.get_object().size() == std::size_t(execute.files_size()));
            for (const v1::File& file : execute.files()) {
                const json::value* content = value.get_object().if_contains(file.path());
                FUZZ_CHECK(content && file.content() == as_string(*content) && !file.executable());
            }
        } else if (key == "limits") {
            FUZZ_CHECK(value.is_object());
            for (const auto& limit : value.get_object())
                FUZZ_CHECK(check_limit(execute.limits(), limit.key(), limit.value()));
        } else if (!check_limit(execute.limits(), key, value)) {
            check_common(request, key, value);
        }
    }
    if (request.script) {  // seed 004
        FUZZ_CHECK(execute.language() == "python" && execute.mode() == v1::EXECUTE_MODE_MAIN);
        const auto characters = std::count_if(execute.code().begin(), execute.code().end(),
                                              [](char c) { return (static_cast<unsigned char>(c) & 0xC0) != 0x80; });
        FUZZ_CHECK(static_cast<std::size_t>(characters) <= max_script && gateway::has_top_level_main(execute.code()));
        FUZZ_CHECK(execute.limits().cpu_ms() > 0 && execute.limits().wall_ms() > 0);
    } else {
        FUZZ_CHECK(!execute.language().empty() && execute.mode() == v1::EXECUTE_MODE_PLAIN);
    }
    FUZZ_CHECK(execute.data_json().empty() && execute.session_id().empty());
}

// Equal, doubles to the bit: the gateway reads every number exactly (gateway/precise_json.h), and so does
// jaild's reader of data_json (Python's json).
bool same_data(const json::value& a, const json::value& b) {
    if (a.kind() != b.kind()) return false;
    if (a.is_object()) {
        const json::object &oa = a.get_object(), &ob = b.get_object();
        if (oa.size() != ob.size()) return false;
        for (const auto& entry : oa) {
            const json::value* other = ob.if_contains(entry.key());
            if (!other || !same_data(entry.value(), *other)) return false;
        }
        return true;
    }
    if (a.is_array()) {
        const json::array &aa = a.get_array(), &ab = b.get_array();
        if (aa.size() != ab.size()) return false;
        for (std::size_t i = 0; i < aa.size(); ++i)
            if (!same_data(aa[i], ab[i])) return false;
        return true;
    }
    return a == b;
}

// Seed 002: {"user_id", "code", "data"} on /run.
void check_user_run_mapping(const ParsedRequest& request, const json::object& body) {
    const v1::ExecuteRequest& execute = request.message.execute();
    FUZZ_CHECK(request.kind == RequestKind::execute && gateway::valid_user_id(request.user_id));
    FUZZ_CHECK(execute.language() == "python" && execute.mode() == v1::EXECUTE_MODE_RESULT_VARIABLE);
    FUZZ_CHECK(request.user_id == as_string(body.at("user_id")) && execute.code() == as_string(body.at("code")));
    if (const json::value* data = body.if_contains("data")) {
        // jaild parses data_json again: it must read back as the very object the gateway accepted.
        boost::system::error_code ec;
        const json::value back = gateway::parse_json(execute.data_json(), ec);
        FUZZ_CHECK(!ec);
        FUZZ_CHECK(back.is_object() && same_data(back, *data));
    } else {
        FUZZ_CHECK(execute.data_json().empty());
    }
    for (const auto& entry : body) {
        const std::string_view key = entry.key();
        if (key == "user_id" || key == "code" || key == "data") continue;
        if (!check_limit(execute.limits(), key, entry.value())) check_common(request, key, entry.value());
    }
}

// jaild's side of the same request, and the gateway's mapping of jaild's refusal.
void check_jaild_validates(const ParsedRequest& request) {
    const World& w = world();
    const LimitSet& defaults = w.config.limits_default;
    const LimitSet& maxima = w.config.limits_max;
    std::optional<PlanError> refused;
    if (request.message.has_run()) {
        auto planned = make_run_plan(request.message.run(), defaults, maxima);
        if (auto* plan = std::get_if<RunPlan>(&planned)) {
            fuzz::check_plan(*plan, maxima);
            FUZZ_CHECK(plan->argv.size() == std::size_t(request.message.run().argv_size()));
        } else {
            refused = std::get<PlanError>(planned);
        }
    } else {
        auto planned = make_execute_plan(request.message.execute(), w.registry, defaults, maxima);
        if (auto* plan = std::get_if<ExecutePlan>(&planned)) {
            fuzz::check_plan(plan->run, maxima);
            if (plan->compile) fuzz::check_plan(*plan->compile, maxima, true);
        } else {
            refused = std::get<PlanError>(planned);
            FUZZ_CHECK(!(refused->field == "data" && refused->message == "data must be a JSON object"));
        }
    }
    if (!refused) return;
    FUZZ_CHECK(!refused->field.empty());
    v1::Error error;
    error.set_code(v1::ERROR_CODE_INVALID_ARGUMENT);
    error.set_message(refused->message);
    error.set_field(refused->field);
    const gateway::HttpError http = gateway::map_jaild_error(error, request.kind);
    FUZZ_CHECK(http.status == 400);
    const json::value body = fuzz::parse_json_or_trap(http.body);
    FUZZ_CHECK(body.is_object() && body.at("error").is_string() && body.at("field").is_string());
}

void check_request(const gateway::ParseResult& result, const json::value* body, bool execute_route) {
    if (const auto* error = std::get_if<gateway::FieldError>(&result)) {
        FUZZ_CHECK(!error->message.empty());
        fuzz::parse_json_or_trap(gateway::error_body(error->message, error->field));
        return;
    }
    FUZZ_CHECK(body != nullptr && body->is_object());  // only a JSON object is ever accepted
    const ParsedRequest& request = std::get<ParsedRequest>(result);
    const json::object& object = body->get_object();
    if (!execute_route && object.contains("user_id")) {
        check_user_run_mapping(request, object);
    } else if (!execute_route) {
        FUZZ_CHECK(request.kind == RequestKind::run);
        check_run_mapping(request, object);
    } else {
        FUZZ_CHECK(request.kind == RequestKind::execute);
        check_execute_mapping(request, object, world().limits.script_chars);
    }
    fuzz::check_frame_round_trip(request.message);
    check_jaild_validates(request);
}

void check_sessions(std::string_view text, const json::value* body) {
    auto create = gateway::parse_session_create(text);
    if (auto* message = std::get_if<v1::SessionCreate>(&create)) {
        if (body) {
            FUZZ_CHECK(body->is_object());
            if (const json::value* env = body->get_object().if_contains("env")) check_map(message->env(), *env);
            if (const json::value* name = body->get_object().if_contains("name"))
                FUZZ_CHECK(message->name() == as_string(*name) && gateway::valid_user_id(message->name()));
        } else {
            FUZZ_CHECK(text.find_first_not_of(" \t\r\n") == std::string_view::npos);  // only an empty body
        }
        fuzz::check_frame_round_trip(*message);
    }
    auto env = gateway::parse_session_env(text);
    if (auto* message = std::get_if<v1::SessionSetEnv>(&env)) {
        FUZZ_CHECK(body && body->is_object());
        const json::object& object = body->at("env").as_object();
        FUZZ_CHECK(object.size() == message->set_size() + std::size_t(message->unset_size()));
        for (const std::string& key : message->unset())
            FUZZ_CHECK(object.at(key).is_null() && !message->set().contains(key));
        for (const auto& [key, value] : message->set()) FUZZ_CHECK(as_string(object.at(key)) == value);
        fuzz::check_frame_round_trip(*message);
    }
    auto cwd = gateway::parse_session_cwd(text);
    if (auto* message = std::get_if<v1::SessionSetCwd>(&cwd)) {
        FUZZ_CHECK(body && message->cwd() == as_string(body->at("cwd")));
        check_cwd_path(message->cwd());  // what jaild does with it next
        fuzz::check_frame_round_trip(*message);
    }
}

void check_text(std::string_view text) {
    if (auto decoded = gateway::percent_decode(text)) {
        FUZZ_CHECK(decoded->find('\0') == std::string::npos && decoded->size() <= text.size());
        if (text.find('%') == std::string_view::npos) FUZZ_CHECK(*decoded == text);
        std::string encoded;
        for (unsigned char c : *decoded) {
            static constexpr char hex[] = "0123456789ABCDEF";
            encoded += {'%', hex[c >> 4], hex[c & 15]};
        }
        FUZZ_CHECK(gateway::percent_decode(encoded) == decoded);
    }
    const std::string clean = gateway::sanitize_utf8(text);
    FUZZ_CHECK(fuzz::valid_utf8(clean) && gateway::sanitize_utf8(clean) == clean);
    if (fuzz::valid_utf8(text)) FUZZ_CHECK(clean == text);
    const std::size_t prefix = gateway::complete_utf8_prefix(text);
    FUZZ_CHECK(prefix <= text.size() && text.size() - prefix < 4);
    if (fuzz::valid_utf8(text)) FUZZ_CHECK(prefix == text.size());
    const std::string b64 = gateway::base64_encode(text);
    FUZZ_CHECK(b64.size() == (text.size() + 2) / 3 * 4);
    FUZZ_CHECK(fuzz::base64_decode(b64) == text);
}

// The text as a URL's {id} and {path}: accepted only as UTF-8 without NUL, which then crosses the socket in
// every message a URL names (protobuf refuses a string that is not UTF-8); refused naming the field.
void check_url_param(std::string_view text) {
    const auto decoded = gateway::decode_url_param(text, "path", "the file path");
    const auto plain = gateway::percent_decode(text);
    if (const auto* error = std::get_if<gateway::FieldError>(&decoded)) {
        FUZZ_CHECK(error->field == "path" && !error->message.empty());
        FUZZ_CHECK(!plain || !fuzz::valid_utf8(*plain));
        fuzz::parse_json_or_trap(gateway::error_body(error->message, error->field));
        return;
    }
    const std::string& value = std::get<std::string>(decoded);
    FUZZ_CHECK(plain == value && fuzz::valid_utf8(value) && value.find('\0') == std::string::npos);
    v1::ClientMessage message;
    message.mutable_file_put()->set_session_id(value);
    message.mutable_file_put()->set_path(value);
    fuzz::check_frame_round_trip(message);
    message.mutable_run()->set_session_id(value);
    fuzz::check_frame_round_trip(message);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const World& w = world();
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    boost::system::error_code ec;
    // The separate reading of the body checks the mapping field for field; it reads numbers as the gateway
    // does (exactly), which tests/unit/test_gateway_codec.cc checks against strtod.
    const json::value parsed = gateway::parse_json(text, ec);
    const json::value* body = ec ? nullptr : &parsed;

    check_request(gateway::parse_run(text), body, false);
    check_request(gateway::parse_execute(text, w.limits.script_chars), body, true);
    check_sessions(text, body);
    check_text(text);
    check_url_param(text);
    return 0;
}
