#include "gateway/jaild_forwarding.h"

#include <boost/asio/this_coro.hpp>
#include <boost/json/serialize.hpp>
#include <optional>

#include "common/jaild_client.h"
#include "gateway/metrics.h"
#include "gateway/quota_admission.h"
#include "gateway/result_rendering.h"
#include "gateway/session_codec.h"
#include "gateway/text_encoding.h"

namespace jaild::gateway {

namespace asio = boost::asio;
namespace json = boost::json;

std::string Utf8Carry::take(std::string_view data, Encoding encoding) {
    if (encoding == Encoding::base64) return base64_encode(data);  // each line decodes on its own
    pending_.append(data);
    const std::size_t complete = complete_utf8_prefix(pending_);
    std::string out = sanitize_utf8(std::string_view(pending_).substr(0, complete));
    pending_.erase(0, complete);
    return out;
}

std::string Utf8Carry::flush(Encoding encoding) {
    std::string out = encoding == Encoding::base64 ? std::string() : sanitize_utf8(pending_);
    pending_.clear();
    return out;
}

// Every request says who asks, and with which quota: jaild keeps each principal's sessions apart and within
// that principal's limits.
void stamp(v1::ClientMessage& message, const Exchange& exchange) {
    message.set_request_id(exchange.request_id);
    message.set_principal(exchange.caller.principal);
    stamp_quota(message, caller_limits(exchange.options, exchange.caller));
}

namespace {

Response unreachable(const std::string& reason) {
    return json_response(503, error_body("jaild unreachable: " + reason), true);
}

// The socket's permissions keep the gateway out: its user is not in the socket's group.
bool refused(const std::error_code& ec) {
    return ec == std::errc::permission_denied || ec == std::errc::operation_not_permitted;
}

std::string refused_message(const std::string& reason) {
    return "jaild refused the gateway: " + reason +
           " (the gateway's user must be allowed on jaild's socket, see docs/deploy.md)";
}

// jaild could not be reached. A refusal is a deployment error that no retry mends: 502, as when jaild itself
// refuses the gateway's user, and no Retry-After. Anything else (no socket, jaild stopped) is 503 with
// Retry-After: jaild may be back in a moment.
Response connect_failed(const std::error_code& ec) {
    if (refused(ec)) return json_response(502, error_body(refused_message(ec.message())));
    return unreachable(ec.message());
}

// jaild may refuse a peer and close before it reads the request; its answer is still there to read.
bool may_receive(const std::error_code& send_ec) {
    return !send_ec || send_ec == std::errc::broken_pipe || send_ec == std::errc::connection_reset;
}

// Connects and sends the request; answers 503 itself and returns false when jaild cannot be reached.
asio::awaitable<bool> open_request(Exchange& exchange, JaildClient& client, v1::ClientMessage& message) {
    stamp(message, exchange);
    std::error_code ec = co_await client.async_connect(exchange.options.jaild_socket);
    if (ec) {
        co_await exchange.responder.send(connect_failed(ec));
        co_return false;
    }
    ec = co_await client.async_send(message);
    if (may_receive(ec)) co_return true;
    const std::string reason = ec.message();
    co_await exchange.responder.send(unreachable(reason));
    co_return false;
}

// The first answer decides the HTTP status: an Error maps to 4xx/5xx, anything else means the run started.
// Progress messages (package installs) come before it; a buffered answer skips them, so its status is the
// request's outcome.
asio::awaitable<bool> await_start(Exchange& exchange, JaildClient& client, RequestKind kind, v1::ServerMessage& first,
                                  bool skip_progress = false) {
    std::error_code ec;
    do {
        ec = co_await client.async_receive(first);
    } while (!ec && skip_progress && first.has_progress());
    if (ec) {
        const std::string reason = "connection closed before the request started (" + ec.message() + ")";
        co_await exchange.responder.send(unreachable(reason));
        co_return false;
    }
    if (!first.has_error()) co_return true;
    const HttpError error = map_jaild_error(first.error(), kind);
    co_await exchange.responder.send(json_response(error.status, error.body, error.retry_after));
    co_return false;
}

// What one run has produced so far, and how it is being sent.
struct RunState {
    const ParsedRequest& request;
    bool stream;
    std::string out, err;
    Utf8Carry out_carry, err_carry;
    bool finished = false;
    json::object result;
    std::string raw_result;            // jaild's result_json, spliced in verbatim
    std::optional<HttpError> refused;  // jaild refused the request after starting it (no main())
    bool executing = false;            // the "Executing code..." line was sent
    bool exited = false;               // jaild reported the program's end (its times are real)
};

// Counts a run in the metrics once jaild started it, whatever ends it (a client that leaves ends the coroutine
// with this object), and gives the access log its verdict.
class RunTally {
public:
    RunTally(Exchange& exchange, const ParsedRequest& request)
        : exchange_(exchange),
          // jaild started it, so the name is one of its languages' names or aliases: a bounded label
          language_(request.kind == RequestKind::execute ? request.message.execute().language() : "argv") {}
    RunTally(const RunTally&) = delete;
    ~RunTally() {
        if (started_) count("client_gone", {}, {});
    }
    void started() { started_ = true; }
    void finished(const RunState& state) {
        const json::value* status = state.result.if_contains("status");
        const std::string_view word = status && status->is_string() ? std::string_view(status->get_string()) : "";
        std::optional<double> wall, cpu;
        if (state.exited) {
            wall = seconds(state.result, "wall_ms");
            cpu = seconds(state.result, "cpu_ms");
        }
        count(word, wall, cpu);
    }

private:
    static double seconds(const json::object& result, std::string_view key) {
        const json::value* ms = result.if_contains(key);
        return ms && ms->is_number() ? ms->to_number<double>() / 1000.0 : 0.0;
    }
    void count(std::string_view status, std::optional<double> wall, std::optional<double> cpu) {
        started_ = false;
        exchange_.verdict = run_status_label(status);
        gateway_metrics().count_run(
            RunRecord{exchange_.route, language_.empty() ? "other" : language_, exchange_.verdict, wall, cpu});
    }

