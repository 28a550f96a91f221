// A keys file of tenants made the way an operator makes it (`jaild-gateway keys` on a scratch file), and a
// gateway in front of a jaild that requires its keys.
#pragma once

#include <string>
#include <vector>

#include "tests/support/gateway.h"
#include "tests/support/harness.h"
#include "tests/support/http_client.h"
#include "tests/support/jailctl.h"

namespace jaild::test {

// Runs build/bin/jaild-gateway keys --file FILE ARGS and returns what it did (exit status, stdout, stderr),
// all of it shown when a check that follows fails.
Jailctl run_keys_command(const std::string& file, std::vector<std::string> args);

class TenantsFile {
public:
    TenantsFile();
    const std::string& path() const { return path_; }
    // `keys create NAME`, `keys rotate NAME`: the key printed. REQUIREs success.
    std::string create(const std::string& name, const std::vector<std::string>& flags = {});
    std::string rotate(const std::string& name);
    // `keys revoke NAME [--key-id ID]`.
    void revoke(const std::string& name, const std::string& key_id = "");

private:
    TempDir dir_;
    std::string path_;
};

// The header that carries `key`.
inline Headers bearer(const std::string& key) { return {{"Authorization", "Bearer " + key}}; }
inline Headers api_key(const std::string& key) { return {{"X-API-Key", key}}; }

// A jaild (with `extra_toml`) and a gateway that reads `keys` (and `extra_args`).
struct KeyedStack {
    KeyedStack(const TenantsFile& keys, const std::string& extra_toml = "",
               const std::vector<std::string>& extra_args = {});
    Daemon daemon;
    GatewayProcess gateway;
    int port() const { return gateway.port(); }
};

}  // namespace jaild::test
