// The keys file's TOML, both ways (the format is in docs/operations.md, "Tenants and API keys").
#include <fmt/format.h>
#include <toml++/toml.h>

#include <algorithm>
#include <set>

#include "gateway/tenant_keys.h"

namespace jaild::gateway {

namespace {

// Where the parse is, for messages: "PATH:LINE: ...".
struct Where {
    std::string_view source;

    [[noreturn]] void fail(const toml::node& node, const std::string& message) const {
        throw KeysFileError(fmt::format("{}:{}: {}", source, node.source().begin.line, message));
    }
};

std::string text_of(const Where& where, const toml::node& node, const std::string& key) {
    const auto value = node.value_exact<std::string>();
    if (!value) where.fail(node, key + " must be a string");
    return *value;
}

Seconds time_of(const Where& where, const toml::node& node, const std::string& key) {
    const auto* value = node.as_date_time();
    if (!value || !value->get().offset)
        where.fail(node, key + " must be a date-time with an offset, such as 2026-01-31T12:00:00Z");
    const toml::date_time& t = value->get();
    const std::chrono::year_month_day date{std::chrono::year(t.date.year), std::chrono::month(t.date.month),
                                           std::chrono::day(t.date.day)};
    const auto local = std::chrono::sys_days(date) + std::chrono::hours(t.time.hour) +
                       std::chrono::minutes(t.time.minute) + std::chrono::seconds(t.time.second);
    const Seconds utc = local - std::chrono::minutes(t.offset->minutes);
    // Years the file can spell back: four digits, and nothing before the epoch.
    if (utc < Seconds{} || utc >= std::chrono::sys_days(std::chrono::year(10000) / 1 / 1))
        where.fail(node, key + " must be a time from 1970 to 9999 (UTC)");
    return utc;
}

Sha256 hash_of(const Where& where, const toml::node& node) {
    const std::string hex = text_of(where, node, "sha256");
    Sha256 hash{};
    const auto digit = [](char c) { return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1; };
    bool ok = hex.size() == 2 * hash.size();
    for (std::size_t i = 0; ok && i < hash.size(); ++i) {
        const int high = digit(hex[2 * i]), low = digit(hex[2 * i + 1]);
        ok = high >= 0 && low >= 0;
        hash[i] = static_cast<unsigned char>(high * 16 + low);
    }
    if (!ok) where.fail(node, "sha256 must be 64 lowercase hex digits (the SHA-256 of the whole key)");
    return hash;
}

void read_revoked(const Where& where, const toml::node& node, ApiKey& key) {
    if (const auto flag = node.value_exact<bool>()) {
        key.revoked = *flag;
        return;
    }
    if (!node.is_date_time()) where.fail(node, "revoked must be true, false or the date-time of the revocation");
    key.revoked = true;
    key.revoked_at = time_of(where, node, "revoked");
}

ApiKey read_key(const Where& where, const toml::node& node) {
    const auto* table = node.as_table();
    if (!table) where.fail(node, "each of a tenant's keys must be a table ([[tenants.NAME.keys]])");
    ApiKey key;
    const toml::node* id = nullptr;
    bool has_hash = false, has_created = false;
    for (const auto& [name, value] : *table) {
        const std::string_view k = name.str();
        if (k == "sha256") {
            key.sha256 = hash_of(where, value);
            has_hash = true;
        } else if (k == "created") {
            key.created = time_of(where, value, "created");
            has_created = true;
        } else if (k == "id") {
            id = &value;
        } else if (k == "prefix") {
            key.prefix = text_of(where, value, "prefix");
            if (!valid_key_prefix(key.prefix)) where.fail(value, "prefix must be 0 to 16 of [A-Za-z0-9_-]");
        } else if (k == "expires") {
            key.expires = time_of(where, value, "expires");
        } else if (k == "revoked") {
            read_revoked(where, value, key);
        } else {
            where.fail(value, fmt::format("unknown key \"{}\" in a key's table", k));
        }
    }
    if (!has_hash) where.fail(node, "a key needs its sha256");
    if (!has_created) where.fail(node, "a key needs its created time");
    key.id = key_id(key.sha256);
    if (id && text_of(where, *id, "id") != key.id)
        where.fail(*id, fmt::format("id must be the first {} digits of sha256: \"{}\"", kKeyIdDigits, key.id));
    return key;
}

std::uint64_t limit_of(const Where& where, const toml::node& node, const char* key) {
    const auto value = node.value_exact<std::int64_t>();
    if (!value || *value < 1) where.fail(node, fmt::format("{} must be an integer of at least 1", key));
    return static_cast<std::uint64_t>(*value);
}

const TenantLimitInfo* limit_named(std::string_view key) {
    for (const auto& info : kTenantLimits)
        if (key == info.key) return &info;
    return nullptr;
}

// `seen`: the ids of the keys read so far. Every hash (and so every id) appears once in the whole file, so a key
// names exactly one tenant.
Tenant read_tenant(const Where& where, const toml::node& node, std::set<std::string>& seen) {
    const auto* table = node.as_table();
    if (!table) where.fail(node, "a tenant must be a table ([tenants.NAME])");
    Tenant tenant;
    for (const auto& [name, value] : *table) {
        const std::string_view k = name.str();
        if (const TenantLimitInfo* info = limit_named(k)) {
            tenant.limits[info->limit] = limit_of(where, value, info->key);
        } else if (k == "keys") {
            const auto* keys = value.as_array();
            if (!keys) where.fail(value, "keys must be an array of tables ([[tenants.NAME.keys]])");
            for (const toml::node& key : *keys) {
                tenant.keys.push_back(read_key(where, key));
                if (!seen.insert(tenant.keys.back().id).second)
                    where.fail(key, fmt::format("key {} appears twice in the file", tenant.keys.back().id));
            }
        } else {
            where.fail(value, fmt::format("unknown key \"{}\" in a tenant's table", k));
        }
    }
    std::stable_sort(tenant.keys.begin(), tenant.keys.end(),
                     [](const ApiKey& a, const ApiKey& b) { return a.created < b.created; });
    return tenant;
}

}  // namespace

TenantKeys parse_tenant_keys(std::string_view text, std::string_view source) {
    toml::table root;
    try {
        root = toml::parse(text, source);
    } catch (const toml::parse_error& e) {
        throw KeysFileError(fmt::format("{}:{}: {}", source, e.source().begin.line, e.description()));
    }
    const Where where{source};
    TenantKeys keys;
    for (const auto& [name, value] : root)
        if (name.str() != "tenants")
            where.fail(value, fmt::format("unknown key \"{}\" (expected [tenants.NAME])", name.str()));
    const auto* tenants = root["tenants"].as_table();
    if (!tenants) {
        if (root.contains("tenants")) where.fail(*root.get("tenants"), "tenants must be a table");
        return keys;
    }
    std::set<std::string> seen;
    for (const auto& [name, value] : *tenants) {
        const std::string tenant(name.str());
        if (!valid_tenant_name(tenant))
            where.fail(value, fmt::format("tenant name \"{}\" must be 1 to 64 of [A-Za-z0-9._-]", tenant));
        keys.tenants.emplace(tenant, read_tenant(where, value, seen));
    }
    return keys;
}

namespace {

// A tenant's name as a TOML key: bare when it can be ('.' would split it), else quoted. Valid names need no
// escapes.
std::string toml_key(const std::string& name) {
    return name.find('.') == std::string::npos ? name : "\"" + name + "\"";
}

void render_key(std::string& out, const std::string& tenant, const ApiKey& key) {
    out += fmt::format("\n[[tenants.{}.keys]]\nid = \"{}\"\n", toml_key(tenant), key.id);
    if (!key.prefix.empty()) out += fmt::format("prefix = \"{}\"\n", key.prefix);
    out += fmt::format("sha256 = \"{}\"\ncreated = {}\n", to_hex(key.sha256), format_time(key.created));
    if (key.expires) out += fmt::format("expires = {}\n", format_time(*key.expires));
    if (key.revoked) out += fmt::format("revoked = {}\n", key.revoked_at ? format_time(*key.revoked_at) : "true");
}

}  // namespace

std::string render_tenant_keys(const TenantKeys& keys) {
    std::string out =
        "# jaild-gateway's tenants and API keys (docs/operations.md, \"Tenants and API keys\"). Keys are kept as\n"
        "# their SHA-256 only. `jaild-gateway keys` rewrites this file: comments added by hand are not kept.\n";
    for (const auto& [name, tenant] : keys.tenants) {
        out += fmt::format("\n[tenants.{}]\n", toml_key(name));
        for (const auto& info : kTenantLimits)
            if (const auto& value = tenant.limits[info.limit]) out += fmt::format("{} = {}\n", info.key, *value);
        for (const ApiKey& key : tenant.keys) render_key(out, name, key);
    }
    return out;
}

}  // namespace jaild::gateway
