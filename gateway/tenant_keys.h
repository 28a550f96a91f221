// Tenants and their API keys (docs/operations.md, "Tenants and API keys"): the model of the keys file, its
// TOML text both ways, minting and hashing keys, and looking a presented key up. Pure apart from the random
// bytes of a new key: no files (gateway/keys_file.h reads and writes them), no clock (callers pass `now`).
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace jaild::gateway {

// A keys file that cannot be used: the message names the file and, when it has one, the line.
struct KeysFileError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

using Seconds = std::chrono::sys_seconds;
using Sha256 = std::array<unsigned char, 32>;

// The limits a tenant may override. The order is kTenantLimits' order.
enum class TenantLimit {
    concurrent_runs,
    runs_per_minute,
    sessions,
    session_disk_kb,
    cpu_ms,
    wall_ms,
    memory_kb,
    output_bytes,
};

struct TenantLimitInfo {
    TenantLimit limit;
    const char* key;   // in the keys file
    const char* flag;  // on the command line
    const char* help;
};

inline constexpr std::size_t kTenantLimitCount = 8;
extern const std::array<TenantLimitInfo, kTenantLimitCount> kTenantLimits;

// A tenant's overrides: an absent value means the gateway's default. Every value present is at least 1.
struct TenantLimits {
    std::array<std::optional<std::uint64_t>, kTenantLimitCount> values;

    std::optional<std::uint64_t>& operator[](TenantLimit l) { return values[static_cast<std::size_t>(l)]; }
    const std::optional<std::uint64_t>& operator[](TenantLimit l) const { return values[static_cast<std::size_t>(l)]; }
    bool operator==(const TenantLimits&) const = default;
};

struct ApiKey {
    std::string id;      // the first kKeyIdDigits hex digits of sha256: names the key, reveals nothing usable
    std::string prefix;  // the key's visible prefix ("" or e.g. "e2b_"), so a rotation can keep it
    Sha256 sha256{};     // of the whole key text, prefix included
    Seconds created{};
    std::optional<Seconds> expires;
    bool revoked = false;
    std::optional<Seconds> revoked_at;  // absent when the file says only `revoked = true`

    bool operator==(const ApiKey&) const = default;
};

struct Tenant {
    TenantLimits limits;
    std::vector<ApiKey> keys;  // oldest first

    bool operator==(const Tenant&) const = default;
};

// The whole file: tenants by name.
struct TenantKeys {
    std::map<std::string, Tenant> tenants;

    bool operator==(const TenantKeys&) const = default;
};

inline constexpr std::size_t kKeyIdDigits = 12;

// 1 to 64 of [A-Za-z0-9._-].
bool valid_tenant_name(std::string_view name);
// 0 to 16 of [A-Za-z0-9_-].
bool valid_key_prefix(std::string_view prefix);

// A new key: `prefix` then 256 random bits (OpenSSL's RAND_bytes) as 43 characters of unpadded base64url.
// Throws std::runtime_error when the random generator fails.
std::string mint_key(std::string_view prefix);
// The prefix E2B's SDKs use: keys minted with it are `e2b_` then the 256 bits as 64 lowercase hex digits, the
// form the SDKs that check keys accept (^e2b_[0-9a-f]+$: e2b JS and Python 2.45).
inline constexpr std::string_view kE2bKeyPrefix = "e2b_";
Sha256 hash_key(std::string_view key);
std::string key_id(const Sha256& hash);
std::string to_hex(const Sha256& hash);

// Parses the file's text; `source` names it in messages ("PATH:LINE: ..."). Throws KeysFileError on a TOML
// error, an unknown key, a value of the wrong type or range, a bad tenant name, or two keys with one hash.
TenantKeys parse_tenant_keys(std::string_view text, std::string_view source);
// The text parse_tenant_keys reads back as `keys`: tenants by name, keys oldest first.
std::string render_tenant_keys(const TenantKeys& keys);

enum class KeyVerdict { accepted, unknown, revoked, expired };
const char* verdict_text(KeyVerdict verdict);

struct KeyMatch {
    KeyVerdict verdict = KeyVerdict::unknown;
    std::string tenant;  // set unless unknown
    std::string key_id;  // set unless unknown
};

// Which tenant holds `presented`. Every stored hash is compared, each in constant time (CRYPTO_memcmp), so the
// time taken does not depend on which key matched or how much of it.
KeyMatch find_key(const TenantKeys& keys, std::string_view presented, Seconds now);

// An ISO 8601 UTC time to the second ("2026-12-04T23:20:00Z").
std::string format_time(Seconds time);

}  // namespace jaild::gateway
