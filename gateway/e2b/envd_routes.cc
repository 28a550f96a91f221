#include "gateway/e2b/envd_routes.h"

#include <chrono>

#include "common/jaild_client.h"
#include "gateway/e2b/connect_envelope.h"
#include "gateway/e2b/envd_request.h"
#include "gateway/e2b/filesystem_routes.h"
#include "gateway/e2b/interpreter_routes.h"
#include "gateway/e2b/process_codec.h"
#include "gateway/e2b/process_events.h"
#include "gateway/e2b/sandbox_admission.h"
#include "gateway/e2b/sandbox_calls.h"
#include "gateway/e2b/sandbox_tokens.h"
#include "gateway/quota_admission.h"
#include "gateway/session_codec.h"

namespace jaild::gateway::e2b {

namespace asio = boost::asio;

namespace {

constexpr std::size_t kMaxMessageBytes = 4 << 20;

// envd's streams send a keepalive at least every 50 s.
constexpr std::chrono::seconds kEnvdKeepalive{50};

// Streams the attach connection's output as envd's events after `start`, until the process's end; a
// keepalive event whenever nothing else was sent for the client's interval.
asio::awaitable<void> relay(Exchange& exchange, JaildClient& client, std::uint32_t pid, bool pty) {
    const std::chrono::milliseconds interval =
        keepalive_interval(exchange.request["Keepalive-Ping-Interval"], kEnvdKeepalive);
    if (!co_await exchange.responder.begin_chunked("application/connect+json")) co_return;
    const std::string first = encode_message(start_event(pid));
    if (!co_await exchange.responder.chunk(first)) co_return;
    v1::ServerMessage message;
    std::optional<ConnectError> failure;
    for (bool ended = false; !ended;) {
        if (!co_await readable_within(client, interval)) {
            const std::string keepalive = encode_message(keepalive_event());
            if (!co_await exchange.responder.chunk(keepalive)) co_return;
            continue;
        }
        const std::error_code ec = co_await client.async_receive(message);
        std::string out;
        if (ec) {
            failure = ConnectError{ConnectCode::unavailable, "jaild closed the stream: " + ec.message()};
            ended = true;
        } else if (message.has_output() && !message.output().data().empty()) {
            const OutputStream stream = pty                                              ? OutputStream::pty
                                        : message.output().stream() == v1::STREAM_STDERR ? OutputStream::stderr_stream
                                                                                         : OutputStream::stdout_stream;
            out = encode_message(data_event(stream, message.output().data()));
        } else if (message.has_exit()) {
            const v1::Exit& exit = message.exit();
            out = encode_message(
                end_event(exit.signal() > 0 ? ProcessEnd{0, exit.signal()} : ProcessEnd{exit.exit_code(), 0}));
            ended = true;
        } else if (message.has_error()) {
            failure = connect_error(message.error());
            ended = true;
        }
        if (out.empty()) continue;
        if (!co_await exchange.responder.chunk(out)) co_return;
    }
    const std::string end = encode_end_stream(failure);
    if (!co_await exchange.responder.chunk(end)) co_return;
    co_await exchange.responder.end_chunked();
}

// Attaches to `pid` (from the start of its output unless live_only) and relays it.
asio::awaitable<void> attach(Exchange& exchange, const std::string& session_id, const v1::ProcessInfo& info,
                             bool live_only) {
    v1::ClientMessage message;
    v1::ProcessAttach& attach = *message.mutable_process_attach();
    attach.set_session_id(session_id);
    attach.set_pid(info.pid());
    attach.set_live_only(live_only);
    JaildClient client(co_await asio::this_coro::executor);
    if (const std::optional<v1::Error> error = co_await open_jaild(exchange, client, message)) {
        co_await stream_error(exchange, connect_error(*error));
        co_return;
    }
    co_await relay(exchange, client, info.pid(), info.pty());
}

asio::awaitable<void> process_start(Exchange& exchange, const std::string& session_id) {
    auto body = parse_stream_request(exchange.request.body(), kMaxMessageBytes);
    auto user = envd_user(exchange.request[http::field::authorization]);
    auto timeout = connect_timeout_ms(exchange.request["Connect-Timeout-Ms"]);
    std::optional<ConnectError> failure;
    if (auto* error = std::get_if<EnvelopeError>(&body))
        failure = ConnectError{ConnectCode::invalid_argument, describe(*error, kMaxMessageBytes)};
    else if (auto* bad_user = std::get_if<ConnectError>(&user))
        failure = *bad_user;
    else if (auto* bad_timeout = std::get_if<ConnectError>(&timeout))
        failure = *bad_timeout;
    v1::ClientMessage message;
    if (!failure) {
        auto start = parse_start(std::get<std::string>(body), std::get<EnvdUser>(user),
                                 std::get<std::optional<std::uint64_t>>(timeout));
        if (auto* error = std::get_if<ConnectError>(&start))
            failure = *error;
        else
            *message.mutable_process_start() = std::move(std::get<v1::ProcessStart>(start));
        message.mutable_process_start()->set_session_id(session_id);
    }
    // A start is a run for the caller's rate and concurrency (as the native route's), held until jaild answers.
    ParsedRequest request;
    request.kind = RequestKind::session;
    std::optional<RunSlot> slot;
    if (!failure) {
        request.message = std::move(message);
        std::variant<RunSlot, Response> admitted = admit_run(exchange, request);
        if (auto* refused = std::get_if<Response>(&admitted))
            failure = ConnectError{ConnectCode::resource_exhausted, refusal_message(*refused)};
        else
            slot.emplace(std::move(std::get<RunSlot>(admitted)));
    }
    v1::ServerMessage reply;
    if (!failure) failure = co_await ask_envd(exchange, request.message, v1::ServerMessage::kProcess, reply);
    slot.reset();
    if (failure) {
        co_await stream_error(exchange, *failure);
        co_return;
    }
    co_await attach(exchange, session_id, reply.process(), false);
}

// The process a selector names among the session's, or a Connect error (not_found, as envd says it).
asio::awaitable<std::optional<ConnectError>> find_process(Exchange& exchange, const std::string& session_id,
                                                          std::uint32_t pid, v1::ProcessInfo& info) {
    v1::ClientMessage message;
    message.mutable_process_list()->set_session_id(session_id);
    v1::ServerMessage reply;
    std::optional<ConnectError> failure = co_await ask_envd(exchange, message, v1::ServerMessage::kProcesses, reply);
    if (!failure) {
        failure = ConnectError{ConnectCode::not_found, "process with pid " + std::to_string(pid) + " not found"};
        for (const v1::ProcessInfo& process : reply.processes().processes())
            if (process.pid() == pid) {
                info = process;
                failure.reset();
            }
    }
    co_return failure;
}

asio::awaitable<void> process_connect(Exchange& exchange, const std::string& session_id) {
    auto body = parse_stream_request(exchange.request.body(), kMaxMessageBytes);
    std::optional<ConnectError> failure;
    std::uint32_t pid = 0;
    if (auto* error = std::get_if<EnvelopeError>(&body)) {
        failure = ConnectError{ConnectCode::invalid_argument, describe(*error, kMaxMessageBytes)};
    } else {
        auto selected = parse_selector(std::get<std::string>(body));
        if (auto* error = std::get_if<ConnectError>(&selected))
            failure = *error;
        else
            pid = std::get<std::uint32_t>(selected);
    }
    v1::ProcessInfo info;
    if (!failure) failure = co_await find_process(exchange, session_id, pid, info);
    if (failure) {
        co_await stream_error(exchange, *failure);
        co_return;
    }
    // Only what comes next, as envd does; a process that already ended gives its end at once.
    co_await attach(exchange, session_id, info, info.running());
}

// The unary RPCs: each one jaild request, answered {} (List: the processes).
std::optional<ConnectError> unary_message(std::string_view method, std::string_view body, const std::string& session_id,
                                          v1::ClientMessage& message, v1::ServerMessage::KindCase& expected) {
    expected = v1::ServerMessage::kDone;
    const auto fail = [](auto& parsed) -> std::optional<ConnectError> {
        if (auto* error = std::get_if<ConnectError>(&parsed)) return *error;
        return std::nullopt;
    };
    if (method == "List") {
        message.mutable_process_list()->set_session_id(session_id);
        expected = v1::ServerMessage::kProcesses;
        return std::nullopt;
    }
    if (method == "SendInput") {
        auto parsed = parse_send_input(body);
        if (auto error = fail(parsed)) return error;
        v1::ProcessInput& input = *message.mutable_process_input();
        input.set_session_id(session_id);
        input.set_pid(std::get<Input>(parsed).pid);
        input.set_data(std::get<Input>(parsed).data);
        return std::nullopt;
    }
    if (method == "CloseStdin") {
        auto parsed = parse_selector(body);
        if (auto error = fail(parsed)) return error;
        v1::ProcessInput& input = *message.mutable_process_input();
        input.set_session_id(session_id);
        input.set_pid(std::get<std::uint32_t>(parsed));
        input.set_eof(true);
        return std::nullopt;
    }
    if (method == "SendSignal") {
        auto parsed = parse_send_signal(body);
        if (auto error = fail(parsed)) return error;
        v1::ProcessSignal& signal = *message.mutable_process_signal();
        signal.set_session_id(session_id);
        signal.set_pid(std::get<Signal>(parsed).pid);
        signal.set_signal(std::get<Signal>(parsed).signal);
        return std::nullopt;
    }
    if (method == "Update") {
        auto parsed = parse_update(body);
        if (auto error = fail(parsed)) return error;
        v1::ProcessResize& resize = *message.mutable_process_resize();
        resize.set_session_id(session_id);
        resize.set_pid(std::get<Resize>(parsed).pid);
        resize.mutable_size()->set_rows(std::get<Resize>(parsed).rows);
        resize.mutable_size()->set_cols(std::get<Resize>(parsed).cols);
        return std::nullopt;
    }
    return ConnectError{ConnectCode::unimplemented, "process." + std::string(method) + " is not supported by jaild"};
}

std::uint32_t selected_pid(const v1::ClientMessage& message) {
    if (message.has_process_input()) return message.process_input().pid();
    if (message.has_process_signal()) return message.process_signal().pid();
    if (message.has_process_resize()) return message.process_resize().pid();
    return 0;
}

asio::awaitable<void> process_unary(Exchange& exchange, const std::string& session_id, std::string_view method) {
    v1::ClientMessage message;
    v1::ServerMessage::KindCase expected{};
    std::optional<ConnectError> failure = unary_message(method, exchange.request.body(), session_id, message, expected);
    // A pid the session does not have (or no longer runs) is not_found, which the SDK's kill() reads as false.
    v1::ProcessInfo info;
    const std::uint32_t pid = selected_pid(message);
    if (!failure && pid != 0) failure = co_await find_process(exchange, session_id, pid, info);
    // envd forgets a process once it has ended: signalling it or writing to it is not_found.
    if (!failure && pid != 0 && !info.running())
        failure = ConnectError{ConnectCode::not_found, "process with pid " + std::to_string(pid) + " not found"};
    v1::ServerMessage reply;
    if (!failure) failure = co_await ask_envd(exchange, message, expected, reply);
    if (failure) {
        co_await send_unary_error(exchange, failure->code, failure->message);
        co_return;
    }
    const std::string body = expected == v1::ServerMessage::kProcesses ? list_json(reply.processes()) : "{}";
    co_await exchange.responder.send(json_response(200, body));
}

// filesystem.Filesystem and /files; false for any other call.
asio::awaitable<bool> files_call(Exchange& exchange, const std::string& session_id, std::string_view path) {
    constexpr std::string_view kFilesystem = "/filesystem.Filesystem/";
    const http::verb method = exchange.request.method();
    bool answered = true;
    if (method == http::verb::post && path.starts_with(kFilesystem)) {
        co_await filesystem_call(exchange, session_id, path.substr(kFilesystem.size()));
    } else if (path == "/files" && method == http::verb::get) {
        co_await files_download(exchange, session_id);
    } else if (path == "/files" && method == http::verb::post) {
        co_await files_upload(exchange, session_id);
    } else if (path == "/files") {
        co_await send_plain_error(exchange, 405, "/files takes GET (download) and POST (upload)");
    } else {
        answered = false;
    }
    co_return answered;
}

// envd's GET /health (the SDK's isRunning()): 204 while the sandbox runs, 502 once it is gone (E2B's proxy
// answers 502 for a sandbox that is not running). Without a token, 204 whatever the id: then nothing is looked
// up, so the answer tells nothing about which sandboxes exist.
asio::awaitable<void> health(Exchange& exchange, const std::string& session_id) {
    bool running = true;
    if (!exchange.request["X-Access-Token"].empty()) {
        v1::ClientMessage message;
        message.mutable_session_get()->set_session_id(session_id);
        v1::ServerMessage reply;
        const std::optional<v1::Error> error =
            co_await ask_jaild(exchange, message, v1::ServerMessage::kSession, reply);
        running = !error && reply.session().live();
    }
    if (running) {
        Response response{http::status::no_content, 11};
        co_await exchange.responder.send(std::move(response));
    } else {
        co_await send_plain_error(exchange, 502, "the sandbox is not running");
    }
}

}  // namespace

asio::awaitable<void> handle_sandbox_call(Exchange& exchange) {
    auto target = sandbox_request(exchange.request);
    if (!target) co_return;
    if (auto* error = std::get_if<E2bError>(&*target)) {
        co_await send_plain_error(exchange, error->status, error->message);
        co_return;
    }
    const SandboxRequest sandbox = std::get<SandboxRequest>(*target);
    const std::string_view path = exchange.request.target().substr(0, exchange.request.target().find('?'));
    if (exchange.request.method() == http::verb::get && path == "/health") {
        co_await health(exchange, sandbox.sandbox_id);
        co_return;
    }
    // The caller is the sandbox's owner: its token was checked with the request's header
    // (gateway/e2b/sandbox_admission.h).
    Exchange& as_owner = exchange;
    if (sandbox.service == SandboxService::interpreter) {
        co_await handle_interpreter_call(as_owner, sandbox.sandbox_id);
        co_return;
    }
    constexpr std::string_view kProcess = "/process.Process/";
    if (sandbox.service == SandboxService::envd && exchange.request.method() == http::verb::post &&
        path.starts_with(kProcess)) {
        const std::string_view method = path.substr(kProcess.size());
        if (method == "Start")
            co_await process_start(as_owner, sandbox.sandbox_id);
        else if (method == "Connect")
            co_await process_connect(as_owner, sandbox.sandbox_id);
        else
            co_await process_unary(as_owner, sandbox.sandbox_id, method);
        co_return;
    }
    const bool answered = co_await files_call(as_owner, sandbox.sandbox_id, path);  // the service is envd's here
    if (answered) co_return;
    co_await send_plain_error(exchange, 501, "this sandbox call is not supported by jaild yet");
}

}  // namespace jaild::gateway::e2b
