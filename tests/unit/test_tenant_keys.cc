// gateway/tenant_keys and gateway/keys_file: minting and hashing keys, the keys file's TOML both ways, key
// lookup with revocation and expiry, the files refused (with the line named), and atomic writes. Pure apart
// from scratch files; tests/gateway/test_gateway_keys.cc runs the real `jaild-gateway keys` command.
#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>

#include "gateway/keys_file.h"
#include "gateway/tenant_keys.h"
#include "tests/support/harness.h"

using namespace jaild::gateway;
using jaild::test::TempDir;
using namespace std::chrono_literals;

namespace {

const Seconds kNoon = std::chrono::sys_days(std::chrono::year(2026) / 12 / 4) + 12h;

ApiKey make_key(const std::string& text, Seconds created) {
    ApiKey key;
    key.sha256 = hash_key(text);
    key.id = key_id(key.sha256);
    key.created = created;
    return key;
}

// A file with one tenant "acme" and the key "k1", written by hand as an operator would.
std::string acme_file() {
    return "# written by hand\n"
           "[tenants.acme]\n"
           "max_sessions = 5 # a comment\n"
           "\n"
           "[[tenants.acme.keys]]\n"
           "sha256 = \"" +
           to_hex(hash_key("k1")) +
           "\"\n"
           "created = 2026-12-04T14:00:00+02:00\n";
}

void write_file(const std::string& path, const std::string& text, mode_t mode) {
    std::ofstream(path) << text;
    REQUIRE(::chmod(path.c_str(), mode) == 0);
}

mode_t mode_of(const std::string& path) {
    struct stat st {};
    REQUIRE(::stat(path.c_str(), &st) == 0);
    return st.st_mode & 07777;
}

}  // namespace

