// Who sends a request, as the gateway decided before routing it: the client's address, the tenant its API key
// names (when the gateway reads a keys file), and the principal jaild keeps that caller's sessions under.
#pragma once

#include <boost/asio/ip/address.hpp>
#include <memory>
#include <string>

#include "gateway/tenant_keys.h"

namespace jaild::gateway {

struct Caller {
    // The client's address: the peer's, or, when the peer is a trusted proxy, the nearest X-Forwarded-For hop
    // that is not one (gateway/client_address.h).
    std::string remote;
    // The tenant whose key the request carried; empty when the gateway runs without a keys file.
    std::string tenant;
    // What jaild keeps apart (sessions, their quota): "tenant:NAME", else "address:IP". The two kinds never
    // meet, so a tenant named like an address does not inherit that address's sessions.
    std::string principal;
    // The keys file as it was when the request was authenticated, so `entry` stays valid across a reload;
    // both null without a keys file.
    std::shared_ptr<const TenantKeys> keys;
    const Tenant* entry = nullptr;
};

// A caller known only by its address (no key checked yet, or none needed).
inline Caller address_caller(const boost::asio::ip::address& address) {
    Caller caller;
    caller.remote = address.to_string();
    caller.principal = "address:" + caller.remote;
    return caller;
}

}  // namespace jaild::gateway
