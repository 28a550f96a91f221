#!/usr/bin/env bash
# Checks the shipped systemd units exactly as shipped (PID 1 here is not systemd, so they cannot be started):
#  1. `systemd-analyze verify` passes, with the built binaries overlaid onto /usr/bin in a private mount
#     namespace (verify insists that ExecStart= exists);
#  2. `systemd-analyze security --offline` exposure: jaild-gateway <= 2.0, jaild <= its recorded level;
#  3. jaild passes its own host probe with exactly jaild.service's CapabilityBoundingSet=.
# Usage: check_units.sh SOURCE_DIR BIN_DIR
set -euo pipefail
src=$1 bin=$2
units=("$src/systemd/jaild.service")
[ -x "$bin/jaild-gateway" ] && units+=("$src/systemd/jaild-gateway.service")

stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage/bin"
for b in jaild jaild-gateway jailctl; do [ -x "$bin/$b" ] && cp "$bin/$b" "$stage/bin/"; done

for unit in "${units[@]}"; do
  unshare -m sh -c "mount --make-rprivate / && mount -t overlay overlay -o lowerdir=$stage/bin:/usr/bin /usr/bin &&
                    systemd-analyze verify '$unit'" || { echo "FAIL: systemd-analyze verify $unit"; exit 1; }
  echo "ok: verify $(basename "$unit")"
done

exposure() { systemd-analyze security --offline=true "$1" 2>/dev/null | sed -n 's/.*exposure level for .*: \([0-9.]*\).*/\1/p'; }
check_exposure() {
  local level; level=$(exposure "$1")
  awk -v l="$level" -v max="$2" 'BEGIN { exit !(l <= max) }' || { echo "FAIL: $(basename "$1") exposure $level > $2"; exit 1; }
  echo "ok: $(basename "$1") exposure $level <= $2"
}
check_exposure "$src/systemd/jaild.service" 3.8   # lower it when the unit allows; never raise it silently
[ -x "$bin/jaild-gateway" ] && check_exposure "$src/systemd/jaild-gateway.service" 2.0

caps=$(sed -n 's/^CapabilityBoundingSet=//p' "$src/systemd/jaild.service" | tr ' ' '\n' | sed 's/^CAP_//' |
       tr 'A-Z' 'a-z' | sed 's/^/+/' | paste -sd,)
cat > "$stage/jaild.toml" <<TOML
[sandbox]
run_dir = "$stage/run"
uid_base = 61000
uid_count = 100
TOML
setpriv --bounding-set "-all,$caps" --inh-caps=-all "$bin/jaild" --check --config "$stage/jaild.toml" > "$stage/check.txt" ||
  { cat "$stage/check.txt"; echo "FAIL: jaild --check with jaild.service's capabilities"; exit 1; }
echo "ok: jaild --check passes with only $caps"
