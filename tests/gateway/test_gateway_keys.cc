// `jaild-gateway keys` as an operator runs it: the real binary on a scratch keys file, its stdout, stderr and
// exit status checked, and the file it leaves read back with gateway/keys_file.
#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <fstream>
#include <regex>
#include <sstream>

#include "gateway/keys_file.h"
#include "tests/support/harness.h"
#include "tests/support/jailctl.h"
#include "tests/support/tenants.h"

using namespace jaild::test;
using namespace jaild::gateway;

namespace {

std::string read_text(const std::string& path) {
    std::ostringstream text;
    text << std::ifstream(path).rdbuf();
    return text.str();
}

struct stat stat_of(const std::string& path) {
    struct stat st {};
    REQUIRE(::stat(path.c_str(), &st) == 0);
    return st;
}

Seconds now() { return std::chrono::floor<std::chrono::seconds>(std::chrono::system_clock::now()); }

// The key a create or rotate printed: its one line of stdout, checked for shape (E2B's prefix: 64 hex digits).
std::string printed_key(const Jailctl& ran, const std::string& prefix) {
    REQUIRE(ran.exit_code == 0);
    const std::string body = prefix == "e2b_" ? "[0-9a-f]{64}" : "[A-Za-z0-9_-]{43}";
    CHECK(std::regex_match(ran.out, std::regex(prefix + body + "\n")));
    return ran.out.substr(0, ran.out.size() - 1);
}

// The line of `list` that names the key `id`.
std::string list_line(const std::string& listing, const std::string& id) {
    const std::size_t at = listing.find("key " + id);
    if (at == std::string::npos) return "";
    return listing.substr(at, listing.find('\n', at) - at);
}

}  // namespace

TEST_CASE("gateway keys: create, list, rotate and revoke on a real keys file", "[gateway][keys]") {
    TempDir dir;
    const std::string file = dir.path() + "/keys.toml";

    // create: the tenant and its first key; the key on stdout, once, and only its hash in the file (0640).
    const std::string first = printed_key(
        run_keys_command(file, {"create", "acme", "--prefix", "e2b_", "--expires", "30", "--max-sessions", "5"}),
        "e2b_");
    CHECK((stat_of(file).st_mode & 07777) == 0640);
    CHECK(read_text(file).find(first) == std::string::npos);
    TenantKeys stored = load_keys_file(file);
    KeyMatch match = find_key(stored, first, now());
    CHECK(match.verdict == KeyVerdict::accepted);
    CHECK(match.tenant == "acme");
    const std::string first_id = match.key_id;
    const Tenant& acme = stored.tenants.at("acme");
    CHECK(acme.limits[TenantLimit::sessions] == 5u);
    REQUIRE(acme.keys.size() == 1);
    CHECK(acme.keys[0].expires == acme.keys[0].created + std::chrono::days(30));

    // list: the id, the expiry and the limits; neither the key nor its hash.
    Jailctl listed = run_keys_command(file, {"list"});
    REQUIRE(listed.exit_code == 0);
    CHECK(listed.out.find("tenant acme\n  limits: max_sessions=5\n") != std::string::npos);
    CHECK(list_line(listed.out, first_id).find("expires " + format_time(*acme.keys[0].expires)) != std::string::npos);
    for (const std::string& secret : {first, to_hex(hash_key(first))}) {
        CHECK(listed.out.find(secret) == std::string::npos);
        CHECK(listed.err.find(secret) == std::string::npos);
    }

    // rotate: a second key with the same prefix; both valid until one is revoked.
    const std::string second = printed_key(run_keys_command(file, {"rotate", "acme"}), "e2b_");
    CHECK(second != first);
    stored = load_keys_file(file);
    REQUIRE(stored.tenants.at("acme").keys.size() == 2);
    const std::string second_id = find_key(stored, second, now()).key_id;
    CHECK(find_key(stored, second, now()).verdict == KeyVerdict::accepted);
    CHECK(find_key(stored, first, now()).verdict == KeyVerdict::accepted);

    // revoke --key-id: exactly that key.
    REQUIRE(run_keys_command(file, {"revoke", "acme", "--key-id", first_id}).exit_code == 0);
    stored = load_keys_file(file);
    CHECK(find_key(stored, first, now()).verdict == KeyVerdict::revoked);
    CHECK(find_key(stored, second, now()).verdict == KeyVerdict::accepted);
    listed = run_keys_command(file, {"list"});
    CHECK_THAT(list_line(listed.out, first_id), Catch::Contains("revoked 20"));
    CHECK_THAT(list_line(listed.out, second_id), Catch::EndsWith("active"));
    CHECK((stat_of(file).st_mode & 07777) == 0640);

    // set: limits changed and cleared; revoke without an id: every key.
    REQUIRE(run_keys_command(file, {"set", "acme", "--max-sessions", "default", "--runs-per-minute", "60"}).exit_code ==
            0);
    REQUIRE(run_keys_command(file, {"revoke", "acme"}).exit_code == 0);
    stored = load_keys_file(file);
    CHECK(stored.tenants.at("acme").limits[TenantLimit::runs_per_minute] == 60u);
    CHECK_FALSE(stored.tenants.at("acme").limits[TenantLimit::sessions]);
    CHECK(find_key(stored, second, now()).verdict == KeyVerdict::revoked);
    CHECK((stat_of(file).st_mode & 07777) == 0640);
}

