#include "gateway/live_codec.h"

#include <boost/json/serialize.hpp>
#include <charconv>
#include <csignal>
#include <limits>

#include "gateway/text_encoding.h"

namespace jaild::gateway {

namespace json = boost::json;

namespace {

// jaild's bound on a terminal's side, in rows or columns.
constexpr std::uint64_t kMaxTerminalSide = 1000;
// Linux's signals: 1 to SIGRTMAX.
constexpr std::int64_t kMaxSignal = 64;

struct SignalName {
    std::string_view name;
    int number;
};

// The standard signals by name; the real-time ones go by number.
constexpr SignalName kSignals[] = {
    {"SIGHUP", SIGHUP},       {"SIGINT", SIGINT},   {"SIGQUIT", SIGQUIT},   {"SIGILL", SIGILL},   {"SIGTRAP", SIGTRAP},
    {"SIGABRT", SIGABRT},     {"SIGBUS", SIGBUS},   {"SIGFPE", SIGFPE},     {"SIGKILL", SIGKILL}, {"SIGUSR1", SIGUSR1},
    {"SIGSEGV", SIGSEGV},     {"SIGUSR2", SIGUSR2}, {"SIGPIPE", SIGPIPE},   {"SIGALRM", SIGALRM}, {"SIGTERM", SIGTERM},
    {"SIGSTKFLT", SIGSTKFLT}, {"SIGCHLD", SIGCHLD}, {"SIGCONT", SIGCONT},   {"SIGSTOP", SIGSTOP}, {"SIGTSTP", SIGTSTP},
    {"SIGTTIN", SIGTTIN},     {"SIGTTOU", SIGTTOU}, {"SIGURG", SIGURG},     {"SIGXCPU", SIGXCPU}, {"SIGXFSZ", SIGXFSZ},
    {"SIGVTALRM", SIGVTALRM}, {"SIGPROF", SIGPROF}, {"SIGWINCH", SIGWINCH}, {"SIGIO", SIGIO},     {"SIGPWR", SIGPWR},
    {"SIGSYS", SIGSYS},
};

std::optional<std::uint64_t> as_uint(const json::value& value, std::uint64_t max) {
    std::uint64_t n = 0;
    if (value.is_uint64()) {
        n = value.get_uint64();
    } else if (value.is_int64() && value.get_int64() >= 0) {
        n = static_cast<std::uint64_t>(value.get_int64());
    } else {
        return std::nullopt;
    }
    if (n > max) return std::nullopt;
    return n;
}

std::optional<FieldError> get_uint(const json::object& object, std::string_view key, std::uint64_t max,
                                   std::uint64_t& out) {
    const std::string name(key);
    const json::value* value = object.if_contains(key);
    if (!value) return std::nullopt;
    auto n = as_uint(*value, max);
    if (!n) return FieldError{name, name + " must be a non-negative integer of at most " + std::to_string(max)};
    out = *n;
    return std::nullopt;
}

// {"rows", "cols"}, both required, each 1 to 1000; `prefix` names the fields inside another object ("pty.").
std::optional<FieldError> get_size(const json::object& object, std::string_view prefix, v1::PtySize& size) {
    if (auto error = only_fields(object, {"rows", "cols"})) {
        error->field.insert(0, prefix);
        return error;
    }
    for (const std::string_view key : {"rows", "cols"}) {
        const std::string name = std::string(prefix) + std::string(key);
        const json::value* value = object.if_contains(key);
        const auto n = value ? as_uint(*value, kMaxTerminalSide) : std::nullopt;
        if (!n || *n == 0) return FieldError{name, name + " is required and must be an integer from 1 to 1000"};
        if (key == "rows") size.set_rows(static_cast<std::uint32_t>(*n));
        if (key == "cols") size.set_cols(static_cast<std::uint32_t>(*n));
    }
    return std::nullopt;
}

std::optional<FieldError> get_command(const json::value& value, v1::ProcessStart& start) {
    const FieldError error{"command", "command must be a non-empty array of strings"};
    if (!value.is_array() || value.get_array().empty()) return error;
    for (const json::value& item : value.get_array()) {
        if (!item.is_string()) return error;
        start.add_argv(std::string(item.get_string()));
    }
    return std::nullopt;
}

std::optional<FieldError> get_env(const json::value& value, google::protobuf::Map<std::string, std::string>& env) {
    if (!value.is_object()) return FieldError{"env", "env must be an object of strings"};
    for (const auto& entry : value.get_object()) {
        const std::string name = "env." + std::string(entry.key());
        if (!entry.value().is_string()) return FieldError{name, name + " must be a string"};
        env[std::string(entry.key())] = std::string(entry.value().get_string());
    }
    return std::nullopt;
}

std::optional<FieldError> process_field(std::string_view key, const json::value& value, v1::ProcessStart& start) {
    const std::string name(key);
    if (key == "command") return get_command(value, start);
    if (key == "env") return get_env(value, *start.mutable_env());
    if (key == "cwd") {
        if (!value.is_string()) return FieldError{"cwd", "cwd must be a string"};
        start.set_cwd(std::string(value.get_string()));
    } else if (key == "pty") {
        if (value.is_null()) return std::nullopt;
        if (!value.is_object()) return FieldError{"pty", "pty must be an object {\"rows\", \"cols\"} or null"};
        return get_size(value.get_object(), "pty.", *start.mutable_pty());
    } else if (key == "timeout_ms") {
        const auto n = as_uint(value, std::numeric_limits<std::uint64_t>::max());
        if (!n) return FieldError{"timeout_ms", "timeout_ms must be a non-negative integer"};
        start.set_timeout_ms(*n);
    } else if (key == "user") {
        // Nothing in a sandbox runs as root: a process is the session's own user.
        if (!value.is_string() || value.get_string() != "user")
            return FieldError{"user", "user must be \"user\": processes run as the session's own user"};
        start.set_user("user");
    } else if (key == "stdin") {
        if (!value.is_bool()) return FieldError{"stdin", "stdin must be a boolean"};
        start.set_stdin_closed(!value.get_bool());
    } else {
        return FieldError{name, "unknown field " + name};
    }
    return std::nullopt;
}

// The body as an object, or the 400 saying why not.
std::variant<json::object, FieldError> object_of(std::string_view body) { return parse_object(body); }

bool flag_value(std::string_view text, bool& out) {
    if (text.empty() || text == "1" || text == "true") {
        out = true;
    } else if (text == "0" || text == "false") {
        out = false;
    } else {
        return false;
    }
    return true;
}

json::value null_if_empty(std::string_view text) {
    return text.empty() ? json::value(nullptr) : json::value(sanitize_utf8(text));
}

// One {"type": stream, "data"} line for a piece of a stream that ends on a whole UTF-8 sequence (or the last
// piece); data_base64 when the bytes are not UTF-8.
std::string data_line(v1::Stream stream, std::string_view bytes) {
    json::object line;
    line["type"] = stream == v1::STREAM_STDERR ? "stderr" : "stdout";
    const std::string text = sanitize_utf8(bytes);
    line["data"] = text;
    if (text != bytes) line["data_base64"] = base64_encode(bytes);
    return json::serialize(line);
}

std::string_view stream_name(v1::Stream stream) { return stream == v1::STREAM_STDERR ? "stderr" : "stdout"; }

}  // namespace

std::variant<std::uint32_t, FieldError> parse_pid(std::string_view text) {
    std::uint32_t pid = 0;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), pid);
    const bool digits = !text.empty() && text.front() >= '0' && text.front() <= '9';
    if (!digits || ec != std::errc() || end != text.data() + text.size() || pid == 0)
        return FieldError{"pid", "the pid in the URL must be a process id: an integer from 1 to 4294967295"};
    return pid;
}

