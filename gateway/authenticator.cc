#include "gateway/authenticator.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/beast/http/field.hpp>
#include <boost/beast/websocket/rfc6455.hpp>
#include <vector>

#include "gateway/client_address.h"
#include "gateway/keys_file.h"
#include "gateway/result_rendering.h"

namespace jaild::gateway {

namespace {

constexpr std::size_t kMaxKeyChars = 512;
constexpr std::string_view kHowToSend = "send Authorization: Bearer <key> or X-API-Key: <key>";

// Routes any caller may use without a key. `prefix`: every path under it (a static site's files).
struct PublicRoute {
    http::verb method;
    std::string_view path;
    bool prefix = false;
};
const PublicRoute kPublicRoutes[] = {
    {http::verb::get, "/health"},
};

bool iequals(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i)
        if (std::tolower(static_cast<unsigned char>(a[i])) != std::tolower(static_cast<unsigned char>(b[i])))
            return false;
    return true;
}

bool valid_key_text(std::string_view key) {
    if (key.empty() || key.size() > kMaxKeyChars) return false;
    for (const char c : key)
        if (c <= ' ' || c > '~') return false;
    return true;
}

// Adds the key of one header line to `found` (each distinct key once), or says what is wrong with it.
std::string collect(std::string_view header, std::string_view value, std::vector<std::string>& found,
                    std::vector<std::string_view>& headers) {
    std::string_view key = value;
    if (header == "Authorization") {
        const std::size_t space = value.find(' ');
        if (space == std::string_view::npos || !iequals(value.substr(0, space), "Bearer"))
            return "Authorization must be \"Bearer <key>\"";
        key = value.substr(space + 1);
        while (!key.empty() && key.front() == ' ') key.remove_prefix(1);
    }
    if (!valid_key_text(key))
        return std::string(header) + " holds no valid key (1 to 512 printable characters, no spaces)";
    if (std::find(found.begin(), found.end(), key) == found.end()) {
        found.emplace_back(key);
        headers.push_back(header);
    }
    return "";
}

Response refusal(unsigned status, std::string_view message, std::string_view field,
                 std::string_view bearer_error = {}) {
    Response response = json_response(status, error_body(message, field));
    std::string challenge = "Bearer realm=\"jaild\"";
    if (!bearer_error.empty()) challenge += ", error=\"" + std::string(bearer_error) + "\"";
    if (status == 401 || !bearer_error.empty()) response.set(http::field::www_authenticate, challenge);
    return response;
}

}  // namespace

std::vector<std::string_view> offered_subprotocols(const Request& request) {
    std::vector<std::string_view> offered;
    if (!boost::beast::websocket::is_upgrade(request)) return offered;
    const auto range = request.equal_range(http::field::sec_websocket_protocol);
    for (auto it = range.first; it != range.second; ++it) {
        std::string_view list = it->value();
        while (!list.empty()) {
            std::string_view item = list.substr(0, list.find(','));
            list.remove_prefix(std::min(item.size() + 1, list.size()));
            while (!item.empty() && (item.front() == ' ' || item.front() == '\t')) item.remove_prefix(1);
            while (!item.empty() && (item.back() == ' ' || item.back() == '\t')) item.remove_suffix(1);
            if (!item.empty()) offered.push_back(item);
        }
    }
    return offered;
}

PresentedKey presented_key(const Request& request) {
    std::vector<std::string> found;
    std::vector<std::string_view> headers;
    for (const std::string_view header : {std::string_view("Authorization"), std::string_view("X-API-Key")}) {
        const auto range = request.equal_range(header);
        for (auto it = range.first; it != range.second; ++it) {
            std::string problem = collect(header, it->value(), found, headers);
            if (!problem.empty()) return {PresentedKey::Kind::malformed, "", std::move(problem)};
        }
    }
    for (const std::string_view protocol : offered_subprotocols(request)) {
        if (!protocol.starts_with(kKeySubprotocol)) continue;
        std::string problem =
            collect("Sec-WebSocket-Protocol", protocol.substr(kKeySubprotocol.size()), found, headers);
        if (!problem.empty()) return {PresentedKey::Kind::malformed, "", std::move(problem)};
    }
    if (found.empty()) return {};
    if (found.size() > 1) {
        const std::string second =
            headers[1] == headers[0] ? "a second " + std::string(headers[1]) : std::string(headers[1]);
        return {
            PresentedKey::Kind::conflicting, "",
            "two different API keys in one request (" + std::string(headers[0]) + " and " + second + "); send one key"};
    }
    return {PresentedKey::Kind::key, found.front(), ""};
}

bool is_public(http::verb method, std::string_view target) {
    const std::string_view path = target.substr(0, target.find('?'));
    for (const PublicRoute& route : kPublicRoutes) {
        if (route.method != method) continue;
        if (route.prefix ? path.starts_with(route.path) : path == route.path) return true;
    }
    return false;
}

Authenticator::Authenticator(const GatewayOptions& options) : options_(options) {
    if (keys_configured()) keys_ = std::make_shared<const TenantKeys>(load_keys_file(options.keys_file));
}

std::shared_ptr<const TenantKeys> Authenticator::keys() const {
    std::lock_guard lock(mutex_);
    return keys_;
}

bool Authenticator::reload() {
    if (!keys_configured()) {
        spdlog::info("reload: no keys file configured; every caller is still let in");
        return false;
    }
    try {
        auto fresh = std::make_shared<const TenantKeys>(load_keys_file(options_.keys_file));
        const std::size_t tenants = fresh->tenants.size();
        {
            std::lock_guard lock(mutex_);
            keys_ = std::move(fresh);
        }
        spdlog::info("reloaded keys file {}: {} tenant(s)", options_.keys_file, tenants);
        return true;
    } catch (const KeysFileError& error) {
        spdlog::error("keys file not reloaded, the previous keys stay in force: {}", error.what());
        return false;
    }
}

