// The gateway's self-protection limits and their defaults. One struct so the command line, the config file
// and the tests all name the same knobs.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>

namespace jaild::gateway {

struct GatewayLimits {
    std::size_t body_bytes = 1024 * 1024;              // larger bodies get 413
    std::size_t header_bytes = 16 * 1024;              // larger headers get 431
    std::chrono::milliseconds header_timeout{10'000};  // from a request's first byte to the end of its header: 408
    std::chrono::milliseconds body_timeout{30'000};    // to receive the whole body once the header is in: 408
    std::chrono::milliseconds idle_timeout{60'000};    // a kept-alive connection with no request is closed
    std::chrono::milliseconds write_timeout{30'000};   // a client that does not read its answer is dropped
    std::chrono::milliseconds shutdown_grace{10'000};  // SIGTERM: in-flight requests get this long, then cancel
    std::size_t max_connections = 1024;                // more are answered 503 and closed
    std::size_t script_chars = 50'000;                 // seed 004's "Invalid script size": len(script) > 50000
};

// Seed 004 promises a 30-second timeout for `script` requests when the caller sets no limit.
inline constexpr std::uint32_t kScriptDefaultLimitMs = 30'000;
// ... and a 300 MB memory limit.
inline constexpr std::uint64_t kScriptDefaultMemoryKb = 300 * 1024;

}  // namespace jaild::gateway