std::variant<std::map<std::string, bool>, FieldError> parse_query_flags(std::string_view target,
                                                                        std::initializer_list<std::string_view> known) {
    std::map<std::string, bool> flags;
    const std::size_t mark = target.find('?');
    if (mark == std::string_view::npos) return flags;
    std::string_view query = target.substr(mark + 1);
    while (!query.empty()) {
        const std::string_view pair = query.substr(0, query.find('&'));
        query.remove_prefix(std::min(pair.size() + 1, query.size()));
        if (pair.empty()) continue;
        const std::string_view name = pair.substr(0, pair.find('='));
        const std::string_view value = name.size() < pair.size() ? pair.substr(name.size() + 1) : std::string_view();
        const std::string field = sanitize_utf8(name);
        if (std::find(known.begin(), known.end(), name) == known.end())
            return FieldError{field, "unknown query parameter " + field};
        bool flag = false;
        if (!flag_value(value, flag)) return FieldError{field, field + " must be 1, true, 0 or false"};
        flags[field] = flag;
    }
    return flags;
}

std::optional<int> signal_number(const json::value& value) {
    if (value.is_int64() || value.is_uint64()) {
        const auto n = as_uint(value, kMaxSignal);
        if (n && *n > 0) return static_cast<int>(*n);
        return std::nullopt;
    }
    if (!value.is_string()) return std::nullopt;
    const std::string_view name = value.get_string();
    for (const SignalName& signal : kSignals)
        if (name == signal.name || name == signal.name.substr(3)) return signal.number;
    return std::nullopt;
}

