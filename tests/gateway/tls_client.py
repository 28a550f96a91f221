#!/usr/bin/python3
"""HTTPS clients for tests/gateway/test_gateway_tls.cc, on Python's ssl and http.client (OpenSSL underneath).

    tls_client.py MODE PORT CA [ARGS]

Every mode but `plain` verifies the gateway's certificate against the CA file CA and the name 127.0.0.1, as a
careful client does. Each mode prints one JSON object on stdout.

  session       a run, a streamed run and GET /health, all on one kept-alive connection
  files         a session, a 3 MiB file put (the gateway streams it to jaild) and read back, on one connection
  slow          a streamed run with a pause between lines and a run that answers late, on one connection
  shutdown GO   an idle kept-alive connection and a run in flight; after the file GO (the gateway has been
                sent SIGTERM) what each of them sees
  hangup GO     starts a run (streamed if GO ends in "stream"), waits for the file GO, and hangs up
  cert          one new connection: the certificate's serial and subject
  hold GO       a request, "ready" on stdout, then waits for the file GO and sends another request on the
                same connection
  untrusted     a client that trusts only the system's CAs: the verification error
  old_tls       a client that offers nothing newer than TLS 1.1: the error
  plain         plain HTTP to the port: what comes back
"""
import http.client
import json
import os
import socket
import ssl
import sys
import time
import warnings

HOST = "127.0.0.1"


def verifying(ca):
    context = ssl.create_default_context(cafile=ca)  # chain and host name checked
    context.set_alpn_protocols(["h2", "http/1.1"])  # what curl offers; the gateway speaks HTTP/1.1
    return context


def connect(port, context):
    conn = http.client.HTTPSConnection(HOST, port, context=context, timeout=30)
    conn.connect()  # now, so that conn.sock is the one connection a test expects to keep
    return conn


def request(conn, method, path, body=None):
    headers = {"Content-Type": "application/json"} if body is not None else {}
    conn.request(method, path, body=None if body is None else json.dumps(body), headers=headers)
    return conn.getresponse()


def certificate(conn):
    cert = conn.sock.getpeercert()
    subject = dict(item[0] for item in cert["subject"])
    return {"serial": cert["serialNumber"], "subject": subject.get("commonName")}


def session(port, ca):
    conn = connect(port, verifying(ca))
    out = {}
    response = request(conn, "POST", "/run", {"command": ["/bin/echo", "hello over tls"]})
    out["run_status"] = response.status
    out["run"] = json.loads(response.read())
    first_socket = conn.sock
    out["local_ports"] = [conn.sock.getsockname()[1]]
    out["tls_version"] = conn.sock.version()
    out["alpn"] = conn.sock.selected_alpn_protocol()

    script = "echo one; sleep 0.3; echo two; sleep 0.3; echo three"
    response = request(conn, "POST", "/run", {"command": ["/bin/sh", "-c", script], "stream": True})
    out["stream_status"] = response.status
    out["stream_type"] = response.getheader("Content-Type")
    out["stream_encoding"] = response.getheader("Transfer-Encoding")
    lines, started = [], time.monotonic()
    while True:
        line = response.readline()
        if not line:
            break
        lines.append({"at": round(time.monotonic() - started, 3), "line": json.loads(line)})
    out["stream"] = lines
    out["local_ports"].append(conn.sock.getsockname()[1])

    response = request(conn, "GET", "/health")
    out["health_status"] = response.status
    response.read()
    out["local_ports"].append(conn.sock.getsockname()[1])
    out["same_socket"] = conn.sock is first_socket
    conn.close()
    return out


def files(port, ca):
    conn = connect(port, verifying(ca))
    response = request(conn, "POST", "/sessions", {})
    out = {"create_status": response.status}
    session_id = json.loads(response.read())["session_id"]
    first_socket = conn.sock
    data = os.urandom(3 * 1024 * 1024)
    conn.request("PUT", "/sessions/%s/files/big.bin" % session_id, body=data)
    response = conn.getresponse()
    out["put_status"] = response.status
    response.read()
    response = request(conn, "GET", "/sessions/%s/files/big.bin" % session_id)
    out["get_status"] = response.status
    out["same_bytes"] = response.read() == data
    response = request(conn, "DELETE", "/sessions/%s" % session_id)
    out["delete_status"] = response.status
    response.read()
    out["same_socket"] = conn.sock is first_socket
    conn.close()
    return out


