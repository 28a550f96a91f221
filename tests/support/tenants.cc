#include "tests/support/tenants.h"

#include <catch2/catch.hpp>

namespace jaild::test {

Jailctl run_keys_command(const std::string& file, std::vector<std::string> args) {
    args.insert(args.begin(), {"keys", "--file", file});
    JailctlCall call;  // the jailctl runner starts any program: here the gateway
    call.program = bin("jaild-gateway");
    call.args = std::move(args);
    call.timeout = std::chrono::seconds(30);
    const Jailctl ran = run_jailctl(call);
    UNSCOPED_INFO("jaild-gateway keys: exit " << ran.exit_code << "\nstdout: " << ran.out << "stderr: " << ran.err);
    return ran;
}

namespace {

std::string keys_command(const std::string& file, std::vector<std::string> args) {
    const Jailctl ran = run_keys_command(file, std::move(args));
    REQUIRE(ran.exit_code == 0);
    return ran.out.empty() ? "" : ran.out.substr(0, ran.out.size() - 1);
}

std::vector<std::string> with(std::vector<std::string> args, const std::vector<std::string>& more) {
    args.insert(args.end(), more.begin(), more.end());
    return args;
}

}  // namespace

TenantsFile::TenantsFile() : path_(dir_.path() + "/keys.toml") {}

std::string TenantsFile::create(const std::string& name, const std::vector<std::string>& flags) {
    return keys_command(path_, with({"create", name}, flags));
}

std::string TenantsFile::rotate(const std::string& name) { return keys_command(path_, {"rotate", name}); }

void TenantsFile::revoke(const std::string& name, const std::string& key_id) {
    keys_command(path_, key_id.empty() ? std::vector<std::string>{"revoke", name}
                                       : std::vector<std::string>{"revoke", name, "--key-id", key_id});
}

KeyedStack::KeyedStack(const TenantsFile& keys, const std::string& extra_toml,
                       const std::vector<std::string>& extra_args)
    : daemon(extra_toml), gateway(daemon.socket(), with({"--keys-file", keys.path()}, extra_args)) {}

}  // namespace jaild::test
