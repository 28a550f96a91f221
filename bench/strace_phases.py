#!/usr/bin/env python3
"""Groups an `strace -f -ttt -T -y` log of jaild serving one run into phases (bench/profile runs it).

Prints, per phase, the syscall count and the time spent inside those syscalls, then a wall-clock timeline
of the run's landmarks. strace's own overhead inflates every syscall, so compare shares, not milliseconds.
"""
import re
import sys
from collections import defaultdict

LINE = re.compile(r"^(\d+)\s+(\d+\.\d+)\s+(.*)$")
CALL = re.compile(r"^(?:<\.\.\. )?([a-z_0-9]+)[( ]")
DURATION = re.compile(r"<(\d+\.\d+)>\s*$")

# First matching rule wins: (phase, syscall names or None, text that must appear or None).
RULES = [
    ("cgroup create/limits/remove", None, "/sys/fs/cgroup"),
    ("clone (namespaces)", {"clone", "clone3", "fork", "vfork"}, None),
    ("mounts + pivot_root", {"mount", "umount2", "pivot_root", "mount_setattr", "open_tree", "move_mount"}, None),
    ("rootfs files (mkdir, /etc files, devices)", {"mkdir", "mkdirat", "symlink", "symlinkat", "mknod", "mknodat",
                                                  "chmod", "fchmod", "chown", "fchown", "fchownat", "chdir", "chroot"}, None),
    ("seccomp + no_new_privs", {"seccomp"}, None),
    ("credentials + caps", {"setresuid", "setresgid", "setgroups", "capset", "capget", "prctl"}, None),
    ("rlimits", {"prlimit64", "setrlimit"}, None),
    ("hostname + loopback", {"sethostname", "socket", "ioctl"}, None),
    ("execve", {"execve", "execveat"}, None),
    ("wait/reap", {"wait4", "waitid", "pidfd_send_signal", "kill"}, None),
    ("workspace + run_dir", None, "/run/"),
]


def phase_of(name, text):
    for phase, names, needle in RULES:
        if (names is None or name in names) and (needle is None or needle in text):
            return phase
    return "other (" + name + ")"


def main(path):
    totals = defaultdict(lambda: [0, 0.0])
    landmarks = {}
    first = last = None
    with open(path) as log:
        for raw in log:
            match = LINE.match(raw)
            if not match:
                continue
            pid, ts, text = int(match.group(1)), float(match.group(2)), match.group(3)
            call = CALL.match(text)
            if not call or text.startswith("+++") or text.startswith("---"):
                continue
            name = call.group(1)
            first = ts if first is None else first
            last = ts
            duration = DURATION.search(text)
            if "<unfinished" in text:
                continue  # counted at its "resumed" line, which carries the duration
            row = totals[phase_of(name, text)]
            row[0] += 1
            row[1] += float(duration.group(1)) if duration else 0.0
            if name in ("accept4", "accept") and "= -1" not in text:
                landmarks.setdefault("accept", ts)
            if name in ("clone3", "clone"):
                landmarks.setdefault("first clone", ts)
            if name == "pivot_root":
                landmarks.setdefault("pivot_root", ts)
            if name == "seccomp":
                landmarks.setdefault("seccomp", ts)
            if name == "execve" and "= 0" in text:
                landmarks["execve of the program"] = ts
            if name == "exit_group":
                landmarks["last exit_group"] = ts
            if name == "rmdir" and "/sys/fs/cgroup" in text:
                landmarks["last cgroup rmdir"] = ts
    if first is None:
        print("no syscalls in", path)
        return
    inside = sum(t for _, t in totals.values())
    print(f"{'phase':44} | {'calls':>5} | {'ms in syscalls':>14} | share")
    for phase, (count, seconds) in sorted(totals.items(), key=lambda item: -item[1][1]):
        print(f"{phase:44} | {count:5} | {seconds * 1000:14.3f} | {100 * seconds / inside if inside else 0:4.1f}%")
    print(f"{'all':44} | {sum(c for c, _ in totals.values()):5} | {inside * 1000:14.3f} |")
    print()
    print("timeline (ms after the first traced syscall; traced, so slower than real):")
    for name, ts in sorted(landmarks.items(), key=lambda item: item[1]):
        print(f"  {(ts - first) * 1000:8.3f}  {name}")
    print(f"  {(last - first) * 1000:8.3f}  last traced syscall")


if __name__ == "__main__":
    main(sys.argv[1])
