#!/usr/bin/env bash
# Builds the .deb, unpacks it into a scratch root (dpkg -x) and checks it: the files it must hold, a
# maintainer script that enables nothing, the installed jaild started with the exact ExecStart= line of
# jaild.service (as root, like the unit), serving a real run through the installed jailctl, and the installed
# jaild-gateway started with the exact ExecStart= line of jaild-gateway.service as the unit's user would be
# (an unused uid, group jaild as a supplementary group, no capabilities, no_new_privs), answering /health,
# /run and /execute over HTTP. The starts happen in private mount and network namespaces where the unpacked
# /usr/bin and /etc/jaild are overlaid and /run/jaild is a fresh tmpfs, so the host (and its port 8080) is not
# touched.
# Usage: check_package.sh BUILD_DIR
set -euo pipefail
build=$1
cmake --build "$build" --target package >/dev/null
deb=$(ls -t "$build"/jaild_*.deb | head -1)
root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
dpkg -x "$deb" "$root/fs"
dpkg -e "$deb" "$root/control"

for path in usr/bin/jaild usr/bin/jailctl usr/bin/jaild-gateway etc/jaild/jaild.toml etc/jaild/gateway.toml \
            usr/lib/systemd/system/jaild.service \
            usr/lib/systemd/system/jaild-gateway.service usr/lib/sysusers.d/jaild.conf usr/lib/tmpfiles.d/jaild.conf \
            usr/share/doc/jaild/README.md usr/share/doc/jaild/security.md usr/share/doc/jaild/languages.md \
            usr/share/doc/jaild/deploy.md usr/share/doc/jaild/api.md usr/share/doc/jaild/openapi.yaml \
            usr/lib/jaild/runner.py usr/lib/jaild/jaild_warm.py etc/jaild/languages.d/python.toml \
            etc/jaild/languages.d/c.toml usr/libexec/jaild/jaild-reaper usr/libexec/jaild/jaild-zygote; do
  [ -e "$root/fs/$path" ] || { echo "FAIL: $path missing from $(basename "$deb")"; exit 1; }
done
# Every file under /etc is a conffile (an administrator's edits survive upgrades).
for conf in $(cd "$root/fs" && find etc -type f); do
  grep -qx "/$conf" "$root/control/conffiles" || { echo "FAIL: /$conf is not a conffile"; exit 1; }
done
if grep -v '^[[:space:]]*#' "$root/control/postinst" | grep -Eq 'systemctl|deb-systemd-helper'; then
  echo "FAIL: postinst enables or starts services"; exit 1
fi
# Stripped binaries: the package is not a debugger's kit (debug info would be most of its size).
for binary in usr/bin/jaild usr/bin/jailctl usr/bin/jaild-gateway usr/libexec/jaild/jaild-reaper \
              usr/libexec/jaild/jaild-zygote; do
  if readelf -S "$root/fs/$binary" | grep -q '\.debug_info'; then
    echo "FAIL: /$binary is not stripped"; exit 1
  fi
done
echo "ok: stripped binaries, $(sed -n 's/^Installed-Size: //p' "$root/control/control") KiB installed"
echo "ok: $(basename "$deb") holds the binaries, units, config and languages (conffiles), the runner, sysusers, tmpfiles and docs; postinst enables nothing"

exec_start=$(sed -n 's/^ExecStart=//p' "$root/fs/usr/lib/systemd/system/jaild.service")
gateway_start=$(sed -n 's/^ExecStart=//p' "$root/fs/usr/lib/systemd/system/jaild-gateway.service")
grep -q '^DynamicUser=yes' "$root/fs/usr/lib/systemd/system/jaild-gateway.service" &&
  grep -q '^SupplementaryGroups=jaild' "$root/fs/usr/lib/systemd/system/jaild-gateway.service" ||
  { echo "FAIL: jaild-gateway.service is not DynamicUser=yes with SupplementaryGroups=jaild"; exit 1; }
