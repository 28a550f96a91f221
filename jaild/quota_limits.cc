#include "jaild/quota_limits.h"

#include <algorithm>
#include <type_traits>

namespace jaild {

namespace {

void fill(v1::Limits& out, const LimitSet& set) {
    out.set_cpu_ms(set.cpu_ms);
    out.set_wall_ms(set.wall_ms);
    out.set_memory_kb(set.memory_kb);
    out.set_fsize_kb(set.fsize_kb);
    out.set_nofile(set.nofile);
    out.set_nproc(set.nproc);
    out.set_output_bytes(set.output_bytes);
    out.set_tmp_kb(set.tmp_kb);
}

}  // namespace

QuotaLimits lowered_limits(const Config& config, const v1::Quota& quota) {
    QuotaLimits out{config.limits_default, config.limits_max};
    const auto lower = [&](auto LimitSet::*field, std::uint64_t cap) {
        if (cap == 0) return;
        using T = std::remove_reference_t<decltype(out.maxima.*field)>;
        out.maxima.*field = static_cast<T>(std::min<std::uint64_t>(out.maxima.*field, cap));
        out.defaults.*field = static_cast<T>(std::min<std::uint64_t>(out.defaults.*field, cap));
    };
    lower(&LimitSet::cpu_ms, quota.max_cpu_ms());
    lower(&LimitSet::wall_ms, quota.max_wall_ms());
    lower(&LimitSet::memory_kb, quota.max_memory_kb());
    lower(&LimitSet::output_bytes, quota.max_output_bytes());
    return out;
}

v1::LimitSets to_proto(const QuotaLimits& limits) {
    v1::LimitSets out;
    fill(*out.mutable_defaults(), limits.defaults);
    fill(*out.mutable_maxima(), limits.maxima);
    return out;
}

}  // namespace jaild
