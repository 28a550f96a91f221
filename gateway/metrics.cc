#include "gateway/metrics.h"

#include <prometheus/metric_family.h>
#include <prometheus/text_serializer.h>

#include <array>
#include <vector>

namespace jaild::gateway {

namespace prom = prometheus;

namespace {

// 10 ms to 60 s: a hello world's start up to the longest wall limit a deployment usually allows.
const prom::Histogram::BucketBoundaries kRunBuckets{0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60};

constexpr std::array<Reason, 4> kReasons{Reason::auth, Reason::rate, Reason::quota, Reason::validation};

// What a result's "status" may say (docs/api.md), plus the gateway's own "client_gone".
constexpr std::array<std::string_view, 10> kStatuses{"ok",           "runtime_error", "timeout",        "memory_limit",
                                                     "output_limit", "compile_error", "internal_error", "cancelled",
                                                     "client_gone",  "other"};

prom::ClientMetric number(double value, prom::MetricType type) {
    prom::ClientMetric metric;
    (type == prom::MetricType::Counter ? metric.counter.value : metric.gauge.value) = value;
    return metric;
}

prom::MetricFamily family(std::string name, std::string help, prom::MetricType type, double value) {
    return prom::MetricFamily{std::move(name), std::move(help), type, {number(value, type)}};
}

// jaild's answer to the scrape's StatsRequest, as metric families: one table, one loop.
std::vector<prom::MetricFamily> jaild_families(const v1::Stats* stats) {
    std::vector<prom::MetricFamily> out;
    out.push_back(family("jaild_up", "1 when jaild answered this scrape's stats request, else 0",
                         prom::MetricType::Gauge, stats ? 1 : 0));
    if (!stats) return out;
    using T = prom::MetricType;
    const struct {
        const char* name;
        const char* help;
        T type;
        double value;
    } rows[] = {
        {"jaild_sandboxes_in_flight", "Sandboxes running a job now", T::Gauge, double(stats->sandboxes_in_flight())},
        {"jaild_sandboxes_warm", "Warm sandboxes ready for a run", T::Gauge, double(stats->sandboxes_warm())},
        {"jaild_sessions", "Sessions open", T::Gauge, double(stats->sessions_open())},
        {"jaild_sessions_disk_bytes", "Bytes the sessions' files use", T::Gauge, double(stats->sessions_disk_bytes())},
        {"jaild_uids_in_use", "Sandbox uids held", T::Gauge, double(stats->uids_in_use())},
        {"jaild_uids", "Sandbox uids in the pool", T::Gauge, double(stats->uids_total())},
        {"jaild_connections", "Client connections open at jaild", T::Gauge, double(stats->connections())},
        {"jaild_jobs_started_total", "Jobs jaild started since it started", T::Counter, double(stats->jobs_started())},
        {"jaild_jobs_finished_total", "Jobs that ended since jaild started", T::Counter,
         double(stats->jobs_finished())},
        {"jaild_zygotes_ready", "Warm interpreters (zygotes) serving now", T::Gauge, double(stats->zygotes_ready())},
        {"jaild_zygote_runs_total", "Runs started in a zygote since jaild started", T::Counter,
         double(stats->zygote_runs())},
        {"jaild_zygote_starts_total", "Zygotes started: first ones, restarts and replacements", T::Counter,
         double(stats->zygote_starts())},
        {"jaild_zygote_failures_total", "Zygotes that died or did not start", T::Counter,
         double(stats->zygote_failures())},
        {"jaild_sessions_live", "Live sessions whose sandbox is up", T::Gauge, double(stats->sessions_live())},
        {"jaild_live_processes", "Processes running in live sessions", T::Gauge, double(stats->live_processes())},
    };
    for (const auto& row : rows) out.push_back(family(row.name, row.help, row.type, row.value));
    return out;
}

}  // namespace

std::string_view run_status_label(std::string_view status) {
    for (std::string_view known : kStatuses)
        if (known == status) return known;
    return "other";
}

GatewayMetrics::GatewayMetrics()
    : registry_(std::make_shared<prom::Registry>()),
      runs_(prom::BuildCounter()
                .Name("jaild_runs_total")
                .Help("Runs (POST /run, /execute and their session forms) by endpoint, language and outcome")
                .Register(*registry_)),
      wall_(prom::BuildHistogram()
                .Name("jaild_run_wall_seconds")
                .Help("Wall-clock time of finished runs")
                .Register(*registry_)),
      cpu_(prom::BuildHistogram().Name("jaild_run_cpu_seconds").Help("CPU time of finished runs").Register(*registry_)),
      requests_(prom::BuildCounter()
                    .Name("jaild_http_requests_total")
                    .Help("HTTP requests answered, by route pattern and status code")
                    .Register(*registry_)),
      rejections_(prom::BuildCounter()
                      .Name("jaild_rejections_total")
                      .Help("Requests refused before reaching jaild, by reason")
                      .Register(*registry_)) {
    for (const Reason reason : kReasons) rejections_.Add({{"reason", std::string(reason_name(reason))}});
}

void GatewayMetrics::count_run(const RunRecord& run) {
    const std::string language(run.language);
    runs_
        .Add({{"endpoint", std::string(run.endpoint)},
              {"language", language},
              {"status", std::string(run_status_label(run.status))}})
        .Increment();
    if (run.wall_seconds) wall_.Add({{"language", language}}, kRunBuckets).Observe(*run.wall_seconds);
    if (run.cpu_seconds) cpu_.Add({{"language", language}}, kRunBuckets).Observe(*run.cpu_seconds);
}

void GatewayMetrics::count_request(std::string_view route, unsigned status) {
    requests_.Add({{"route", std::string(route)}, {"code", std::to_string(status)}}).Increment();
}

void GatewayMetrics::count_rejection(Reason reason) {
    rejections_.Add({{"reason", std::string(reason_name(reason))}}).Increment();
}

std::string GatewayMetrics::serialize(const v1::Stats* stats) const {
    std::vector<prom::MetricFamily> families = registry_->Collect();
    for (prom::MetricFamily& jaild : jaild_families(stats)) families.push_back(std::move(jaild));
    return prom::TextSerializer().Serialize(families);
}

GatewayMetrics& gateway_metrics() {
    static GatewayMetrics metrics;
    return metrics;
}

}  // namespace jaild::gateway