std::variant<v1::ProcessStart, FieldError> parse_process_start(std::string_view body) {
    auto parsed = object_of(body);
    if (auto* error = std::get_if<FieldError>(&parsed)) return *error;
    const json::object& object = std::get<json::object>(parsed);
    v1::ProcessStart start;
    for (const auto& entry : object)
        if (auto error = process_field(entry.key(), entry.value(), start)) return *error;
    if (start.argv_size() == 0) return FieldError{"command", "command is required: a non-empty array of strings"};
    return start;
}

std::variant<v1::ProcessSignal, FieldError> parse_process_signal(std::string_view body) {
    auto parsed = object_of(body);
    if (auto* error = std::get_if<FieldError>(&parsed)) return *error;
    const json::object& object = std::get<json::object>(parsed);
    if (auto error = only_fields(object, {"signal"})) return *error;
    const json::value* value = object.if_contains("signal");
    const std::optional<int> number = value ? signal_number(*value) : std::nullopt;
    if (!number) return FieldError{"signal", "signal is required: a name such as \"SIGTERM\" or a number from 1 to 64"};
    v1::ProcessSignal signal;
    signal.set_signal(*number);
    return signal;
}

std::variant<v1::ProcessResize, FieldError> parse_process_resize(std::string_view body) {
    auto parsed = object_of(body);
    if (auto* error = std::get_if<FieldError>(&parsed)) return *error;
    v1::ProcessResize resize;
    if (auto error = get_size(std::get<json::object>(parsed), "", *resize.mutable_size())) return *error;
    return resize;
}

std::variant<v1::SessionSetTimeout, FieldError> parse_session_timeout(std::string_view body) {
    auto parsed = object_of(body);
    if (auto* error = std::get_if<FieldError>(&parsed)) return *error;
    const json::object& object = std::get<json::object>(parsed);
    if (auto error = only_fields(object, {"timeout_ms"})) return *error;
    if (!object.contains("timeout_ms"))
        return FieldError{"timeout_ms", "timeout_ms is required: the session ends this long from now (0: no deadline)"};
    std::uint64_t timeout = 0;
    if (auto error = get_uint(object, "timeout_ms", std::numeric_limits<std::uint64_t>::max(), timeout)) return *error;
    v1::SessionSetTimeout set_timeout;
    set_timeout.set_timeout_ms(timeout);
    return set_timeout;
}

std::optional<FieldError> parse_empty_body(std::string_view body) {
    if (body.find_first_not_of(" \t\r\n") == std::string_view::npos) return std::nullopt;
    auto parsed = object_of(body);
    if (auto* error = std::get_if<FieldError>(&parsed)) return *error;
    return only_fields(std::get<json::object>(parsed), {});
}

std::variant<v1::ClientMessage, FieldError> parse_attach_frame(std::string_view text) {
    auto parsed = object_of(text);
    if (auto* error = std::get_if<FieldError>(&parsed)) return FieldError{error->field, "frame " + error->message};
    const json::object& object = std::get<json::object>(parsed);
    const json::value* type = object.if_contains("type");
    const std::string_view kind = type && type->is_string() ? std::string_view(type->get_string()) : "";
    v1::ClientMessage message;
    if (kind == "stdin") {
        if (auto error = only_fields(object, {"type", "data"})) return *error;
        const json::value* data = object.if_contains("data");
        if (!data || !data->is_string()) return FieldError{"data", "data is required and must be a string"};
        message.mutable_stdin()->set_data(std::string(data->get_string()));
    } else if (kind == "eof") {
        if (auto error = only_fields(object, {"type"})) return *error;
        message.mutable_stdin()->set_eof(true);
    } else if (kind == "resize") {
        json::object size = object;
        size.erase("type");
        if (auto error = get_size(size, "", *message.mutable_process_resize()->mutable_size())) return *error;
    } else if (kind == "signal") {
        if (auto error = only_fields(object, {"type", "signal"})) return *error;
        const json::value* value = object.if_contains("signal");
        const std::optional<int> number = value ? signal_number(*value) : std::nullopt;
        if (!number)
            return FieldError{"signal", "signal is required: a name such as \"SIGINT\" or a number from 1 to 64"};
        message.mutable_process_signal()->set_signal(*number);
    } else {
        return FieldError{"type", "type is required: \"stdin\", \"eof\", \"resize\" or \"signal\""};
    }
    return message;
}

