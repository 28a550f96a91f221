#!/usr/bin/env bash
# Builds the .deb, unpacks it into a scratch root (dpkg -x) and checks it: the files it must hold, a
# maintainer script that enables nothing, and the installed jaild started with the exact ExecStart= line of
# jaild.service, serving a real run through the installed jailctl. The start happens in a private mount
# namespace where the unpacked /usr/bin and /etc/jaild are overlaid and /run/jaild is a fresh tmpfs, so the
# host is not touched.
# Usage: check_package.sh BUILD_DIR
set -euo pipefail
build=$1
cmake --build "$build" --target package >/dev/null
deb=$(ls -t "$build"/jaild_*.deb | head -1)
root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
dpkg -x "$deb" "$root/fs"
dpkg -e "$deb" "$root/control"

for path in usr/bin/jaild usr/bin/jailctl usr/bin/jaild-gateway etc/jaild/jaild.toml usr/lib/systemd/system/jaild.service \
            usr/lib/systemd/system/jaild-gateway.service usr/lib/sysusers.d/jaild.conf usr/lib/tmpfiles.d/jaild.conf \
            usr/share/doc/jaild/README.md usr/share/doc/jaild/security.md usr/share/doc/jaild/languages.md \
            usr/lib/jaild/runner.py etc/jaild/languages.d/python.toml etc/jaild/languages.d/c.toml; do
  [ -e "$root/fs/$path" ] || { echo "FAIL: $path missing from $(basename "$deb")"; exit 1; }
done
# Every file under /etc is a conffile (an administrator's edits survive upgrades).
for conf in $(cd "$root/fs" && find etc -type f); do
  grep -qx "/$conf" "$root/control/conffiles" || { echo "FAIL: /$conf is not a conffile"; exit 1; }
done
if grep -v '^[[:space:]]*#' "$root/control/postinst" | grep -Eq 'systemctl|deb-systemd-helper'; then
  echo "FAIL: postinst enables or starts services"; exit 1
fi
echo "ok: $(basename "$deb") holds the binaries, units, config and languages (conffiles), the runner, sysusers, tmpfiles and docs; postinst enables nothing"

exec_start=$(sed -n 's/^ExecStart=//p' "$root/fs/usr/lib/systemd/system/jaild.service")
cat > "$root/run.sh" <<SH
set -e
mount --make-rprivate /
mount -t overlay overlay -o lowerdir=$root/fs/usr/bin:/usr/bin /usr/bin
mount -t overlay overlay -o lowerdir=$root/fs/usr/lib:/usr/lib /usr/lib
mkdir -p /etc/jaild /run/jaild
mount --bind $root/fs/etc/jaild /etc/jaild
mount -t tmpfs tmpfs /run/jaild
# The ExecStart= line, word for word; uids far from the test suite's.
sed -i 's/^uid_base = .*/uid_base = 62000/' /etc/jaild/jaild.toml 2>/dev/null || true
$exec_start &
pid=\$!
for i in \$(seq 100); do [ -S /run/jaild/jaild.sock ] && break; sleep 0.05; done
out=\$(/usr/bin/jailctl run -- echo installed-jaild-works)
# The installed language files and runner: Python's main() through /usr/lib/jaild/runner.py.
result=\$(/usr/bin/jailctl execute -l python --main --no-stdin --code 'def main(): return {"ok": 42}')
kill -TERM \$pid
wait \$pid
[ "\$out" = installed-jaild-works ]
[ "\$result" = '{"ok": 42}' ]
SH
# The conffile is read-only in the unpacked tree only if dpkg made it so; work on a copy.
cp -a "$root/fs/etc/jaild" "$root/etc-copy" && rm -rf "$root/fs/etc/jaild" && mv "$root/etc-copy" "$root/fs/etc/jaild"
unshare -m bash "$root/run.sh" || { echo "FAIL: the installed jaild did not serve a run with: $exec_start"; exit 1; }
echo "ok: installed jaild started as '$exec_start' served a run and a Python main() through the installed jailctl"