# The group the package's sysusers.d creates; in this namespace only, when the host has none yet.
cp /etc/group "$root/group"
getent group jaild >/dev/null || echo "jaild:x:$(awk -F: '$3 > 900 && $3 < 999 { used[$3] } END { for (g = 998; g in used; g--); print g }' /etc/group):" >> "$root/group"
cat > "$root/run.sh" <<SH
set -e
mount --make-rprivate /
mount -t overlay overlay -o lowerdir=$root/fs/usr/bin:/usr/bin /usr/bin
mount -t overlay overlay -o lowerdir=$root/fs/usr/lib:/usr/lib /usr/lib
mount -t overlay overlay -o lowerdir=$root/fs/usr/libexec:/usr/libexec /usr/libexec
mkdir -p /etc/jaild /run/jaild
mount --bind $root/fs/etc/jaild /etc/jaild
mount -t tmpfs tmpfs /run/jaild
# Sessions' state (/var/lib/jaild) on a tmpfs too: the package's jaild must not write the host's /var/lib.
mount -t tmpfs tmpfs /var/lib
mount --bind $root/group /etc/group
ip link set lo up
# The ExecStart= line, word for word; uids far from the test suite's.
sed -i 's/^uid_base = .*/uid_base = 62000/' /etc/jaild/jaild.toml 2>/dev/null || true
$exec_start &
pid=\$!
gw=
# A failing check below must not leave the daemons running (holding this test's output open, ctest would
# wait for them until its timeout).
trap 'kill -TERM \$pid \$gw 2>/dev/null || true' EXIT
for i in \$(seq 100); do [ -S /run/jaild/jaild.sock ] && break; sleep 0.05; done
out=\$(/usr/bin/jailctl run -- echo installed-jaild-works)
# The installed jaild found the installed jaild-reaper (/usr/libexec/jaild): it is the sandbox's PID 1.
pid1=\$(/usr/bin/jailctl run -- cat /proc/1/cmdline | tr '\\0' ' ')
case "\$pid1" in "jaild-reaper "*) ;; *) echo "FAIL: a run's PID 1 is '\$pid1', not jaild-reaper"; exit 1;; esac
# The installed language files and runner: Python's main() through /usr/lib/jaild/runner.py.
result=\$(/usr/bin/jailctl execute -l python --main --no-stdin --code 'def main(): return {"ok": 42}')
# The gateway as systemd would start it: a DynamicUser= uid (61184-65519, away from the sandbox uids), group
# jaild as a supplementary group, no capabilities at all, no_new_privs.
jaild_gid=\$(getent group jaild | cut -d: -f3)
setpriv --reuid=63500 --regid=63500 --groups=\$jaild_gid --bounding-set=-all --inh-caps=-all --ambient-caps=-all \\
        --no-new-privs $gateway_start &
gw=\$!
for i in \$(seq 100); do curl -sf http://127.0.0.1:8080/health >/dev/null && break; sleep 0.05; done
health=\$(curl -s http://127.0.0.1:8080/health)
http_run=\$(curl -s -X POST http://127.0.0.1:8080/run -H 'Content-Type: application/json' -d '{"command": ["echo", "via-gateway"]}')
http_exec=\$(curl -s -X POST http://127.0.0.1:8080/execute -H 'Content-Type: application/json' -d '{"script": "def main():\\n    return 6 * 7"}')
kill -TERM \$gw
wait \$gw
# A keys file made as docs/operations.md says (root:jaild 0640) and named in gateway.toml: the unit's user reads
# it through its group jaild, and requires its key.
key=\$(/usr/bin/jaild-gateway keys --file /etc/jaild/keys.toml create packaged 2>/dev/null)
chgrp jaild /etc/jaild/keys.toml && chmod 0640 /etc/jaild/keys.toml
echo 'keys_file = "/etc/jaild/keys.toml"' >> /etc/jaild/gateway.toml
setpriv --reuid=63500 --regid=63500 --groups=\$jaild_gid --bounding-set=-all --inh-caps=-all --ambient-caps=-all \\
        --no-new-privs $gateway_start &
gw=\$!
for i in \$(seq 100); do curl -sf http://127.0.0.1:8080/health >/dev/null && break; sleep 0.05; done
no_key=\$(curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:8080/languages)
with_key=\$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer \$key" http://127.0.0.1:8080/languages)
kill -TERM \$gw
wait \$gw
[ "\$no_key" = 401 ] && [ "\$with_key" = 200 ] || { echo "gateway with keys: \$no_key without a key, \$with_key with one"; exit 1; }
kill -TERM \$pid
wait \$pid
[ "\$out" = installed-jaild-works ]
[ "\$result" = '{"ok": 42}' ]
[ "\$health" = '{"status":"healthy"}' ] || { echo "gateway /health: \$health"; exit 1; }
case "\$http_run" in *'"stdout":"via-gateway\\n"'*'"status":"ok"'*) ;; *) echo "gateway /run: \$http_run"; exit 1;; esac
case "\$http_exec" in *'"status":"ok"'*'"result":42'*) ;; *) echo "gateway /execute: \$http_exec"; exit 1;; esac
SH
# The conffile is read-only in the unpacked tree only if dpkg made it so; work on a copy.
cp -a "$root/fs/etc/jaild" "$root/etc-copy" && rm -rf "$root/fs/etc/jaild" && mv "$root/etc-copy" "$root/fs/etc/jaild"
unshare -m -n bash "$root/run.sh" ||
  { echo "FAIL: the installed jaild ($exec_start) and jaild-gateway ($gateway_start, as its unit's user) did not serve"; exit 1; }
echo "ok: installed jaild started as '$exec_start' served a run and a Python main() through the installed jailctl"
echo "ok: installed jaild-gateway started as '$gateway_start' (uid 63500, group jaild, no capabilities) served /health, /run and /execute, and with /etc/jaild/keys.toml (root:jaild 0640) required its key"