def slow(port, ca):
    conn = connect(port, verifying(ca))
    first_socket = conn.sock
    response = request(conn, "POST", "/run", {"command": ["/bin/sh", "-c", "echo a; sleep 2; echo b"],
                                              "stream": True})
    out = {"stream_status": response.status, "stream": [json.loads(line) for line in response]}
    response = request(conn, "POST", "/run", {"command": ["/bin/sh", "-c", "sleep 2; echo late"]})
    out["late_status"] = response.status
    out["late"] = json.loads(response.read())
    out["same_socket"] = conn.sock is first_socket
    conn.close()
    return out


def hangup(port, ca, go):
    conn = connect(port, verifying(ca))
    conn.request("POST", "/run", body=json.dumps({"command": ["/bin/sleep", "30"], "stream": go.endswith("stream")}),
                 headers={"Content-Type": "application/json"})
    print("sent", flush=True)
    deadline = time.monotonic() + 60
    while not os.path.exists(go) and time.monotonic() < deadline:
        time.sleep(0.05)
    conn.sock.close()  # no close_notify: the client just goes
    return {"hung_up": True}


def shutdown(port, ca, go):
    idle = connect(port, verifying(ca))
    response = request(idle, "GET", "/health")
    response.read()
    busy = connect(port, verifying(ca))
    busy.request("POST", "/run", body=json.dumps({"command": ["/bin/sh", "-c", "sleep 1; echo done"]}),
                 headers={"Content-Type": "application/json"})
    print("sent", flush=True)
    deadline = time.monotonic() + 60
    while not os.path.exists(go) and time.monotonic() < deadline:
        time.sleep(0.05)
    response = busy.getresponse()
    out = {"busy_status": response.status, "busy_connection": response.getheader("Connection"),
           "busy": json.loads(response.read())}
    idle.sock.settimeout(10)
    try:
        out["idle_read"] = idle.sock.recv(100).decode()  # "": closed by the gateway (after its close_notify)
    except (ssl.SSLError, OSError) as error:
        out["idle_read"] = type(error).__name__
    return out


def cert(port, ca):
    conn = connect(port, verifying(ca))
    response = request(conn, "GET", "/health")
    response.read()
    out = certificate(conn)
    out["status"] = response.status
    conn.close()
    return out


def hold(port, ca, go):
    conn = connect(port, verifying(ca))
    response = request(conn, "GET", "/health")
    response.read()
    out = {"before": certificate(conn), "first_status": response.status}
    first_socket = conn.sock
    print("ready", flush=True)
    deadline = time.monotonic() + 60
    while not os.path.exists(go) and time.monotonic() < deadline:
        time.sleep(0.05)
    response = request(conn, "POST", "/run", {"command": ["/bin/echo", "still here"]})
    out["second_status"] = response.status
    out["second"] = json.loads(response.read())
    out["after"] = certificate(conn)
    out["same_socket"] = conn.sock is first_socket
    conn.close()
    return out


def failure(port, context):
    try:
        conn = connect(port, context)
        request(conn, "GET", "/health").read()
    except (ssl.SSLError, OSError) as error:
        return {"error": type(error).__name__, "reason": getattr(error, "reason", None), "message": str(error)}
    return {"error": None}


def untrusted(port, _ca):
    return failure(port, ssl.create_default_context())


def old_tls(port, ca):
    warnings.simplefilter("ignore", DeprecationWarning)  # what this client is for
    context = verifying(ca)
    context.set_ciphers("DEFAULT:@SECLEVEL=0")  # let this client offer TLS 1.1 at all
    context.minimum_version = ssl.TLSVersion.TLSv1
    context.maximum_version = ssl.TLSVersion.TLSv1_1
    return failure(port, context)


def plain(port, _ca):
    with socket.create_connection((HOST, port), timeout=30) as sock:
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        received = b""
        while True:
            piece = sock.recv(65536)
            if not piece:
                break
            received += piece
    return {"answer": received.decode("utf-8", "replace")}


MODES = {"session": session, "files": files, "slow": slow, "cert": cert, "untrusted": untrusted, "old_tls": old_tls, "plain": plain}

if __name__ == "__main__":
    mode, port, ca = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    if mode in ("hold", "hangup", "shutdown"):
        result = {"hold": hold, "hangup": hangup, "shutdown": shutdown}[mode](port, ca, sys.argv[4])
    else:
        result = MODES[mode](port, ca)
    print(json.dumps(result), flush=True)
