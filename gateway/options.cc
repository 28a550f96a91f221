#include "gateway/options.h"

#include <toml++/toml.h>

#include <algorithm>
#include <boost/asio/ip/address.hpp>

#include "gateway/cors.h"

namespace jaild::gateway {

void parse_listen(const std::string& text, GatewayOptions& options) {
    const std::size_t colon = text.rfind(':');
    if (colon == std::string::npos || colon == 0) throw ConfigError("listen address must be ADDR:PORT: " + text);
    std::string address = text.substr(0, colon);
    if (address.size() > 2 && address.front() == '[' && address.back() == ']')
        address = address.substr(1, address.size() - 2);
    const std::string port = text.substr(colon + 1);
    int number = 0;
    try {
        std::size_t used = 0;
        number = std::stoi(port, &used);
        if (used != port.size()) number = -1;
    } catch (const std::exception&) {
        number = -1;
    }
    if (number <= 0 || number > 65535) throw ConfigError("listen port must be 1..65535: " + text);
    boost::system::error_code ec;
    boost::asio::ip::make_address(address, ec);
    if (ec) throw ConfigError("listen address is not an IP address: " + address);
    options.listen_address = address;
    options.listen_port = static_cast<std::uint16_t>(number);
}

void parse_metrics_listen(const std::string& text, GatewayOptions& options) {
    GatewayOptions parsed;
    parse_listen(text, parsed);
    options.metrics_address = parsed.listen_address;
    options.metrics_port = parsed.listen_port;
}

GatewayOptions metrics_listener_options(const GatewayOptions& options) {
    GatewayOptions metrics = options;
    metrics.listen_address = options.metrics_address;
    metrics.listen_port = options.metrics_port;
    metrics.metrics_only = true;
    metrics.keys_file.clear();  // no key is asked for: the address is the guard
    metrics.tls_cert.clear();   // plain HTTP, for a scraper on loopback or a private network
    metrics.tls_key.clear();
    return metrics;
}

namespace {

template <class T>
T integer(const toml::node& node, const std::string& key) {
    const auto value = node.value<std::int64_t>();
    if (!value || *value < 0) throw ConfigError("gateway." + key + " must be a non-negative integer");
    return static_cast<T>(*value);
}

std::string text(const toml::node& node, const std::string& key) {
    const auto value = node.value<std::string>();
    if (!value) throw ConfigError(key + " must be a string");
    return *value;
}

std::vector<std::string> origins(const toml::node& node) {
    const auto* array = node.as_array();
    if (!array || (!array->empty() && !array->is_homogeneous(toml::node_type::string)))
        throw ConfigError("gateway.cors_origins must be an array of strings");
    std::vector<std::string> out;
    for (const toml::node& entry : *array) out.push_back(normalize_origin(*entry.value<std::string>()));
    return out;
}

void add_trusted_proxies(const toml::node& node, AddressSet& set) {
    const auto* array = node.as_array();
    if (!array || (!array->empty() && !array->is_homogeneous(toml::node_type::string)))
        throw ConfigError("gateway.trusted_proxies must be an array of strings (addresses or ADDR/BITS networks)");
    for (const toml::node& entry : *array) set.add(*entry.value<std::string>());
}

// www_vendor = { NAME = "DIR", ... }: /vendor/NAME/ served from DIR; the table replaces the defaults.
std::vector<StaticMount> vendor_mounts(const toml::node& node) {
    const auto* table = node.as_table();
    if (!table) throw ConfigError("gateway.www_vendor must be a table of NAME = \"directory\"");
    std::vector<StaticMount> out;
    for (const auto& [name, dir] : *table) {
        const std::string label(name.str());
        const bool valid = !label.empty() && std::all_of(label.begin(), label.end(), [](char c) {
            return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
        });
        if (!valid) throw ConfigError("gateway.www_vendor." + label + ": a name is [a-z0-9_-]+");
        out.push_back({"/vendor/" + label + "/", text(dir, "gateway.www_vendor." + label)});
    }
    return out;
}

void apply_gateway_key(const std::string& key, const toml::node& node, GatewayOptions& o) {
    using ms = std::chrono::milliseconds;
    GatewayLimits& l = o.limits;
    if (key == "listen") return parse_listen(text(node, key), o);
    if (key == "metrics_listen") return parse_metrics_listen(text(node, key), o);
    if (key == "jaild_socket") return void(o.jaild_socket = text(node, key));
    if (key == "keys_file") return void(o.keys_file = text(node, "gateway.keys_file"));
    if (key == "e2b_secret_file") return void(o.e2b_secret_file = text(node, "gateway.e2b_secret_file"));
    if (key == "trusted_proxies") return add_trusted_proxies(node, o.trusted_proxies);
    if (key == "insecure_no_auth") {
        if (!node.is_boolean()) throw ConfigError("gateway.insecure_no_auth must be a boolean");
        return void(o.insecure_no_auth = *node.value<bool>());
    }
    if (key == "allow_remote")
        throw ConfigError(
            "gateway.allow_remote is gone: set gateway.keys_file to require API keys (docs/operations.md, "
            "\"Tenants and API keys\"), or gateway.insecure_no_auth = true to listen beyond loopback without them");
    if (key == "cors_origins") return void(o.cors_origins = origins(node));
    if (key == "www_dir") return void(o.www_dir = text(node, "gateway.www_dir"));
    if (key == "www_vendor") return void(o.www_vendor = vendor_mounts(node));
    if (key == "tls_cert") return void(o.tls_cert = text(node, "gateway.tls_cert"));
    if (key == "tls_key") return void(o.tls_key = text(node, "gateway.tls_key"));
    if (key == "threads") return void(o.threads = integer<unsigned>(node, key));
    if (key == "body_limit_bytes") return void(l.body_bytes = integer<std::size_t>(node, key));
    if (key == "header_limit_bytes") return void(l.header_bytes = integer<std::size_t>(node, key));
    if (key == "header_timeout_ms") return void(l.header_timeout = ms(integer<std::int64_t>(node, key)));
    if (key == "body_timeout_ms") return void(l.body_timeout = ms(integer<std::int64_t>(node, key)));
    if (key == "idle_timeout_ms") return void(l.idle_timeout = ms(integer<std::int64_t>(node, key)));
    if (key == "write_timeout_ms") return void(l.write_timeout = ms(integer<std::int64_t>(node, key)));
    if (key == "shutdown_grace_ms") return void(l.shutdown_grace = ms(integer<std::int64_t>(node, key)));
    if (key == "max_connections") return void(l.max_connections = integer<std::size_t>(node, key));
    // Characters, as seed 004 counted them; script_max_bytes is the key's former name.
    if (key == "script_max_chars" || key == "script_max_bytes")
        return void(l.script_chars = integer<std::size_t>(node, key));
    throw ConfigError("unknown key gateway." + key);
}

// [tenant_defaults]: the same keys, with the same meaning, as a tenant's limits in the keys file.
void apply_tenant_default(const std::string& key, const toml::node& node, TenantLimits& defaults) {
    for (const TenantLimitInfo& info : kTenantLimits) {
        if (key != info.key) continue;
        const auto value = node.value_exact<std::int64_t>();
        if (!value || *value < 1) throw ConfigError("tenant_defaults." + key + " must be an integer of at least 1");
        return void(defaults[info.limit] = static_cast<std::uint64_t>(*value));
    }
    throw ConfigError("unknown key tenant_defaults." + key);
}

}  // namespace

void load_options_file(const std::string& path, GatewayOptions& options) {
    toml::table root;
    try {
        root = toml::parse_file(path);
    } catch (const toml::parse_error& error) {
        throw ConfigError(path + ": " + std::string(error.description()));
    }
    for (const auto& [section, node] : root) {
        const auto* table = node.as_table();
        if (!table) throw ConfigError(path + ": unknown key " + std::string(section.str()));
        for (const auto& [key, value] : *table) {
            const std::string name(key.str());
            if (section == "gateway") {
                apply_gateway_key(name, value, options);
            } else if (section == "log" && name == "level") {
                options.log.level = text(value, "log.level");
            } else if (section == "log" && name == "format") {
                options.log.json = text(value, "log.format") == "json";
            } else if (section == "tenant_defaults") {
                apply_tenant_default(name, value, options.tenant_defaults);
            } else {
                throw ConfigError(path + ": unknown key " + std::string(section.str()) + "." + name);
            }
        }
    }
}

void check_listen_allowed(const GatewayOptions& options) {
    const auto address = boost::asio::ip::make_address(options.listen_address);
    if (address.is_loopback() || !options.keys_file.empty() || options.insecure_no_auth) return;
    throw ConfigError("refusing to listen on non-loopback address " + options.listen_address +
                      " without API keys: the API runs code for whoever can reach it. Create a key (jaild-gateway "
                      "keys --file /etc/jaild/keys.toml create NAME) and pass --keys-file (or gateway.keys_file), "
                      "or, when an authenticating proxy guards the port, pass --insecure-no-auth (or "
                      "gateway.insecure_no_auth = true)");
}

void check_tls_options(const GatewayOptions& options) {
    if (options.tls_cert.empty() == options.tls_key.empty()) return;
    throw ConfigError(options.tls_key.empty()
                          ? "gateway.tls_key (--tls-key) is missing: gateway.tls_cert is set, and TLS needs its key too"
                          : "gateway.tls_cert (--tls-cert) is missing: gateway.tls_key is set, and TLS needs the "
                            "certificate too");
}

}  // namespace jaild::gateway
