#include "gateway/client_address.h"

#include "common/config.h"

namespace jaild::gateway {

namespace ip = boost::asio::ip;

namespace {

std::array<unsigned char, 16> v6_bytes(const ip::address& address) {
    if (address.is_v6()) return address.to_v6().to_bytes();
    return ip::make_address_v6(ip::v4_mapped, address.to_v4()).to_bytes();
}

std::string_view trim(std::string_view text) {
    while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
    while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
    return text;
}

}  // namespace

void AddressSet::add(std::string_view text) {
    const std::string entry(text);
    const std::size_t slash = text.find('/');
    boost::system::error_code ec;
    const ip::address address = ip::make_address(std::string(text.substr(0, slash)), ec);
    if (ec) throw ConfigError("gateway.trusted_proxies: not an IP address or ADDR/BITS network: " + entry);
    const unsigned width = address.is_v4() ? 32 : 128;
    unsigned bits = width;
    if (slash != std::string_view::npos) {
        const std::string_view digits = text.substr(slash + 1);
        bits = 0;
        if (digits.empty() || digits.size() > 3) bits = width + 1;
        for (const char c : digits) bits = (c >= '0' && c <= '9') ? bits * 10 + unsigned(c - '0') : width + 1;
        if (bits > width)
            throw ConfigError("gateway.trusted_proxies: prefix length must be 0.." + std::to_string(width) + ": " +
                              entry);
    }
    networks_.push_back({v6_bytes(address), address.is_v4() ? bits + 96 : bits});
}

bool AddressSet::contains(const ip::address& address) const {
    const auto bytes = v6_bytes(address);
    for (const Network& network : networks_) {
        bool match = true;
        for (unsigned bit = 0; bit < network.bits && match; bit += 8) {
            const unsigned take = std::min(8u, network.bits - bit);
            const auto mask = static_cast<unsigned char>(0xff00u >> take);
            match = (bytes[bit / 8] & mask) == (network.bytes[bit / 8] & mask);
        }
        if (match) return true;
    }
    return false;
}

std::optional<ip::address> parse_hop(std::string_view text) {
    text = trim(text);
    if (text.size() > 2 && text.front() == '[' && text.back() == ']') text = text.substr(1, text.size() - 2);
    boost::system::error_code ec;
    const ip::address address = ip::make_address(std::string(text), ec);
    // make_address accepts a scope ("fe80::1%eth0"): not something a proxy forwards.
    if (ec || text.find('%') != std::string_view::npos) return std::nullopt;
    if (address.is_v6() && address.to_v6().is_v4_mapped()) return ip::make_address_v4(ip::v4_mapped, address.to_v6());
    return address;
}

std::optional<ip::address> forwarded_client(const std::vector<std::string_view>& values, const AddressSet& trusted) {
    std::vector<std::string_view> hops;
    for (std::string_view value : values) {
        for (std::size_t comma; (comma = value.find(',')) != std::string_view::npos; value.remove_prefix(comma + 1))
            hops.push_back(value.substr(0, comma));
        hops.push_back(value);
    }
    std::optional<ip::address> client;
    for (auto hop = hops.rbegin(); hop != hops.rend(); ++hop) {
        client = parse_hop(*hop);
        if (!client || !trusted.contains(*client)) return client;
    }
    return client;
}

}  // namespace jaild::gateway
