// Why the gateway refused a request before it ran: counted in jaild_rejections_total{reason} and named in the
// access log's "rejected" field.
#pragma once

#include <string_view>

namespace jaild::gateway {

enum class Reason { auth, rate, quota, validation };

constexpr std::string_view reason_name(Reason reason) {
    switch (reason) {
        case Reason::auth: return "auth";
        case Reason::rate: return "rate";
        case Reason::quota: return "quota";
        case Reason::validation: return "validation";
    }
    return "validation";
}

}  // namespace jaild::gateway