std::optional<Response> Authenticator::authenticate(const Request& request, const boost::asio::ip::address& peer,
                                                    Caller& caller) {
    const auto now = std::chrono::floor<std::chrono::seconds>(std::chrono::system_clock::now());
    return authenticate(request, peer, caller, now, AuthThrottle::Clock::now());
}

std::optional<Response> Authenticator::authenticate(const Request& request, const boost::asio::ip::address& peer,
                                                    Caller& caller, Seconds now,
                                                    AuthThrottle::Clock::time_point steady_now) {
    if (auto refused = identify(request, peer, caller)) return refused;
    if (!keys_configured() || is_public(request.method(), request.target())) return std::nullopt;
    return check_key(request, caller, now, steady_now);
}

std::optional<Response> Authenticator::identify(const Request& request, const boost::asio::ip::address& peer,
                                                Caller& caller) {
    caller = address_caller(peer);
    boost::asio::ip::address client = peer;
    if (options_.trusted_proxies.contains(peer)) {
        std::vector<std::string_view> hops;
        const auto range = request.equal_range("X-Forwarded-For");
        for (auto it = range.first; it != range.second; ++it) hops.push_back(it->value());
        if (!hops.empty()) {
            const auto hop = forwarded_client(hops, options_.trusted_proxies);
            if (!hop)
                return json_response(
                    400, error_body("X-Forwarded-For from a trusted proxy must name the client by its IP address",
                                    "X-Forwarded-For"));
            client = *hop;
        }
    }
    caller = address_caller(client);
    return std::nullopt;
}

std::optional<Authenticator::TokenRefusal> Authenticator::admit_token(const Request& request,
                                                                      const boost::asio::ip::address& peer,
                                                                      Caller& caller,
                                                                      const std::optional<std::string>& principal) {
    if (identify(request, peer, caller))
        return TokenRefusal{400, "X-Forwarded-For from a trusted proxy must name the client by its IP address"};
    const auto steady_now = AuthThrottle::Clock::now();
    std::string refused = "unauthorized access, please provide a valid access token or method signing if supported";
    if (principal && !keys_configured()) {
        caller.principal = *principal;
        return std::nullopt;
    }
    if (principal && principal->starts_with("tenant:")) {
        const std::string tenant = principal->substr(std::string_view("tenant:").size());
        auto keys = this->keys();
        const auto found = keys->tenants.find(tenant);
        const auto now = std::chrono::floor<std::chrono::seconds>(std::chrono::system_clock::now());
        const bool in_force = found != keys->tenants.end() &&
                              std::any_of(found->second.keys.begin(), found->second.keys.end(), [&](const ApiKey& key) {
                                  return !key.revoked && (!key.expires || *key.expires > now);
                              });
        if (in_force) {
            caller.tenant = tenant;
            caller.principal = *principal;
            caller.entry = &found->second;
            caller.keys = std::move(keys);
            return std::nullopt;
        }
        refused = "the sandbox's tenant has no API key in force any more (revoked, expired or removed)";
    }
    const auto wait = throttle_.blocked_for(caller.remote, steady_now);
    if (wait.count() > 0)
        return TokenRefusal{429,
                            "too many failed access attempts from " + caller.remote + "; retry in " +
                                std::to_string(wait.count()) + " s",
                            static_cast<std::uint64_t>(wait.count())};
    throttle_.failed(caller.remote, steady_now);
    return TokenRefusal{401, refused};
}

std::optional<Response> Authenticator::check_key(const Request& request, Caller& caller, Seconds now,
                                                 AuthThrottle::Clock::time_point steady_now) {
    // A valid key is let in even from a throttled address (a NAT or a proxy shared with someone guessing): at
    // 256 bits, holding it back protects nothing. Only the failures wait.
    const PresentedKey presented = presented_key(request);
    std::optional<KeyMatch> match;
    if (presented.kind == PresentedKey::Kind::key) {
        auto keys = this->keys();
        match = find_key(*keys, presented.key, now);
        if (match->verdict == KeyVerdict::accepted) {
            caller.tenant = match->tenant;
            caller.principal = "tenant:" + match->tenant;
            caller.entry = &keys->tenants.at(match->tenant);
            caller.keys = std::move(keys);
            return std::nullopt;
        }
    }
    if (presented.kind == PresentedKey::Kind::none)
        return refusal(401, "an API key is required: " + std::string(kHowToSend), "Authorization");
    const auto wait = throttle_.blocked_for(caller.remote, steady_now);
    if (wait.count() > 0) {
        Response response = json_response(429, error_body("too many failed API key attempts from " + caller.remote +
                                                          "; retry in " + std::to_string(wait.count()) + " s"));
        response.set(http::field::retry_after, std::to_string(wait.count()));
        return response;
    }
    throttle_.failed(caller.remote, steady_now);
    if (presented.kind != PresentedKey::Kind::key)
        return refusal(400, presented.message, "Authorization", "invalid_request");
    if (match->verdict == KeyVerdict::unknown)
        return refusal(401, "unknown API key; " + std::string(kHowToSend), "Authorization", "invalid_token");
    spdlog::info("refused API key {} of tenant {} from {}: {}", match->key_id, match->tenant, caller.remote,
                 verdict_text(match->verdict));
    const std::string state = match->verdict == KeyVerdict::revoked ? "revoked" : "expired";
    return refusal(401, "API key " + match->key_id + " is " + state + "; ask the operator for a new key",
                   "Authorization", "invalid_token");
}

}  // namespace jaild::gateway
