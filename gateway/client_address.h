// The client's address as the gateway sees it: the peer's, or, when the peer is a trusted proxy, the nearest
// hop of its X-Forwarded-For that is not itself a trusted proxy. Pure: no sockets.
#pragma once

#include <array>
#include <boost/asio/ip/address.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace jaild::gateway {

// Addresses and CIDR networks (`[gateway] trusted_proxies`). IPv4 entries also match IPv4-mapped IPv6 peers.
class AddressSet {
public:
    // "ADDR" or "ADDR/BITS", IPv4 or IPv6. Throws ConfigError naming the entry.
    void add(std::string_view text);
    bool contains(const boost::asio::ip::address& address) const;
    bool empty() const { return networks_.empty(); }

private:
    struct Network {
        std::array<unsigned char, 16> bytes;  // IPv4 as IPv4-mapped IPv6
        unsigned bits;
    };
    std::vector<Network> networks_;
};

// An IP address as written in an X-Forwarded-For hop ("203.0.113.7", "2001:db8::1", "[2001:db8::1]"); an
// IPv4-mapped IPv6 address comes back as IPv4. None for anything else (ports, names, garbage).
std::optional<boost::asio::ip::address> parse_hop(std::string_view text);

// The client named by the X-Forwarded-For values (the header's lines in order) of a request that came from a
// trusted proxy: walking the hops from the right (the one nearest to the gateway), the first that is not in
// `trusted`, or the leftmost when all are. A client can put anything at the left of the header, and a proxy
// that appends ($proxy_add_x_forwarded_for, HAProxy's forwardfor) keeps it there, so only hops added by
// trusted proxies are believed. None when a hop walked over is not an address.
std::optional<boost::asio::ip::address> forwarded_client(const std::vector<std::string_view>& values,
                                                         const AddressSet& trusted);

}  // namespace jaild::gateway