TEST_CASE("gateway keys: a write keeps the file's mode and owner", "[gateway][keys]") {
    TempDir dir;
    const std::string file = dir.path() + "/keys.toml";
    printed_key(run_keys_command(file, {"create", "acme"}), "");
    REQUIRE(::chmod(file.c_str(), 0600) == 0);
    const bool root = ::geteuid() == 0;
    const uid_t owner = root ? kUidBase + kUidCount - 1 : ::geteuid();
    const gid_t group = root ? kUidBase + kUidCount - 2 : ::getegid();
    if (root) REQUIRE(::chown(file.c_str(), owner, group) == 0);
    printed_key(run_keys_command(file, {"rotate", "acme"}), "");
    const struct stat st = stat_of(file);
    CHECK((st.st_mode & 07777) == 0600);
    CHECK(st.st_uid == owner);
    CHECK(st.st_gid == group);
}

TEST_CASE("gateway keys: usage errors exit 2, an unusable file 1 with the reason, and nothing is written",
          "[gateway][keys]") {
    TempDir dir;
    const std::string file = dir.path() + "/keys.toml";
    CHECK(run_keys_command(file, {}).exit_code == 2);
    Jailctl ran = run_keys_command(file, {"create", "bad name"});
    CHECK(ran.exit_code == 2);
    CHECK_THAT(ran.err, Catch::Contains("tenant name \"bad name\" must be 1 to 64 of [A-Za-z0-9._-]"));
    CHECK(run_keys_command(file, {"create", "acme", "--expires", "0"}).exit_code == 2);
    CHECK(run_keys_command(file, {"create", "acme", "--prefix", "e2b."}).exit_code == 2);
    for (const char* value : {"lots", "0", "-1", "9223372036854775808", "1e3"})
        CHECK(run_keys_command(file, {"create", "acme", "--max-cpu-ms", value}).exit_code == 2);
    CHECK(ran.out.empty());
    CHECK(::access(file.c_str(), F_OK) != 0);  // no file was made by any of them

    printed_key(run_keys_command(file, {"create", "acme"}), "");
    CHECK(run_keys_command(file, {"set", "acme"}).exit_code == 2);
    ran = run_keys_command(file, {"rotate", "ghost"});
    CHECK(ran.exit_code == 1);
    CHECK_THAT(ran.err, Catch::Contains("no tenant \"ghost\""));
    ran = run_keys_command(file, {"revoke", "acme", "--key-id", "000000000000"});
    CHECK(ran.exit_code == 1);
    CHECK_THAT(ran.err, Catch::Contains("tenant \"acme\" has no key 000000000000"));

    // A file every user may read: refused, left as it was, and no key printed.
    const std::string before = read_text(file);
    REQUIRE(::chmod(file.c_str(), 0644) == 0);
    for (const std::vector<std::string>& args : {std::vector<std::string>{"list"}, {"rotate", "acme"}}) {
        ran = run_keys_command(file, args);
        CHECK(ran.exit_code == 1);
        CHECK(ran.out.empty());
        CHECK_THAT(ran.err, Catch::Contains("refused: mode 0644 lets every user read it"));
    }
    CHECK(read_text(file) == before);

    // A file with a mistake: refused with its line.
    std::ofstream(file) << "[tenants.acme]\nmax_sessions = 5\nmax_sesions = 6\n";
    REQUIRE(::chmod(file.c_str(), 0640) == 0);
    ran = run_keys_command(file, {"list"});
    CHECK(ran.exit_code == 1);
    CHECK_THAT(ran.err, Catch::Contains(file + ":3: unknown key \"max_sesions\" in a tenant's table"));
}
