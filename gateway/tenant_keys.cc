#include "gateway/tenant_keys.h"

#include <fmt/format.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include <algorithm>

namespace jaild::gateway {

const std::array<TenantLimitInfo, kTenantLimitCount> kTenantLimits = {{
    {TenantLimit::concurrent_runs, "max_concurrent_runs", "--max-concurrent-runs", "runs in flight at once"},
    {TenantLimit::runs_per_minute, "runs_per_minute", "--runs-per-minute", "runs started per minute"},
    {TenantLimit::sessions, "max_sessions", "--max-sessions", "sessions held at once"},
    {TenantLimit::session_disk_kb, "max_session_disk_kb", "--max-session-disk-kb",
     "disk of all its sessions together, KiB"},
    {TenantLimit::cpu_ms, "max_cpu_ms", "--max-cpu-ms", "highest cpu_ms a request may ask for"},
    {TenantLimit::wall_ms, "max_wall_ms", "--max-wall-ms", "highest wall_ms a request may ask for"},
    {TenantLimit::memory_kb, "max_memory_kb", "--max-memory-kb", "highest memory_kb a request may ask for"},
    {TenantLimit::output_bytes, "max_output_bytes", "--max-output-bytes", "highest output_bytes a request may ask for"},
}};

namespace {

bool in_set(std::string_view text, std::string_view extra) {
    return std::all_of(text.begin(), text.end(), [&](char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
               extra.find(c) != std::string_view::npos;
    });
}

}  // namespace

bool valid_tenant_name(std::string_view name) { return !name.empty() && name.size() <= 64 && in_set(name, "._-"); }

bool valid_key_prefix(std::string_view prefix) { return prefix.size() <= 16 && in_set(prefix, "_-"); }

std::string mint_key(std::string_view prefix) {
    unsigned char random[32];
    if (RAND_bytes(random, sizeof random) != 1) throw std::runtime_error("OpenSSL's RAND_bytes failed");
    std::string key(prefix);
    if (prefix == kE2bKeyPrefix) {
        constexpr char kHex[] = "0123456789abcdef";
        for (const unsigned char byte : random) {
            key.push_back(kHex[byte >> 4]);
            key.push_back(kHex[byte & 0x0f]);
        }
        OPENSSL_cleanse(random, sizeof random);
        return key;
    }
    unsigned char base64[45];  // 4 * ceil(32 / 3) characters and a NUL
    const int length = EVP_EncodeBlock(base64, random, sizeof random);
    OPENSSL_cleanse(random, sizeof random);
    for (int i = 0; i < length && base64[i] != '='; ++i) {
        const char c = static_cast<char>(base64[i]);
        key.push_back(c == '+' ? '-' : c == '/' ? '_' : c);  // base64url: the key travels in HTTP headers
    }
    OPENSSL_cleanse(base64, sizeof base64);
    return key;
}

Sha256 hash_key(std::string_view key) {
    Sha256 hash{};
    unsigned int size = 0;
    if (EVP_Digest(key.data(), key.size(), hash.data(), &size, EVP_sha256(), nullptr) != 1 || size != hash.size())
        throw std::runtime_error("OpenSSL's SHA-256 failed");
    return hash;
}

std::string to_hex(const Sha256& hash) {
    static constexpr char kHex[] = "0123456789abcdef";
    std::string out;
    for (unsigned char byte : hash) {
        out.push_back(kHex[byte >> 4]);
        out.push_back(kHex[byte & 15]);
    }
    return out;
}

std::string key_id(const Sha256& hash) { return to_hex(hash).substr(0, kKeyIdDigits); }

const char* verdict_text(KeyVerdict verdict) {
    switch (verdict) {
        case KeyVerdict::accepted: return "accepted";
        case KeyVerdict::unknown: return "unknown key";
        case KeyVerdict::revoked: return "the key has been revoked";
        case KeyVerdict::expired: return "the key has expired";
    }
    return "unknown key";
}

KeyMatch find_key(const TenantKeys& keys, std::string_view presented, Seconds now) {
    const Sha256 hash = hash_key(presented);
    KeyMatch match;
    const ApiKey* found = nullptr;
    for (const auto& [name, tenant] : keys.tenants) {
        for (const ApiKey& key : tenant.keys) {
            if (CRYPTO_memcmp(hash.data(), key.sha256.data(), hash.size()) != 0) continue;
            found = &key;
            match.tenant = name;
        }
    }
    if (!found) return match;
    match.key_id = found->id;
    if (found->revoked)
        match.verdict = KeyVerdict::revoked;
    else if (found->expires && *found->expires <= now)
        match.verdict = KeyVerdict::expired;
    else
        match.verdict = KeyVerdict::accepted;
    return match;
}

std::string format_time(Seconds time) {
    const auto day = std::chrono::floor<std::chrono::days>(time);
    const std::chrono::year_month_day date{day};
    const std::chrono::hh_mm_ss clock{time - day};
    return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z", static_cast<int>(date.year()),
                       static_cast<unsigned>(date.month()), static_cast<unsigned>(date.day()), clock.hours().count(),
                       clock.minutes().count(), clock.seconds().count());
}

}  // namespace jaild::gateway
