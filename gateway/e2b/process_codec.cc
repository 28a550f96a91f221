#include "gateway/e2b/process_codec.h"

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include "gateway/e2b/protojson.h"
#include "gateway/text_encoding.h"

namespace jaild::gateway::e2b {

namespace json = boost::json;

namespace {

// A uint32 as protojson gives it: a number or a decimal string.
std::optional<std::uint32_t> as_uint32(const json::value& value) {
    std::uint64_t n = 0;
    if (value.is_uint64())
        n = value.get_uint64();
    else if (value.is_int64() && value.get_int64() >= 0)
        n = static_cast<std::uint64_t>(value.get_int64());
    else if (value.is_string() && !value.get_string().empty() && value.get_string().size() <= 10 &&
             value.get_string().find_first_not_of("0123456789") == json::string::npos)
        n = std::stoull(std::string(value.get_string()));
    else
        return std::nullopt;
    if (n > UINT32_MAX) return std::nullopt;
    return static_cast<std::uint32_t>(n);
}

std::variant<std::uint32_t, ConnectError> selector_pid(const json::object& message) {
    const json::value* process = message.if_contains("process");
    if (!process || !process->is_object()) return invalid("process is required: {\"pid\": N}");
    if (process->get_object().contains("tag")) return invalid("selecting a process by tag is not supported by jaild");
    const json::value* pid = process->get_object().if_contains("pid");
    const std::optional<std::uint32_t> value = pid ? as_uint32(*pid) : std::nullopt;
    if (!value || *value == 0) return invalid("process.pid must be a process id");
    return *value;
}

std::optional<ConnectError> string_map(const json::value& value, std::string_view field,
                                       google::protobuf::Map<std::string, std::string>& out) {
    if (!value.is_object()) return invalid(std::string(field) + " must be an object of strings");
    for (const auto& entry : value.get_object()) {
        if (!entry.value().is_string()) return invalid(std::string(field) + " values must be strings");
        out[std::string(entry.key())] = std::string(entry.value().get_string());
    }
    return std::nullopt;
}

std::optional<ConnectError> read_size(const json::value* pty, std::uint32_t& rows, std::uint32_t& cols) {
    const json::value* size = pty && pty->is_object() ? pty->get_object().if_contains("size") : nullptr;
    if (!size || !size->is_object()) return invalid("pty.size is required: {\"cols\": C, \"rows\": R}");
    const json::value* c = size->get_object().if_contains("cols");
    const json::value* r = size->get_object().if_contains("rows");
    const std::optional<std::uint32_t> cv = c ? as_uint32(*c) : std::nullopt;
    const std::optional<std::uint32_t> rv = r ? as_uint32(*r) : std::nullopt;
    if (!cv || !rv || *cv == 0 || *rv == 0) return invalid("pty.size needs cols and rows, each at least 1");
    cols = *cv;
    rows = *rv;
    return std::nullopt;
}

std::optional<ConnectError> process_config(const json::value& value, v1::ProcessStart& out) {
    if (!value.is_object()) return invalid("process is required: {\"cmd\": ..., \"args\": [...]}");
    const json::object& config = value.get_object();
    const json::value* cmd = config.if_contains("cmd");
    if (!cmd || !cmd->is_string() || cmd->get_string().empty()) return invalid("process.cmd is required");
    out.add_argv(std::string(cmd->get_string()));
    if (const json::value* args = config.if_contains("args")) {
        if (!args->is_array()) return invalid("process.args must be an array of strings");
        for (const json::value& arg : args->get_array()) {
            if (!arg.is_string()) return invalid("process.args must be an array of strings");
            out.add_argv(std::string(arg.get_string()));
        }
    }
    if (const json::value* envs = config.if_contains("envs"))
        if (auto error = string_map(*envs, "process.envs", *out.mutable_env())) return error;
    if (const json::value* cwd = config.if_contains("cwd")) {
        if (!cwd->is_string()) return invalid("process.cwd must be a string");
        out.set_cwd(std::string(cwd->get_string()));
    }
    return std::nullopt;
}

}  // namespace

std::variant<EnvdUser, ConnectError> envd_user(std::string_view authorization) {
    if (authorization.empty()) return EnvdUser::user;
    constexpr std::string_view kBasic = "Basic ";
    const std::optional<std::string> decoded =
        authorization.starts_with(kBasic) ? base64_decode(authorization.substr(kBasic.size())) : std::nullopt;
    if (!decoded) return ConnectError{ConnectCode::unauthenticated, "Authorization must be Basic <base64(user:)>"};
    const std::string name = decoded->substr(0, decoded->find(':'));
    if (name == "user") return EnvdUser::user;
    if (name == "root") return EnvdUser::root;
    return ConnectError{ConnectCode::unauthenticated, "invalid username: '" + sanitize_utf8(name) + "'"};
}

std::variant<std::optional<std::uint64_t>, ConnectError> connect_timeout_ms(std::string_view header) {
    if (header.empty()) return std::optional<std::uint64_t>{};
    if (header.size() > 10 || header.find_first_not_of("0123456789") != std::string_view::npos)
        return invalid("Connect-Timeout-Ms must be 1 to 10 digits");
    return std::optional<std::uint64_t>{std::stoull(std::string(header))};
}

std::variant<v1::ProcessStart, ConnectError> parse_start(std::string_view body, EnvdUser user,
                                                         std::optional<std::uint64_t> timeout_ms) {
    auto parsed = message_object(body);
    if (auto* error = std::get_if<ConnectError>(&parsed)) return *error;
    const json::object& message = std::get<json::object>(parsed);
    v1::ProcessStart out;
    const json::value* process = message.if_contains("process");
    if (auto error = process_config(process ? *process : json::value{}, out)) return *error;
    if (const json::value* pty = message.if_contains("pty"); pty && !pty->is_null()) {
        std::uint32_t rows = 0, cols = 0;
        if (auto error = read_size(pty, rows, cols)) return *error;
        out.mutable_pty()->set_rows(rows);
        out.mutable_pty()->set_cols(cols);
    }
    if (const json::value* stdin_open = message.if_contains("stdin"); stdin_open && !stdin_open->is_null()) {
        if (!stdin_open->is_bool()) return invalid("stdin must be true or false");
        out.set_stdin_closed(!stdin_open->get_bool());
    }
    if (message.contains("tag")) return invalid("process tags are not supported by jaild");
    out.set_user("user");
    // Both users are the sandbox's one unprivileged uid; they differ in HOME. A command starts in the
    // workspace, which live sandboxes show at /home/user (jaild's home_user_dir), unless it names a cwd.
    if (!out.env().contains("HOME")) (*out.mutable_env())["HOME"] = user == EnvdUser::root ? "/root" : "/home/user";
    if (out.cwd().empty()) out.set_cwd("/home/user");
    if (timeout_ms) out.set_timeout_ms(*timeout_ms);
    return out;
}

std::variant<std::uint32_t, ConnectError> parse_selector(std::string_view body) {
    auto parsed = message_object(body);
    if (auto* error = std::get_if<ConnectError>(&parsed)) return *error;
    return selector_pid(std::get<json::object>(parsed));
}

std::variant<Input, ConnectError> parse_send_input(std::string_view body) {
    auto parsed = message_object(body);
    if (auto* error = std::get_if<ConnectError>(&parsed)) return *error;
    const json::object& message = std::get<json::object>(parsed);
    auto pid = selector_pid(message);
    if (auto* error = std::get_if<ConnectError>(&pid)) return *error;
    const json::value* input = message.if_contains("input");
    if (!input || !input->is_object()) return invalid("input is required: {\"stdin\": base64} or {\"pty\": base64}");
    Input out{std::get<std::uint32_t>(pid), {}, false};
    const json::value* bytes = input->get_object().if_contains("stdin");
    if (!bytes) {
        bytes = input->get_object().if_contains("pty");
        out.pty = bytes != nullptr;
    }
    std::optional<std::string> data = bytes && bytes->is_string() ? base64_decode(bytes->get_string()) : std::nullopt;
    if (!data) return invalid("input.stdin or input.pty must be base64");
    out.data = std::move(*data);
    return out;
}

std::variant<Signal, ConnectError> parse_send_signal(std::string_view body) {
    auto parsed = message_object(body);
    if (auto* error = std::get_if<ConnectError>(&parsed)) return *error;
    const json::object& message = std::get<json::object>(parsed);
    auto pid = selector_pid(message);
    if (auto* error = std::get_if<ConnectError>(&pid)) return *error;
    const json::value* signal = message.if_contains("signal");
    int number = 0;
    if (signal && signal->is_string()) {
        if (signal->get_string() == "SIGNAL_SIGKILL") number = 9;
        if (signal->get_string() == "SIGNAL_SIGTERM") number = 15;
    } else if (signal) {
        const std::optional<std::uint32_t> n = as_uint32(*signal);
        if (n && (*n == 9 || *n == 15)) number = static_cast<int>(*n);
    }
    if (number == 0) return invalid("signal must be SIGNAL_SIGKILL or SIGNAL_SIGTERM");
    return Signal{std::get<std::uint32_t>(pid), number};
}

std::variant<Resize, ConnectError> parse_update(std::string_view body) {
    auto parsed = message_object(body);
    if (auto* error = std::get_if<ConnectError>(&parsed)) return *error;
    const json::object& message = std::get<json::object>(parsed);
    auto pid = selector_pid(message);
    if (auto* error = std::get_if<ConnectError>(&pid)) return *error;
    Resize out{std::get<std::uint32_t>(pid), 0, 0};
    if (auto error = read_size(message.if_contains("pty"), out.rows, out.cols)) return *error;
    return out;
}

std::string list_json(const v1::ProcessInfoList& list) {
    json::array processes;
    for (const v1::ProcessInfo& info : list.processes()) {
        if (!info.running() || !info.context_id().empty()) continue;  // an interpreter is not a command
        json::array args;
        for (int i = 1; i < info.argv_size(); ++i) args.emplace_back(sanitize_utf8(info.argv(i)));
        json::object config;
        config["cmd"] = info.argv_size() > 0 ? sanitize_utf8(info.argv(0)) : std::string();
        config["args"] = std::move(args);
        config["envs"] = json::object{};
        config["cwd"] = sanitize_utf8(info.cwd());
        json::object process;
        process["config"] = std::move(config);
        process["pid"] = info.pid();
        processes.emplace_back(std::move(process));
    }
    json::object out;
    out["processes"] = std::move(processes);
    return json::serialize(out);
}

ProcessEnd process_end(const v1::ProcessInfo& info) {
    if (info.signal() > 0) return ProcessEnd{0, info.signal()};
    return ProcessEnd{info.exit_code(), 0};
}

}  // namespace jaild::gateway::e2b
