#include "gateway/keys_command.h"

#include <fmt/format.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <limits>
#include <optional>

#include "gateway/keys_file.h"

namespace jaild::gateway {

namespace {

constexpr int kFailed = 1;
constexpr int kUsage = 2;
constexpr unsigned kMaxExpiresDays = 36'500;

struct UsageError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

Seconds now() { return std::chrono::floor<std::chrono::seconds>(std::chrono::system_clock::now()); }

void say(const std::string& line) { std::fprintf(stderr, "%s\n", line.c_str()); }

// The limit flags as given, applied to `limits`: "default" removes an override. Returns what was set, for the
// message. Throws UsageError on a value that is neither.
std::string apply_limits(const std::array<std::string, kTenantLimitCount>& given, TenantLimits& limits) {
    std::string changed;
    for (std::size_t i = 0; i < kTenantLimitCount; ++i) {
        const std::string& text = given[i];
        if (text.empty()) continue;
        const TenantLimitInfo& info = kTenantLimits[i];
        std::optional<std::uint64_t> value;
        if (text != "default") {
            std::size_t used = 0;
            unsigned long long number = 0;
            try {
                number = std::stoull(text, &used);
            } catch (const std::exception&) {
                used = 0;
            }
            // TOML integers are signed 64-bit: a larger value would make the file unreadable.
            if (used != text.size() || number < 1 || number > std::numeric_limits<std::int64_t>::max() ||
                text.front() == '-' || text.front() == '+')
                throw UsageError(
                    fmt::format("{} must be an integer from 1 to 2^63-1, or \"default\", not \"{}\"", info.flag, text));
            value = number;
        }
        limits[info.limit] = value;
        changed +=
            fmt::format("{}{} = {}", changed.empty() ? "" : ", ", info.key, value ? std::to_string(*value) : "default");
    }
    return changed;
}

std::string limits_text(const TenantLimits& limits) {
    std::string out;
    for (const auto& info : kTenantLimits)
        if (const auto& value = limits[info.limit]) out += fmt::format(" {}={}", info.key, *value);
    return out.empty() ? " the gateway's defaults" : out;
}

std::string key_state(const ApiKey& key, Seconds at) {
    if (key.revoked) return key.revoked_at ? "revoked " + format_time(*key.revoked_at) : "revoked";
    if (key.expires && *key.expires <= at) return "expired";
    return "active";
}

bool id_taken(const TenantKeys& keys, const std::string& id) {
    for (const auto& [name, tenant] : keys.tenants)
        for (const ApiKey& key : tenant.keys)
            if (key.id == id) return true;
    return false;
}

// Adds a new key to `tenant`; returns the key's text, which is shown once and never stored.
std::string add_key(TenantKeys& keys, Tenant& tenant, const std::string& prefix, unsigned expires_days) {
    std::string text;
    ApiKey key;
    do {
        text = mint_key(prefix);
        key.sha256 = hash_key(text);
        key.id = key_id(key.sha256);
    } while (id_taken(keys, key.id));
    key.prefix = prefix;
    key.created = now();
    if (expires_days) key.expires = key.created + std::chrono::days(expires_days);
    tenant.keys.push_back(key);
    return text;
}

Tenant& existing(TenantKeys& keys, const std::string& name, const std::string& file) {
    const auto found = keys.tenants.find(name);
    if (found == keys.tenants.end()) throw KeysFileError(fmt::format("no tenant \"{}\" in {}", name, file));
    return found->second;
}

void create_command(const KeysArguments& a, TenantKeys& keys) {
    if (!valid_key_prefix(a.prefix)) throw UsageError("--prefix must be 0 to 16 of [A-Za-z0-9_-]");
    const bool is_new = !keys.tenants.contains(a.name);
    Tenant& tenant = keys.tenants[a.name];
    apply_limits(a.limits, tenant.limits);
    const std::string key = add_key(keys, tenant, a.prefix, a.expires_days);
    save_keys_file(a.file, keys);
    std::printf("%s\n", key.c_str());
    const ApiKey& added = tenant.keys.back();
    say(fmt::format("{} tenant \"{}\": added key {}, {}; the key above is not stored and will not be shown again",
                    is_new ? "created" : "existing", a.name, added.id,
                    added.expires ? "expires " + format_time(*added.expires) : "never expires"));
}

void rotate_command(const KeysArguments& a, TenantKeys& keys) {
    Tenant& tenant = existing(keys, a.name, a.file);
    std::string prefix = a.prefix;
    if (!a.prefix_given && !tenant.keys.empty()) prefix = tenant.keys.back().prefix;
    if (!valid_key_prefix(prefix)) throw UsageError("--prefix must be 0 to 16 of [A-Za-z0-9_-]");
    const std::string key = add_key(keys, tenant, prefix, a.expires_days);
    save_keys_file(a.file, keys);
    std::printf("%s\n", key.c_str());
    say(
        fmt::format("tenant \"{}\": added key {}; its older keys stay valid until revoked "
                    "(keys revoke {} --key-id ID)",
                    a.name, tenant.keys.back().id, a.name));
}

void revoke_command(const KeysArguments& a, TenantKeys& keys) {
    Tenant& tenant = existing(keys, a.name, a.file);
    std::vector<std::string> revoked;
    bool found = a.key_id.empty();
    for (ApiKey& key : tenant.keys) {
        if (!a.key_id.empty() && key.id != a.key_id) continue;
        found = true;
        if (key.revoked) continue;
        key.revoked = true;
        key.revoked_at = now();
        revoked.push_back(key.id);
    }
    if (!found) throw KeysFileError(fmt::format("tenant \"{}\" has no key {}", a.name, a.key_id));
    if (revoked.empty())
        return say(fmt::format("tenant \"{}\": nothing to revoke: {} revoked already", a.name,
                               a.key_id.empty() ? "every key is" : "key " + a.key_id + " was"));
    save_keys_file(a.file, keys);
    for (const std::string& id : revoked) say(fmt::format("tenant \"{}\": revoked key {}", a.name, id));
}

void set_command(const KeysArguments& a, TenantKeys& keys) {
    Tenant& tenant = existing(keys, a.name, a.file);
    const std::string changed = apply_limits(a.limits, tenant.limits);
    if (changed.empty()) throw UsageError("set needs at least one limit flag (see keys set --help)");
    save_keys_file(a.file, keys);
    say(fmt::format("tenant \"{}\": {}", a.name, changed));
}

void list_command(const KeysArguments& a) {
    const TenantKeys keys = load_keys_file(a.file);
    if (keys.tenants.empty()) say("no tenants in " + a.file);
    const Seconds at = now();
    for (const auto& [name, tenant] : keys.tenants) {
        std::printf("tenant %s\n  limits:%s\n", name.c_str(), limits_text(tenant.limits).c_str());
        for (const ApiKey& key : tenant.keys)
            std::printf("  key %s  prefix %-6s  created %s  expires %-20s  %s\n", key.id.c_str(),
                        key.prefix.empty() ? "-" : key.prefix.c_str(), format_time(key.created).c_str(),
                        key.expires ? format_time(*key.expires).c_str() : "never", key_state(key, at).c_str());
    }
}

int run_action(const std::string& action, const KeysArguments& a) {
    if (action == "list") {
        list_command(a);
        return 0;
    }
    if (!valid_tenant_name(a.name))
        throw UsageError(fmt::format("tenant name \"{}\" must be 1 to 64 of [A-Za-z0-9._-]", a.name));
    const KeysFileLock lock(a.file);
    TenantKeys keys = load_keys_file(a.file, action == "create");
    if (action == "create") create_command(a, keys);
    if (action == "rotate") rotate_command(a, keys);
    if (action == "revoke") revoke_command(a, keys);
    if (action == "set") set_command(a, keys);
    return 0;
}

}  // namespace

KeysCommand::KeysCommand(CLI::App& app) {
    keys_ = app.add_subcommand("keys", "manage tenants and their API keys in a keys file");
    keys_->require_subcommand(1);
    keys_->add_option("--file", arguments_.file, "the keys file (TOML)")->required();
    KeysArguments& v = arguments_;
    const auto name = [&v](CLI::App* sub) { sub->add_option("NAME", v.name, "the tenant's name")->required(); };
    const auto limits = [&v](CLI::App* sub) {
        for (std::size_t i = 0; i < kTenantLimitCount; ++i)
            sub->add_option(kTenantLimits[i].flag, v.limits[i],
                            std::string(kTenantLimits[i].help) + " (a positive integer, or default)");
    };
    CLI::App* create = keys_->add_subcommand("create", "create the tenant if needed, add a key and print it");
    CLI::App* rotate = keys_->add_subcommand("rotate", "add a key to a tenant and print it; older keys stay valid");
    for (CLI::App* sub : {create, rotate}) {
        name(sub);
        sub->add_option("--prefix", v.prefix, "text the key starts with, such as e2b_ (rotate: the newest key's)");
        sub->add_option("--expires", v.expires_days, "the key expires after this many days (default: never)")
            ->check(CLI::Range(1u, kMaxExpiresDays));
    }
    limits(create);
    CLI::App* revoke = keys_->add_subcommand("revoke", "revoke one of a tenant's keys, or all of them");
    name(revoke);
    revoke->add_option("--key-id", v.key_id, "the key to revoke (keys list shows the ids); default: all");
    CLI::App* set = keys_->add_subcommand("set", "change a tenant's limits");
    name(set);
    limits(set);
    keys_->add_subcommand("list", "tenants, their limits and key ids; never keys");
}

bool KeysCommand::chosen() const { return keys_->parsed(); }

int KeysCommand::run() const {
    const CLI::App* sub = keys_->get_subcommands().front();
    const std::string action = sub->get_name();
    KeysArguments arguments = arguments_;
    arguments.prefix_given = sub->get_option_no_throw("--prefix") && sub->count("--prefix") > 0;
    try {
        return run_action(action, arguments);
    } catch (const UsageError& error) {
        say("jaild-gateway keys " + action + ": " + error.what());
        return kUsage;
    } catch (const std::exception& error) {
        say("jaild-gateway keys " + action + ": " + error.what());
        return kFailed;
    }
}

}  // namespace jaild::gateway
