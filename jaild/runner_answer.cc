#include "jaild/runner_answer.h"

#include <boost/json/parse.hpp>

namespace jaild {

namespace json = boost::json;

namespace {

std::string text_of(const json::object& object, std::string_view key) {
    const json::value* value = object.if_contains(key);
    return value && value->is_string() ? std::string(value->as_string()) : std::string();
}

}  // namespace

RunnerVerdict apply_runner_answer(std::string_view answer, v1::Exit& exit) {
    if (answer.empty()) return RunnerVerdict::none;
    // A run that hit a limit keeps that status; an answer can only tell ok and runtime_error apart.
    const bool decides = exit.status() == v1::STATUS_OK || exit.status() == v1::STATUS_RUNTIME_ERROR;
    boost::system::error_code ec;
    const json::value parsed = json::parse(answer, ec);
    const json::object* object = ec ? nullptr : parsed.if_object();
    const std::string status = object ? text_of(*object, "status") : std::string();
    if (status.empty()) {
        // Only the program itself can write there (it holds the channel); say what happened.
        if (decides) {
            exit.set_status(v1::STATUS_RUNTIME_ERROR);
            exit.set_error("the program wrote something that is not a runner answer to its result channel");
        }
        return RunnerVerdict::failed;
    }
    if (status == "no_main") return RunnerVerdict::no_main;
    if (status == "ok") {
        // The runner serialized the value itself (json.dumps spells 2.0 as 2.0; a re-serialization here
        // would not); it is passed on verbatim once it is known to be one JSON value.
        if (const json::value* result = object->if_contains("result")) {
            json::value check;
            if (result->is_string()) check = json::parse(result->as_string(), ec);
            if (!result->is_string() || ec) {
                if (decides) {
                    exit.set_status(v1::STATUS_RUNTIME_ERROR);
                    exit.set_error("the runner's result is not JSON text");
                }
                return RunnerVerdict::failed;
            }
            exit.set_result_json(std::string(result->as_string()));
        }
        return RunnerVerdict::ok;
    }
    if (decides) {
        exit.set_status(v1::STATUS_RUNTIME_ERROR);
        std::string message = text_of(*object, "message");
        exit.set_error(message.empty() ? "the script failed" : std::move(message));
        exit.set_trace(text_of(*object, "trace"));
    }
    return RunnerVerdict::failed;
}

}  // namespace jaild
