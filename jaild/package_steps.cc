#include "jaild/package_steps.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <chrono>

#include "jaild/supervisor.h"

namespace jaild {

namespace asio = boost::asio;

namespace {

PackagesReady failure(ErrorCode code, std::string message, std::string field = {}) {
    PackagesReady out;
    out.code = code;
    out.message = std::move(message);
    out.field = std::move(field);
    return out;
}

// A build of `key` by this request: pip in its own sandbox (a uid of its own, no network), then published.
asio::awaitable<PackagesReady> build(Supervisor& supervisor, const PackageStore::Requirements& list,
                                     const std::string& key, const RunPlan& like, RunHelper& run,
                                     std::function<bool()>& gone) {
    PackageStore& store = supervisor.packages();
    if (!store.wheelhouse_exists()) {
        const std::string missing = "No matching distribution found for " + list.front().text;
        co_return failure(ErrorCode::invalid_argument,
                          describe_install_failure(missing, list, store.config().wheelhouse), "requirements");
    }
    StartError start_error;
    std::shared_ptr<Lease> lease = supervisor.lease(0, start_error);
    if (!lease) co_return failure(start_error.code, start_error.message);
    std::error_code ec;
    const std::string dir = store.begin(key, lease->uid(), ec);
    if (dir.empty())
        co_return failure(ErrorCode::internal, "preparing the package environment failed: " + ec.message());
    RunPlan install = store.install_plan(list, dir, like);
    const HelperOutcome outcome = co_await run(std::move(install), std::move(lease));
    PackagesReady out;
    out.env = co_await store.finish(key, dir, outcome.ok, ec);
    if (out.env || gone()) co_return out;
    if (outcome.ok)
        co_return failure(ErrorCode::internal, "publishing the package environment failed: " + ec.message());
    if (outcome.program_error)
        co_return failure(ErrorCode::invalid_argument,
                          describe_install_failure(outcome.output, list, store.config().wheelhouse), "requirements");
    spdlog::warn("installing packages {}: {}\n{}", key, outcome.error, outcome.output);
    co_return failure(ErrorCode::internal, "installing the requirements failed: " + outcome.error);
}

}  // namespace

asio::awaitable<PackagesReady> prepare_packages(Supervisor& supervisor, const PackageStore::Requirements& list,
                                                const RunPlan& like, std::string python_version, RunHelper run,
                                                std::function<bool()> gone) {
    PackageStore& store = supervisor.packages();
    if (!store.known()) {
        RunPlan plan = store.inventory_plan(like);
        // GCC 12 coroutines (docs/development.md): named, not a temporary in the co_await
        std::shared_ptr<Lease> own_uid;
        const HelperOutcome inventory = co_await run(std::move(plan), std::move(own_uid));
        if (gone()) co_return PackagesReady{};
        if (!inventory.ok)
            co_return failure(ErrorCode::internal, "reading the sandbox's Python packages failed: " + inventory.error);
        store.set_inventory(inventory.output, python_version);
    }
    PackagesReady out;
    if (store.satisfied(list)) co_return out;
    const std::string key = store.key(list);
    asio::steady_timer pause(co_await asio::this_coro::executor);
    while (!(out.env = store.find(key)) && store.building(key)) {  // another request is building the same set
        pause.expires_after(std::chrono::milliseconds(50));
        co_await pause.async_wait(asio::as_tuple(asio::use_awaitable));
        if (gone()) co_return PackagesReady{};
    }
    if (out.env) co_return out;
    out = co_await build(supervisor, list, key, like, run, gone);
    co_return out;
}

void use_packages(RunPlan& plan, const PackageStore::Hold& env, const PackageStore& store) {
    plan.packages.env = env.path();
    const std::string entry = store.python_path();
    auto existing = std::find_if(plan.env.begin(), plan.env.end(),
                                 [](const std::string& e) { return e.starts_with("PYTHONPATH="); });
    if (existing == plan.env.end())
        plan.env.push_back("PYTHONPATH=" + entry);
    else
        existing->insert(sizeof "PYTHONPATH=" - 1, entry + ":");  // before the request's own
}

}  // namespace jaild
