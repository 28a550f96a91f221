# Shared by bench/run and bench/profile (sourced, not run): locating binaries, a scratch jaild and gateway,
# and reading a process's footprint. Scratch daemons use uids 63000-63199 so they never meet the tests'
# (61000-61099) or a developer's (60000, 62000); JAILD_BENCH_UID_BASE moves the range (e.g. 64000 while a test
# suite runs with JAILD_TEST_UID_BASE=63000).

BENCH_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BIN=${JAILD_BIN:-$BENCH_ROOT/build/bin}
SCRATCH=""
JAILD_PID=""
GATEWAY_PID=""

need_bins() {
    local missing=0 name
    for name in "$@"; do
        [[ -x $BIN/$name ]] || { echo "bench: $BIN/$name is missing" >&2; missing=1; }
    done
    if ((missing)); then
        echo "bench: build them first: cmake --build build --target jaild jailctl jaild-gateway jaild-bench-spawn jaild-bench-http" >&2
        echo "bench: (or point JAILD_BIN at another build's bin/)" >&2
        exit 1
    fi
}

cleanup() {
    [[ -n $GATEWAY_PID ]] && kill "$GATEWAY_PID" 2>/dev/null && wait "$GATEWAY_PID" 2>/dev/null
    [[ -n $JAILD_PID ]] && kill "$JAILD_PID" 2>/dev/null && wait "$JAILD_PID" 2>/dev/null
    GATEWAY_PID="" JAILD_PID=""
    [[ -n $SCRATCH && -d $SCRATCH ]] && rm -rf "$SCRATCH"
    return 0
}

# Starts jaild on $SCRATCH/jaild.sock with the default limits and logging; sets JAILD_PID and SOCK.
# JAILD_EXTRA_TOML, when set, is appended to its configuration (tables the file above does not have).
start_jaild() {
    SCRATCH=$(mktemp -d /tmp/jaild-bench-XXXXXX)
    chmod 755 "$SCRATCH"
    SOCK=$SCRATCH/jaild.sock
    cat >"$SCRATCH/jaild.toml" <<TOML
[server]
socket = "$SOCK"
socket_group = ""
max_jobs = 128
[sandbox]
uid_base = ${JAILD_BENCH_UID_BASE:-63000}
uid_count = 200
run_dir = "$SCRATCH/run"
[languages]
dir = "$BENCH_ROOT/languages"
support_dir = "$BENCH_ROOT/languages/support"
${JAILD_EXTRA_TOML:-}
TOML
    "$BIN/jaild" --config "$SCRATCH/jaild.toml" 2>"$SCRATCH/jaild.log" &
    JAILD_PID=$!
    local i
    for i in $(seq 100); do
        [[ -S $SOCK ]] && "$BIN/jailctl" --socket "$SOCK" run -- /bin/true 2>/dev/null && return 0
        kill -0 "$JAILD_PID" 2>/dev/null || break
        sleep 0.1
    done
    echo "bench: jaild did not start:" >&2
    cat "$SCRATCH/jaild.log" >&2
    exit 1
}

# Starts the gateway on a free loopback port; sets GATEWAY_PID and PORT.
start_gateway() {
    PORT=$((20000 + RANDOM % 20000))
    while ss -ltn "sport = :$PORT" | grep -q LISTEN; do PORT=$((PORT + 1)); done
    # The bench measures the service, not a caller's quotas: one caller may run as much as jaild takes.
    printf '[tenant_defaults]\nmax_concurrent_runs = 100000\nruns_per_minute = 60000000\n' >"$SCRATCH/gateway.toml"
    "$BIN/jaild-gateway" --listen "127.0.0.1:$PORT" --jaild-socket "$SOCK" --config "$SCRATCH/gateway.toml" \
        2>"$SCRATCH/gateway.log" &
    GATEWAY_PID=$!
    local i
    for i in $(seq 100); do
        curl -sf "http://127.0.0.1:$PORT/health" >/dev/null 2>&1 && return 0
        sleep 0.1
    done
    echo "bench: the gateway did not start:" >&2
    cat "$SCRATCH/gateway.log" >&2
    exit 1
}

# "RSS_KB FDS THREADS" of a process.
footprint() {
    local pid=$1 rss threads fds
    rss=$(awk '/^VmRSS:/ {print $2}' "/proc/$pid/status")
    threads=$(awk '/^Threads:/ {print $2}' "/proc/$pid/status")
    fds=$(ls "/proc/$pid/fd" | wc -l)
    echo "$rss $fds $threads"
}

# Field KEY of a bench program's `key=value` line.
field() { tr ' ' '\n' <<<"$1" | awk -F= -v k="$2" '$1 == k {print $2}'; }
