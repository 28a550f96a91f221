// The keys file (gateway/tenant_keys.h): TOML text an operator writes by hand, parsed as the gateway and
// `jaild-gateway keys` parse it, and each accepted set rendered back; a presented key (the input's text) looked up.
//
// Invariants:
// - only KeysFileError leaves the parser, naming the file and a line ("fuzz.toml:N: ...");
// - an accepted file holds only valid tenant names and prefixes, limits of at least 1, and ids that are the
//   first digits of their hashes, each once in the file;
// - render_tenant_keys gives text that parses back to the same set, and renders the same again;
// - find_key names a tenant only for a key the file holds; an unknown key is unknown.
#include <cstddef>
#include <cstdint>
#include <set>
#include <string>
#include <string_view>

#include "fuzz_common.h"
#include "gateway/tenant_keys.h"

using namespace jaild::gateway;

namespace {

void check_accepted(const TenantKeys& keys) {
    std::set<std::string> ids;
    for (const auto& [name, tenant] : keys.tenants) {
        FUZZ_CHECK(valid_tenant_name(name));
        for (const auto& value : tenant.limits.values) FUZZ_CHECK(!value || *value >= 1);
        for (const ApiKey& key : tenant.keys) {
            FUZZ_CHECK(key.id == key_id(key.sha256) && ids.insert(key.id).second);
            FUZZ_CHECK(valid_key_prefix(key.prefix));
            FUZZ_CHECK(!key.revoked_at || key.revoked);
        }
    }
    const std::string text = render_tenant_keys(keys);
    const TenantKeys again = parse_tenant_keys(text, "rendered.toml");
    FUZZ_CHECK(again == keys);
    FUZZ_CHECK(render_tenant_keys(again) == text);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    const Seconds now{std::chrono::seconds(1'800'000'000)};
    TenantKeys keys;
    try {
        keys = parse_tenant_keys(text, "fuzz.toml");
    } catch (const KeysFileError& e) {
        const std::string_view message(e.what());
        FUZZ_CHECK(message.starts_with("fuzz.toml:") && message.size() > 10 && message[10] >= '0' &&
                   message[10] <= '9');
        return 0;
    }
    check_accepted(keys);
    const KeyMatch match = find_key(keys, text, now);
    const Sha256 hash = hash_key(text);
    bool held = false;
    for (const auto& [name, tenant] : keys.tenants)
        for (const ApiKey& key : tenant.keys) held = held || key.sha256 == hash;
    FUZZ_CHECK(held == (match.verdict != KeyVerdict::unknown));
    FUZZ_CHECK(match.verdict != KeyVerdict::unknown || match.tenant.empty());
    return 0;
}
