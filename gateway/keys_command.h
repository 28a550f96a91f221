// `jaild-gateway keys --file PATH create|rotate|revoke|set|list ...`: the operator's interface to the keys file
// (docs/operations.md, "Tenants and API keys"). A key is printed on stdout only by create and rotate.
#pragma once

#include <array>
#include <string>

#include "gateway/tenant_keys.h"

namespace CLI {
class App;
}

namespace jaild::gateway {

// What the command line said.
struct KeysArguments {
    std::string file;
    std::string name;
    std::string prefix;
    bool prefix_given = false;  // rotate keeps the newest key's prefix otherwise
    unsigned expires_days = 0;  // 0: never
    std::string key_id;
    std::array<std::string, kTenantLimitCount> limits;  // as given: "" (not given), a positive integer or "default"
};

class KeysCommand {
public:
    // Adds `keys` and its subcommands to `app`; the values land in this object, which must outlive the parse.
    explicit KeysCommand(CLI::App& app);
    KeysCommand(const KeysCommand&) = delete;
    KeysCommand& operator=(const KeysCommand&) = delete;

    // After app.parse(): whether the command line asked for `keys`.
    bool chosen() const;
    // Carries the command out. Returns the exit status: 0, 1 (the file cannot be used, no such tenant or key),
    // 2 (usage). Messages go to stderr.
    int run() const;

private:
    CLI::App* keys_ = nullptr;
    KeysArguments arguments_;
};

}  // namespace jaild::gateway