v1::ClientMessage attach_stdin(std::string bytes) {
    v1::ClientMessage message;
    message.mutable_stdin()->set_data(std::move(bytes));
    return message;
}

json::object process_info_object(const v1::ProcessInfo& info) {
    json::array command;
    for (const std::string& arg : info.argv()) command.emplace_back(sanitize_utf8(arg));
    json::object out;
    out["pid"] = info.pid();
    out["command"] = std::move(command);
    out["running"] = info.running();
    out["exit_code"] = info.running() ? json::value(nullptr) : json::value(info.exit_code());
    out["signal"] = info.running() || info.signal() == 0 ? json::value(nullptr) : json::value(info.signal());
    out["signal_name"] = info.running() ? json::value(nullptr) : null_if_empty(info.signal_name());
    out["pty"] = info.pty();
    out["cwd"] = sanitize_utf8(info.cwd());
    out["started_unix_ms"] = info.started_unix_ms();
    out["context_id"] = null_if_empty(info.context_id());
    return out;
}

std::string process_info_body(const v1::ProcessInfo& info) { return json::serialize(process_info_object(info)); }

std::string process_list_body(const v1::ProcessInfoList& list) {
    json::array processes;
    for (const v1::ProcessInfo& info : list.processes()) processes.emplace_back(process_info_object(info));
    json::object body;
    body["processes"] = std::move(processes);
    return json::serialize(body);
}

const v1::ProcessInfo* find_process(const v1::ProcessInfoList& list, std::uint32_t pid) {
    for (const v1::ProcessInfo& info : list.processes())
        if (info.pid() == pid) return &info;
    return nullptr;
}

std::string stream_error_line(std::string_view message, std::string_view field) {
    json::object line;
    line["type"] = "error";
    line["error"] = sanitize_utf8(message);
    line["field"] = field.empty() ? json::value(nullptr) : json::value(field);
    return json::serialize(line);
}

std::vector<std::string> OutputLines::event(const v1::ServerMessage& message, bool& ended) {
    ended = message.has_exit() || message.has_error();
    if (message.has_output()) return output(message.output());
    if (message.has_exit()) return exit(message.exit());
    if (!message.has_error()) return {};  // the process's info or an acknowledgement: nothing to show
    std::vector<std::string> lines = flush();
    lines.push_back(stream_error_line(message.error().message(), message.error().field()));
    return lines;
}

std::vector<std::string> OutputLines::output(const v1::Output& output) {
    const v1::Stream stream = output.stream() == v1::STREAM_STDERR ? v1::STREAM_STDERR : v1::STREAM_STDOUT;
    std::string& held = pending(stream);
    std::vector<std::string> lines;
    if (output.dropped() > 0) {
        // The bytes before the gap end where they are: a sequence cut by the gap never completes.
        if (!held.empty()) lines.push_back(data_line(stream, std::exchange(held, {})));
        json::object line;
        line["type"] = "dropped";
        line["stream"] = stream_name(stream);
        line["bytes"] = output.dropped();
        lines.push_back(json::serialize(line));
    }
    held += output.data();
    const std::size_t complete = complete_utf8_prefix(held);
    if (complete > 0) {
        lines.push_back(data_line(stream, std::string_view(held).substr(0, complete)));
        held.erase(0, complete);
    }
    return lines;
}

std::vector<std::string> OutputLines::flush() {
    std::vector<std::string> lines;
    for (const v1::Stream stream : {v1::STREAM_STDOUT, v1::STREAM_STDERR}) {
        std::string& held = pending(stream);
        if (!held.empty()) lines.push_back(data_line(stream, std::exchange(held, {})));
    }
    return lines;
}

std::vector<std::string> OutputLines::exit(const v1::Exit& exit) {
    std::vector<std::string> lines = flush();
    json::object line;
    line["type"] = "exit";
    line["exit_code"] = exit.exit_code();
    line["signal"] = exit.signal() > 0 ? json::value(exit.signal()) : json::value(nullptr);
    line["signal_name"] = null_if_empty(exit.signal_name());
    lines.push_back(json::serialize(line));
    return lines;
}

std::string ndjson(const std::vector<std::string>& lines) {
    std::string text;
    for (const std::string& line : lines) {
        text += line;
        text += '\n';
    }
    return text;
}

}  // namespace jaild::gateway