    Exchange& exchange_;
    std::string language_;
    bool started_ = false;
};

// Seed 000's progress line; "type" tells it from output lines.
std::string progress_line(std::string_view text) {
    json::object line;
    line["type"] = "progress";
    line["status"] = "progress";
    line["message"] = text;
    return json::serialize(line) + "\n";
}

// Handles one event; returns the NDJSON line to send now (empty when none).
std::string on_event(RunState& state, const v1::ServerMessage& message) {
    const Encoding encoding = state.request.encoding;
    // Seed 000's client shows what its service was doing before the output: installing the requirements
    // (jaild's Progress), then running the code (the program's Started).
    if (message.has_progress()) return state.stream ? progress_line(message.progress().message()) : std::string();
    if (message.has_started() && state.stream && state.request.kind == RequestKind::execute && !state.executing) {
        state.executing = true;
        return progress_line("Executing code...");
    }
    if (message.has_output()) {
        const bool is_err = message.output().stream() == v1::STREAM_STDERR;
        (is_err ? state.err : state.out) += message.output().data();
        if (!state.stream) return {};
        const std::string data = (is_err ? state.err_carry : state.out_carry).take(message.output().data(), encoding);
        return data.empty() ? std::string() : output_line(message.output().stream(), data) + "\n";
    }
    if (message.has_exit()) {
        state.finished = true;
        state.exited = true;
        state.result = result_object(message.exit(), state.out, state.err, state.request);
        state.raw_result = message.exit().result_json();
    } else if (message.has_error() && message.error().code() == v1::ERROR_CODE_INVALID_ARGUMENT) {
        // The runner found no main(), or the requirements could not be installed (the program never ran): a 400
        // like the gateway's own checks (a stream can only say it in its result line).
        state.finished = true;
        v1::Error error = message.error();
        if (state.request.script && error.field() == "code") error.set_field("script");
        state.refused = map_jaild_error(error, state.request.kind);
        v1::Exit exit;
        exit.set_status(v1::STATUS_RUNTIME_ERROR);
        exit.set_exit_code(error.field() == "requirements" ? -1 : 1);
        exit.set_error(error.message());
        state.result = result_object(exit, state.out, state.err, state.request);
    } else if (message.has_error()) {
        state.finished = true;
        const std::string error = "jaild failed during the run: " + message.error().message();
        state.result = internal_error_result(error, state.out, state.err, encoding);
    }
    return {};  // Started and unknown events carry nothing for the client
}

// The stream's last line: the result object, tagged so a reader can tell it from output lines.
std::string result_line(RunState& state) {
    std::string tail;
    for (auto [carry, stream] :
         {std::pair{&state.out_carry, v1::STREAM_STDOUT}, {&state.err_carry, v1::STREAM_STDERR}}) {
        const std::string rest = carry->flush(state.request.encoding);
        if (!rest.empty()) tail += output_line(stream, rest) + "\n";
    }
    json::object line;
    line["type"] = "result";
    for (const auto& entry : state.result) line[entry.key()] = entry.value();
    return tail + serialize_result(line, state.raw_result) + "\n";
}

void set_workspace_files(json::object& result, const v1::FileEntryList* files) {
    if (files) {
        result["workspace_files"] = workspace_paths(*files);
    } else {
        result["workspace_files"] = nullptr;
    }
}

// Reads events until the run ends; false when the HTTP client went away (the caller just returns).
asio::awaitable<bool> pump_events(Exchange& exchange, JaildClient& client, RunState& state) {
    v1::ServerMessage message;
    while (!state.finished) {
        const std::error_code ec = co_await client.async_receive(message);
        if (ec) {
            // jaild died or closed mid-run: the client gets a result saying so, never a hang.
            const std::string error = "jaild connection lost during the run: " + ec.message();
            state.result = internal_error_result(error, state.out, state.err, state.request.encoding);
            state.finished = true;
            break;
        }
        const std::string line = on_event(state, message);
        if (line.empty()) continue;
        if (!co_await exchange.responder.chunk(line)) co_return false;
    }
    co_return true;
}

// Seed 002's workspace_files: the session's files after the run join the result (null when jaild could not
// list them).
asio::awaitable<void> add_workspace_files(const Exchange& exchange, const std::string& session_id, RunState& state) {
    JaildClient client(co_await asio::this_coro::executor);
    v1::ClientMessage message;
    stamp(message, exchange);
    message.mutable_file_list()->set_session_id(session_id);
    std::error_code ec = co_await client.async_connect(exchange.options.jaild_socket);
    if (!ec) ec = co_await client.async_send(message);
    v1::ServerMessage reply;
    if (!ec) ec = co_await client.async_receive(reply);
    const bool listed = !ec && answer_is(reply, v1::ServerMessage::kFiles);
    set_workspace_files(state.result, listed ? &reply.files() : nullptr);
}

// GCC 12 coroutines (docs/development.md): built outside the coroutine, no brace-initialized JSON in one
std::string languages_body(const v1::LanguageList& list) {
    json::array languages;
    for (const v1::Language& language : list.languages()) {
        json::array aliases;
        for (const std::string& alias : language.aliases()) aliases.emplace_back(alias);
        json::object entry;
        entry["name"] = language.name();
        entry["aliases"] = std::move(aliases);
        entry["version"] = language.version();
        entry["compiled"] = language.compiled();
        languages.emplace_back(std::move(entry));
    }
    json::object body;
    body["languages"] = std::move(languages);
    return json::serialize(body);
}

// What keeps jaild from answering the gateway's health request; empty when it answered.
std::string health_problem(std::error_code connect_ec, std::error_code exchange_ec, const v1::ServerMessage& reply) {
    if (connect_ec)
        return refused(connect_ec) ? refused_message(connect_ec.message())
                                   : "jaild unreachable: " + connect_ec.message();
    if (exchange_ec) return "jaild unreachable: connection closed before an answer (" + exchange_ec.message() + ")";
    if (!reply.has_error()) return {};
    if (reply.error().code() == v1::ERROR_CODE_PERMISSION_DENIED) return refused_message(reply.error().message());
    return "jaild answered with an error: " + reply.error().message();
}

std::string unhealthy_body(const std::string& problem) {
    json::object body;
    body["status"] = "unhealthy";
    body["error"] = problem;
    return json::serialize(body);
}

// The end of a run: its result as the last NDJSON line, or as the answer.
asio::awaitable<void> answer_result(Exchange& exchange, RunState& state) {
    const ParsedRequest& request = state.request;
    if (!request.user_id.empty() && !state.refused)
        co_await add_workspace_files(exchange, request.message.execute().session_id(), state);
    if (state.stream) {
        const std::string last = result_line(state);
        if (co_await exchange.responder.chunk(last)) co_await exchange.responder.end_chunked();
        co_return;
    }
    if (state.refused) {
        co_await exchange.responder.send(json_response(state.refused->status, state.refused->body));
        co_return;
    }
    const std::string body = serialize_result(state.result, state.raw_result);
    co_await exchange.responder.send(json_response(result_http_status(state.result, request.script), body));
}

}  // namespace

asio::awaitable<void> forward_run(Exchange& exchange, ParsedRequest request, bool stream) {
    JaildClient client(co_await asio::this_coro::executor);
    if (!co_await open_request(exchange, client, request.message)) co_return;
    v1::ServerMessage first;
    RunTally tally(exchange, request);
    if (!co_await await_start(exchange, client, request.kind, first, !stream)) co_return;
    tally.started();
    RunState state{request, stream, {}, {}, {}, {}};
    // GCC 12 coroutines (docs/development.md): no co_await on the right of && or ||
    if (stream) {
        if (!co_await exchange.responder.begin_chunked("application/x-ndjson")) co_return;
    }
    const std::string first_line = on_event(state, first);
    if (!first_line.empty()) {
        if (!co_await exchange.responder.chunk(first_line)) co_return;
    }
    const bool client_there = co_await pump_events(exchange, client, state);
    // A client that hung up cancels this handler, which ends jaild's events with an error: not a result.
    const asio::cancellation_state cancelled = co_await asio::this_coro::cancellation_state;
    if (cancelled.cancelled() != asio::cancellation_type::none) co_return;
    if (state.finished) tally.finished(state);
    if (!client_there) co_return;
    client.close();  // the job is over; free jaild's side before writing the answer
    co_await answer_result(exchange, state);
}

asio::awaitable<bool> request_reply(Exchange& exchange, v1::ClientMessage& message, RequestKind kind,
                                    v1::ServerMessage& reply) {
    JaildClient client(co_await asio::this_coro::executor);
    const bool answered = co_await open_exchange(exchange, client, message, kind, reply);
    co_return answered;
}

asio::awaitable<bool> open_exchange(Exchange& exchange, JaildClient& client, v1::ClientMessage& message,
                                    RequestKind kind, v1::ServerMessage& first) {
    if (!co_await open_request(exchange, client, message)) co_return false;
    const bool answered = co_await await_start(exchange, client, kind, first);
    co_return answered;
}

asio::awaitable<bool> send_request(Exchange& exchange, JaildClient& client, v1::ClientMessage& message) {
    const bool sent = co_await open_request(exchange, client, message);
    co_return sent;
}

asio::awaitable<void> send_json(Exchange& exchange, unsigned status, const std::string& body) {
    Response response = json_response(status, body);
    co_await exchange.responder.send(std::move(response));
}

asio::awaitable<void> forward_languages(Exchange& exchange) {
    v1::ClientMessage message;
    message.mutable_languages();
    v1::ServerMessage reply;
    if (!co_await request_reply(exchange, message, RequestKind::languages, reply)) co_return;
    const std::string body = languages_body(reply.languages());
    co_await exchange.responder.send(json_response(200, body));
}

asio::awaitable<void> probe_health(Exchange& exchange) {
    JaildClient client(co_await asio::this_coro::executor);
    v1::ClientMessage message;
    message.mutable_node();  // cheap, and refused like every request when jaild does not allow the gateway
    stamp(message, exchange);
    v1::ServerMessage reply;
    const std::error_code connect_ec = co_await client.async_connect(exchange.options.jaild_socket);
    std::error_code exchange_ec;  // sending, then receiving
    if (!connect_ec) exchange_ec = co_await client.async_send(message);
    if (!connect_ec && may_receive(exchange_ec)) exchange_ec = co_await client.async_receive(reply);
    client.close();
    const std::string problem = health_problem(connect_ec, exchange_ec, reply);
    if (!problem.empty()) {
        const bool retry = !refused(connect_ec) && reply.error().code() != v1::ERROR_CODE_PERMISSION_DENIED;
        const std::string body = unhealthy_body(problem);
        co_await exchange.responder.send(json_response(503, body, retry));
        co_return;
    }
    // The balancer's checks keep the node id fresh: a jaild restarted under another id is seen at once.
    if (reply.has_node() && !reply.node().node_id().empty()) exchange.options.node->set(reply.node().node_id());
    boost::json::object body{{"status", "healthy"}};
    if (reply.has_node() && reply.node().has_isolation())
        body["isolation"] = isolation_object(reply.node().isolation());
    co_await exchange.responder.send(json_response(200, boost::json::serialize(body)));
}

}  // namespace jaild::gateway