TEST_CASE("tenant keys: a key is a prefix and 256 random bits in base64url, stored as its SHA-256", "[unit][keys]") {
    const std::string key = mint_key("acme_");
    REQUIRE(key.size() == 5 + 43);
    CHECK(key.rfind("acme_", 0) == 0);
    CHECK(key.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_", 5) ==
          std::string::npos);
    CHECK(mint_key("acme_") != key);
    CHECK(mint_key("").size() == 43);
    // E2B's prefix: the bits in lowercase hex, as the SDKs that check keys want them (^e2b_[0-9a-f]+$).
    const std::string e2b = mint_key("e2b_");
    REQUIRE(e2b.size() == 4 + 64);
    CHECK(e2b.rfind("e2b_", 0) == 0);
    CHECK(e2b.find_first_not_of("0123456789abcdef", 4) == std::string::npos);
    CHECK(mint_key("e2b_") != e2b);
    // FIPS 180-2's test vector: SHA-256("abc").
    CHECK(to_hex(hash_key("abc")) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    CHECK(key_id(hash_key("abc")) == "ba7816bf8f01");
}

TEST_CASE("tenant keys: names and prefixes", "[unit][keys]") {
    for (const char* name : {"acme", "Ab.c_d-9", "a"}) CHECK(valid_tenant_name(name));
    CHECK(valid_tenant_name(std::string(64, 'x')));
    CHECK_FALSE(valid_tenant_name(std::string(65, 'x')));
    for (const char* name : {"", "a b", "a/b", "ä", "a\"b", "a\n"}) CHECK_FALSE(valid_tenant_name(name));
    CHECK(valid_key_prefix(""));
    CHECK(valid_key_prefix("e2b_"));
    CHECK_FALSE(valid_key_prefix("e2b."));
    CHECK_FALSE(valid_key_prefix(std::string(17, 'p')));
}

TEST_CASE("tenant keys: a hand-written file parses, and the rendered text reads back the same", "[unit][keys]") {
    const TenantKeys keys = parse_tenant_keys(acme_file(), "keys.toml");
    REQUIRE(keys.tenants.size() == 1);
    const Tenant& acme = keys.tenants.at("acme");
    CHECK(acme.limits[TenantLimit::sessions] == 5u);
    CHECK_FALSE(acme.limits[TenantLimit::cpu_ms]);
    REQUIRE(acme.keys.size() == 1);
    CHECK(acme.keys[0].id == key_id(hash_key("k1")));
    CHECK(acme.keys[0].created == kNoon);  // 14:00 at +02:00
    CHECK_FALSE(acme.keys[0].revoked);

    TenantKeys more = keys;
    Tenant& dotted = more.tenants["team.blue"];
    for (std::size_t i = 0; i < kTenantLimitCount; ++i) dotted.limits.values[i] = 100 + i;
    ApiKey key = make_key("k2", kNoon);
    key.prefix = "e2b_";
    key.expires = kNoon + std::chrono::days(30);
    key.revoked = true;
    key.revoked_at = kNoon + 1h;
    dotted.keys.push_back(key);
    ApiKey flagged = make_key("k3", kNoon + 1s);
    flagged.revoked = true;  // `revoked = true`: no time
    dotted.keys.push_back(flagged);
    const std::string text = render_tenant_keys(more);
    INFO(text);
    CHECK(text.find("[tenants.\"team.blue\"]") != std::string::npos);
    CHECK(text.find("revoked = 2026-12-04T13:00:00Z") != std::string::npos);
    CHECK(text.find("revoked = true") != std::string::npos);
    CHECK(parse_tenant_keys(text, "rendered") == more);
    CHECK(parse_tenant_keys("", "empty").tenants.empty());
}

TEST_CASE("tenant keys: a presented key finds its tenant, or says why not", "[unit][keys]") {
    TenantKeys keys;
    keys.tenants["acme"].keys.push_back(make_key("good", kNoon));
    ApiKey old = make_key("old", kNoon);
    old.revoked = true;
    keys.tenants["acme"].keys.push_back(old);
    ApiKey expiring = make_key("expiring", kNoon);
    expiring.expires = kNoon + std::chrono::days(1);
    keys.tenants["beta"].keys.push_back(expiring);

    KeyMatch match = find_key(keys, "good", kNoon);
    CHECK(match.verdict == KeyVerdict::accepted);
    CHECK(match.tenant == "acme");
    CHECK(match.key_id == key_id(hash_key("good")));

    match = find_key(keys, "goo", kNoon);
    CHECK(match.verdict == KeyVerdict::unknown);
    CHECK(match.tenant.empty());
    CHECK(find_key(keys, "", kNoon).verdict == KeyVerdict::unknown);
    CHECK(find_key(keys, "good ", kNoon).verdict == KeyVerdict::unknown);

    match = find_key(keys, "old", kNoon);
    CHECK(match.verdict == KeyVerdict::revoked);
    CHECK(match.tenant == "acme");
    CHECK(std::string(verdict_text(match.verdict)) == "the key has been revoked");

    CHECK(find_key(keys, "expiring", kNoon + std::chrono::days(1) - 1s).verdict == KeyVerdict::accepted);
    match = find_key(keys, "expiring", kNoon + std::chrono::days(1));
    CHECK(match.verdict == KeyVerdict::expired);
    CHECK(match.tenant == "beta");
}

TEST_CASE("tenant keys: a bad file is refused with its line named", "[unit][keys]") {
    const std::string hash = to_hex(hash_key("k1"));
    const std::string key = "[[tenants.acme.keys]]\nsha256 = \"" + hash + "\"\ncreated = 2026-12-04T12:00:00Z\n";
    struct Case {
        std::string text;
        std::string message;  // expected in the error, "keys.toml:LINE: ..." first
    };
    const std::vector<Case> cases = {
        {"[tenants.acme]\nmax_sessions = 5\nmax_session = 6\n", "keys.toml:3: unknown key \"max_session\""},
        {"[tenants.acme]\nmax_sessions = 0\n", "keys.toml:2: max_sessions must be an integer of at least 1"},
        {"[tenants.acme]\nmax_cpu_ms = \"5\"\n", "keys.toml:2: max_cpu_ms must be an integer"},
        {"[tenant.acme]\n", "keys.toml:1: unknown key \"tenant\""},
        {"[tenants.\"a b\"]\n", "keys.toml:1: tenant name \"a b\" must be 1 to 64"},
        {"[tenants.acme]\n" + key + "colour = \"red\"\n", "keys.toml:5: unknown key \"colour\" in a key's table"},
        {"\n" + key + "id = \"000000000000\"\n", "keys.toml:5: id must be the first 12 digits of sha256"},
        {"[[tenants.acme.keys]]\nsha256 = \"abc\"\ncreated = 2026-12-04T12:00:00Z\n",
         "keys.toml:2: sha256 must be 64 lowercase hex digits"},
        {"[[tenants.acme.keys]]\nsha256 = \"" + hash + "\"\ncreated = 2026-12-04T12:00:00\n",
         "keys.toml:3: created must be a date-time with an offset"},
        {"[[tenants.acme.keys]]\nsha256 = \"" + hash + "\"\n", "keys.toml:1: a key needs its created time"},
        {key + "revoked = \"yes\"\n", "keys.toml:4: revoked must be true, false or the date-time"},
        {key + "expires = 1969-12-31T23:59:59Z\n", "keys.toml:4: expires must be a time from 1970 to 9999"},
        {key + "expires = 9999-12-31T23:00:00-02:00\n", "keys.toml:4: expires must be a time from 1970 to 9999"},
        {key + "\n" + key, "keys.toml:5: key " + hash.substr(0, 12) + " appears twice"},
        {"[tenants.acme]\nmax_sessions = 5\nmax_sessions = 6\n", "keys.toml:3:"},  // a TOML error: toml++'s words
        {"[tenants.acme\n", "keys.toml:1:"},
    };
    for (const Case& c : cases) {
        INFO(c.text);
        REQUIRE_THROWS_AS(parse_tenant_keys(c.text, "keys.toml"), KeysFileError);
        try {
            parse_tenant_keys(c.text, "keys.toml");
        } catch (const KeysFileError& error) {
            CHECK_THAT(error.what(), Catch::StartsWith(c.message.substr(0, c.message.find(' '))));
            CHECK_THAT(error.what(), Catch::Contains(c.message));
        }
    }
}

TEST_CASE("tenant keys: a file others may read or write is refused, a missing one is empty when allowed",
          "[unit][keys]") {
    TempDir dir;
    const std::string path = dir.path() + "/keys.toml";
    CHECK_THROWS_WITH(load_keys_file(path), Catch::Contains("No such file"));
    CHECK(load_keys_file(path, true).tenants.empty());

    write_file(path, acme_file(), 0644);
    CHECK_THROWS_WITH(load_keys_file(path), Catch::Contains("refused: mode 0644 lets every user read it"));
    REQUIRE(::chmod(path.c_str(), 0642) == 0);
    CHECK_THROWS_WITH(load_keys_file(path), Catch::Contains("refused: mode 0642 lets every user change it"));
    REQUIRE(::chmod(path.c_str(), 0640) == 0);
    CHECK(load_keys_file(path).tenants.at("acme").keys.size() == 1);

    CHECK_THROWS_WITH(load_keys_file(dir.path()), Catch::Contains("not a regular file"));
    write_file(path, "[tenants.acme]\nmax_sessions = -1\n", 0600);
    CHECK_THROWS_WITH(load_keys_file(path), Catch::Contains(path + ":2: max_sessions"));
}

TEST_CASE("tenant keys: a write replaces the file whole, new ones 0640, old ones keep their mode", "[unit][keys]") {
    TempDir dir;
    const std::string path = dir.path() + "/keys.toml";
    TenantKeys keys;
    keys.tenants["acme"].keys.push_back(make_key("k1", kNoon));
    const mode_t umask_before = ::umask(0077);  // a new file is 0640 whatever the umask
    save_keys_file(path, keys);
    ::umask(umask_before);
    CHECK(mode_of(path) == 0640);
    CHECK(load_keys_file(path) == keys);

    REQUIRE(::chmod(path.c_str(), 0600) == 0);
    keys.tenants["beta"].keys.push_back(make_key("k2", kNoon));
    save_keys_file(path, keys);
    CHECK(mode_of(path) == 0600);
    CHECK(load_keys_file(path) == keys);

    // A symlinked file: the target is replaced, the link stays.
    const std::string link = dir.path() + "/link.toml";
    std::filesystem::create_symlink(path, link);
    keys.tenants.erase("acme");
    save_keys_file(link, keys);
    CHECK(std::filesystem::is_symlink(link));
    CHECK(load_keys_file(path) == keys);

    // Nothing else is left in the directory: the temporary files were renamed.
    std::size_t entries = 0;
    for ([[maybe_unused]] const auto& entry : std::filesystem::directory_iterator(dir.path())) ++entries;
    CHECK(entries == 2);

    // A directory that cannot take the temporary file: an error naming the file.
    CHECK_THROWS_WITH(save_keys_file(dir.path() + "/missing/keys.toml", keys),
                      Catch::Contains("cannot create a temporary file beside " + dir.path() + "/missing/keys.toml"));
}
