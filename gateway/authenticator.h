// Who sends a request (docs/api.md, "Authentication"): the client's address (through trusted proxies), and,
// when the gateway reads a keys file, the tenant whose API key the request carries. Holds the current keys
// file, replaced whole by reload() (SIGHUP) while requests keep the snapshot they were let in with.
#pragma once

#include <boost/asio/ip/address.hpp>
#include <chrono>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "gateway/auth_throttle.h"
#include "gateway/caller.h"
#include "gateway/options.h"
#include "gateway/routes.h"

namespace jaild::gateway {

// Browsers cannot set headers on a WebSocket: an upgrade request may carry its key as the Sec-WebSocket-Protocol
// value `jaild.key.<key>` instead (the answer echoes that value as the chosen protocol).
inline constexpr std::string_view kKeySubprotocol = "jaild.key.";
// The subprotocols a WebSocket upgrade request offers, in order (none for any other request).
std::vector<std::string_view> offered_subprotocols(const Request& request);

// The key a request presents in `Authorization: Bearer KEY` or `X-API-Key: KEY`, or on a WebSocket upgrade in a
// `jaild.key.<key>` subprotocol.
struct PresentedKey {
    enum class Kind { none, key, malformed, conflicting };
    Kind kind = Kind::none;
    std::string key;      // kind key
    std::string message;  // kind malformed or conflicting: what is wrong, naming the header(s)
};
PresentedKey presented_key(const Request& request);

// Whether a request needs no key: the routes of kPublicRoutes (authenticator.cc). A CORS preflight on a known
// path never gets here: HttpConnection answers it before authenticating, since browsers send it without keys.
bool is_public(http::verb method, std::string_view target);

class Authenticator {
public:
    // Reads options.keys_file when it is set. Throws KeysFileError (naming the file and line) when it cannot
    // be used: the gateway does not start then.
    explicit Authenticator(const GatewayOptions& options);

    bool keys_configured() const { return !options_.keys_file.empty(); }
    std::shared_ptr<const TenantKeys> keys() const;

    // Re-reads the keys file. A file that cannot be used leaves the current keys in force and is logged with
    // its line; returns whether the new file is in use. Any thread.
    bool reload();

    // Fills `caller` for `request` from `peer`, or returns the answer that refuses it: 400 (a malformed
    // X-Forwarded-For from a trusted proxy, a malformed or a second, different key), 401 (no key, an unknown,
    // revoked or expired one), 429 (too many failures from this client). Any thread.
    std::optional<Response> authenticate(const Request& request, const boost::asio::ip::address& peer, Caller& caller);
    std::optional<Response> authenticate(const Request& request, const boost::asio::ip::address& peer, Caller& caller,
                                         Seconds now, AuthThrottle::Clock::time_point steady_now);

    // For a request that carries a per-resource token instead of a key (an E2B sandbox's envd and code
    // interpreter calls): `principal` is the one the token was minted for, nullopt when it did not verify.
    // Fills `caller` as a key of that principal's tenant would (its limits apply). A tenant without a key in
    // force any more (removed, revoked, expired) loses its tokens with its keys. Refusals count toward the
    // client's failures, as a wrong key does; while the client is throttled every refusal is a 429.
    struct TokenRefusal {
        unsigned status = 401;
        std::string message;
        std::uint64_t retry_after_s = 0;  // 429: when to retry
    };
    std::optional<TokenRefusal> admit_token(const Request& request, const boost::asio::ip::address& peer,
                                            Caller& caller, const std::optional<std::string>& principal);

    // Fills `caller` with the client's address only (the peer, or the client a trusted proxy names), or returns
    // the 400 that refuses a malformed X-Forwarded-For.
    std::optional<Response> identify(const Request& request, const boost::asio::ip::address& peer, Caller& caller);

private:
    std::optional<Response> check_key(const Request& request, Caller& caller, Seconds now,
                                      AuthThrottle::Clock::time_point steady_now);

    const GatewayOptions& options_;
    mutable std::mutex mutex_;
    std::shared_ptr<const TenantKeys> keys_;
    AuthThrottle throttle_;
};

}  // namespace jaild::gateway
