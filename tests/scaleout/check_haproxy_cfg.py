#!/usr/bin/env python3
"""Drives the shipped HAProxy configuration (packaging/haproxy/jaild.cfg) against three stand-in nodes.

The nodes are small HTTP servers that answer with their name and what reached them; HAProxy is the real
one. Checked: a session's id routes to its node (URL path, /v2/sandboxes path, E2b-Sandbox-Id), an id
without a node goes to the pool, stateless requests reach every node, seed 002's user_id sticks per tenant,
a body past the balancer's buffer is refused with 413, X-Forwarded-For reaches the node, and a node that
fails its health checks takes no new work while its sessions answer 503 naming it. No root needed.
Usage: check_haproxy_cfg.py [path/to/jaild.cfg]   (exit 0 passed, 1 failed, 77 skipped: no haproxy)
"""
import hashlib
import http.client
import http.server
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

NODES = ["node-a", "node-b", "node-c"]
HEX = "0123456789abcdef" * 2


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class QuietServer(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        pass  # HAProxy's health checks close once they have the status line


class Node:
    """A stand-in for a node's gateway: /health is 200 until `down`, everything else echoes."""

    def __init__(self, name):
        self.name, self.down = name, False
        node = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def answer(self):
                length = int(self.headers.get("Content-Length") or 0)
                self.rfile.read(length)
                if self.path == "/health":
                    status, body = (503, b"{}") if node.down else (200, b'{"status":"healthy"}')
                else:
                    status = 200
                    body = json.dumps({"node": node.name, "path": self.path,
                                       "xff": self.headers.get("X-Forwarded-For"),
                                       "affinity": self.headers.get("X-Jaild-Affinity")}).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.send_header("X-Jaild-Node", node.name)
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = do_PUT = do_DELETE = answer

        self.server = QuietServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


def config_for(source, nodes, port, directory):
    """The shipped file with its bind, map, stats socket and node addresses pointed at this test."""
    text = open(source).read()
    text = text.replace("bind 127.0.0.1:8080", f"bind 127.0.0.1:{port}")
    text = text.replace("/etc/haproxy/jaild-tenants.map", f"{directory}/tenants.map")
    text = text.replace("/run/haproxy/jaild.sock", f"{directory}/stats.sock")
    text = text.replace("log /dev/log local0", "")
    text = text.replace("inter 2s", "inter 300ms")
    for i, node in enumerate(nodes):
        text = text.replace(f"192.0.2.{i + 1}:8080", f"127.0.0.1:{node.port}")
    return text


def request(port, method, path, body=None, headers=None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request(method, path, body=body, headers=headers or {})
    except (BrokenPipeError, ConnectionResetError):
        pass  # answered (and closed) before the whole body was sent: the answer is read below
    response = conn.getresponse()
    data = response.read()
    conn.close()
    return response.status, response.getheader("X-Jaild-Node"), data


failures = []


def check(what, ok, detail=""):
    print(("ok   " if ok else "FAIL ") + what + (f": {detail}" if detail and not ok else ""))
    if not ok:
        failures.append(what)


def main():
    haproxy = shutil.which("haproxy") or ("/usr/sbin/haproxy" if os.path.exists("/usr/sbin/haproxy") else None)
    if not haproxy:
        print("SKIPPED: no haproxy (apt-get install haproxy)")
        return 77
    here = os.path.dirname(os.path.abspath(__file__))
    source = sys.argv[1] if len(sys.argv) > 1 else os.path.join(here, "../../packaging/haproxy/jaild.cfg")
    nodes = [Node(name) for name in NODES]
    port = free_port()
    directory = tempfile.mkdtemp(prefix="jaild-haproxy-")
    try:
        key = "e2b_" + "ab" * 32
        with open(f"{directory}/tenants.map", "w") as f:
            f.write(f"{hashlib.sha256(key.encode()).hexdigest()} acme\n")
        with open(f"{directory}/haproxy.cfg", "w") as f:
            f.write(config_for(source, nodes, port, directory))
        proc = subprocess.Popen([haproxy, "-db", "-f", f"{directory}/haproxy.cfg"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            return run_checks(port, nodes, key, proc)
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
    finally:
        for node in nodes:
            node.server.shutdown()
        shutil.rmtree(directory, ignore_errors=True)


def wait_listening(port, proc):
    for _ in range(100):
        if proc.poll() is not None:
            raise SystemExit("haproxy exited: " + proc.stderr.read().decode(errors="replace"))
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise SystemExit("haproxy did not listen")


def run_checks(port, nodes, key, proc):
    wait_listening(port, proc)
    time.sleep(1)  # the first health checks
    sid = HEX + "-node-b"
    check("a session path goes to its node", request(port, "GET", f"/sessions/{sid}/files")[1] == "node-b")
    check("/sandboxes/{id} goes to its node", request(port, "DELETE", f"/sandboxes/{HEX}-node-c")[1] == "node-c")
    check("/v2/sandboxes/{id}/connect goes to its node",
          request(port, "POST", f"/v2/sandboxes/{HEX}-node-a/connect", b"{}")[1] == "node-a")
    check("E2b-Sandbox-Id goes to its node",
          request(port, "POST", "/process.Process/Start", b"{}", {"E2b-Sandbox-Id": HEX + "-node-c"})[1] == "node-c")
    seen = {request(port, "POST", "/run", b'{"language":"python","code":"1"}')[1] for _ in range(30)}
    check("stateless requests reach every node", seen == set(NODES), str(seen))
    seen = {request(port, "GET", f"/sessions/{HEX}")[1] for _ in range(30)}
    check("an id without a node goes to the pool", len(seen) > 1, str(seen))

    def user_run(user, headers):
        body = json.dumps({"user_id": user, "code": "result = 1"}).encode()
        return request(port, "POST", "/run", body, {"Content-Type": "application/json", **headers})

    for headers in ({"X-API-Key": key}, {"Authorization": "Bearer " + key}, {}):
        seen = {user_run("u1", headers)[1] for _ in range(12)}
        check(f"seed 002 user_id sticks ({list(headers) or 'no key'})", len(seen) == 1, str(seen))
    status, _, body = user_run("u1", {"X-API-Key": key})
    check("the affinity key names the mapped tenant", json.loads(body)["affinity"] == "acme/u1", body)
    status, _, body = user_run("u1", {"X-API-Key": key, "X-Jaild-Affinity": "forged"})
    check("a client's X-Jaild-Affinity is replaced", json.loads(body)["affinity"] == "acme/u1", body)
    spread = {user_run(f"user{i}", {"X-API-Key": key})[1] for i in range(40)}
    check("users spread over the nodes", spread == set(NODES), str(spread))
    big = b'{"user_id":"u1","code":"' + b"x" * (1024 * 1024 + 10) + b'"}'
    status, _, body = request(port, "POST", "/run", big, {"Content-Type": "application/json"})
    check("a /run body past the balancer's buffer is 413", status == 413 and b'"field":"body"' in body, body[:200])
    status, _, body = request(port, "GET", "/languages")
    check("X-Forwarded-For reaches the node", json.loads(body)["xff"] == "127.0.0.1", body)

    nodes[1].down = True
    time.sleep(1.5)  # fall 2 at inter 300ms
    status, _, body = request(port, "GET", f"/sessions/{sid}/files")
    answer = json.loads(body) if body.startswith(b"{") else {}
    check("a down node's session answers 503 naming it",
          status == 503 and answer.get("node") == "node-b" and "node-b" in answer.get("error", ""), body)
    seen = {request(port, "POST", "/run", b"{}")[1] for _ in range(30)}
    check("a down node takes no new work", seen == {"node-a", "node-c"}, str(seen))
    seen = {user_run(f"user{i}", {"X-API-Key": key})[0] for i in range(20)}
    check("every user still gets an answer", seen == {200}, str(seen))
    nodes[1].down = False
    time.sleep(1.5)
    check("back up, its session goes to it again", request(port, "GET", f"/sessions/{sid}/files")[1] == "node-b")
    print(f"{len(failures)} failed" if failures else "all passed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
