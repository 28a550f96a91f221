#!/usr/bin/env python3
"""Three real nodes behind HAProxy (tests/scaleout/cluster): the scale-out promises of docs/scale-out.md.

60 stateless runs reach all three nodes; 20 runs in one session all see its files; seed 002's user_id
requests stick to one node; with one node killed, stateless runs still all succeed and its sessions answer
503 naming it; back, they work again with their files; nothing is left after `cluster down`.
Root only. Usage: test_cluster.py BIN_DIR   (exit 0 passed, 1 failed, 77 skipped)
"""
import http.client
import json
import os
import shutil
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
CLUSTER = os.path.join(HERE, "cluster")
failures = []


def check(what, ok, detail=""):
    print(("ok   " if ok else "FAIL ") + what + (f": {detail}" if detail and not ok else ""), flush=True)
    if not ok:
        failures.append(what)


class Balancer:
    def __init__(self, url, key):
        self.host, self.port = url.removeprefix("http://").split(":")
        self.key = key

    def call(self, method, path, body=None):
        conn = http.client.HTTPConnection(self.host, int(self.port), timeout=60)
        headers = {"X-API-Key": self.key}
        if body is not None:
            headers["Content-Type"] = "application/json"
        conn.request(method, path, body=None if body is None else json.dumps(body), headers=headers)
        response = conn.getresponse()
        data = response.read()
        conn.close()
        answer = json.loads(data) if data.startswith(b"{") or data.startswith(b"[") else data
        return response.status, response.getheader("X-Jaild-Node"), answer


def cluster(*args, env):
    return subprocess.run([CLUSTER, *args], env=env, capture_output=True, text=True, timeout=300)


def left_behind(env):
    """What `cluster down` must have removed."""
    prefix, directory = env["JAILD_CLUSTER_PREFIX"], env["JAILD_CLUSTER_DIR"]
    left = []
    namespaces = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    left += [line.split()[0] for line in namespaces.splitlines() if line.startswith(prefix)]
    links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout
    left += [line.split(":")[1].strip() for line in links.splitlines() if f" {prefix}" in line]
    if os.path.exists(directory):
        left.append(directory)
    for root, dirs, _ in os.walk("/sys/fs/cgroup"):
        left += [os.path.join(root, d) for d in dirs if d == f"jaild-cluster-{prefix}"]
        if root.count("/") > 4:
            dirs[:] = []
    base, count = int(env["JAILD_TEST_UID_BASE"]), 3 * int(env["JAILD_CLUSTER_UIDS"])
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/status") as f:
                uid = int(next(line for line in f if line.startswith("Uid:")).split()[1])
        except (OSError, StopIteration):
            continue
        if base <= uid < base + count:
            left.append(f"process {pid} (uid {uid})")
    return left


def run_checks(balancer, env):
    # Stateless runs go everywhere.
    nodes = set()
    statuses = set()
    for _ in range(60):
        status, node, _ = balancer.call("POST", "/run", {"command": ["/bin/echo", "hi"]})
        statuses.add(status)
        nodes.add(node)
    check("60 stateless runs succeed", statuses == {200}, str(statuses))
    check("they reach all three nodes", nodes == {"node1", "node2", "node3"}, str(nodes))

    # One session: 20 runs, each sees the files of the runs before it.
    status, _, created = balancer.call("POST", "/sessions", {})
    check("a session is created", status == 201, str(created))
    sid = created["session_id"]
    home = sid[33:]
    check("its id names its node", home in {"node1", "node2", "node3"}, sid)
    seen_all = True
    for k in range(20):
        status, node, out = balancer.call("POST", f"/sessions/{sid}/run",
                                          {"command": ["sh", "-c", f"ls | wc -l; touch f{k}"]})
        seen_all &= status == 200 and node == home and out.get("stdout") == f"{k}\n"
    check("20 runs in the session all reach its node and see its files", seen_all)

    # Seed 002: a user_id sticks to one node and keeps its state.
    nodes = set()
    results = []
    for _ in range(20):
        code = "import os\nn = sum(f.startswith('c') for f in os.listdir('.'))\nopen(f'c{n}', 'w').close()\nresult = n + 1"
        status, node, out = balancer.call("POST", "/run", {"user_id": "u1", "code": code})
        nodes.add(node)
        results.append(out.get("result") if isinstance(out, dict) else None)
    check("seed 002's user_id requests stick to one node", len(nodes) == 1, str(nodes))
    check("and see the files of the earlier ones", results == list(range(1, 21)), str(results))

    # One node down.
    index = home.removeprefix("node")
    down = cluster("stop-node", index, env=env)
    check("stop-node", down.returncode == 0, down.stderr)
    time.sleep(5)  # HAProxy: fall 2 at inter 2 s
    statuses = {balancer.call("POST", "/run", {"command": ["/bin/true"]})[0] for _ in range(30)}
    check("with a node down, stateless runs all succeed", statuses == {200}, str(statuses))
    status, _, answer = balancer.call("GET", f"/sessions/{sid}/files")
    check("its session answers 503 naming it",
          status == 503 and isinstance(answer, dict) and answer.get("node") == home, f"{status} {answer}")
    up = cluster("start-node", index, env=env)
    check("start-node", up.returncode == 0, up.stderr)
    time.sleep(5)  # rise 2
    status, node, out = balancer.call("POST", f"/sessions/{sid}/run", {"command": ["sh", "-c", "ls | wc -l"]})
    check("back up, the session works with its files", status == 200 and out.get("stdout") == "20\n", f"{status} {out}")


def main():
    if os.geteuid() != 0:
        print("SKIPPED: needs root")
        return 77
    for tool in ("ip", "nsenter", "haproxy", "curl"):
        if not shutil.which(tool) and not os.path.exists(f"/usr/sbin/{tool}"):
            print(f"SKIPPED: no {tool}")
            return 77
    env = dict(os.environ)
    if len(sys.argv) > 1:
        env["JAILD_BIN"] = sys.argv[1]
    env.setdefault("JAILD_TEST_UID_BASE", "64000")
    env.setdefault("JAILD_CLUSTER_UIDS", "100")
    env.setdefault("JAILD_CLUSTER_PREFIX", "jsc")
    env.setdefault("JAILD_CLUSTER_DIR", f"/run/jaild-cluster-{env['JAILD_CLUSTER_PREFIX']}")
    started = cluster("up", "3", env=env)
    if started.returncode != 0:
        print("FAIL cluster up 3:\n" + started.stderr)
        return 1
    url = started.stdout.strip().splitlines()[-1]
    try:
        with open(os.path.join(env["JAILD_CLUSTER_DIR"], "api-key")) as f:
            key = f.read().strip()
        run_checks(Balancer(url, key), env)
    finally:
        stopped = cluster("down", env=env)
        check("cluster down", stopped.returncode == 0, stopped.stderr)
    left = left_behind(env)
    check("nothing is left after down", not left, str(left))
    print(f"{len(failures)} failed" if failures else "all passed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
