#!/usr/bin/python3
"""A real browser against the gateway's CORS: headless Chromium (Selenium, chromedriver) loads a page from one
localhost port and fetch()es the gateway on another, as seed 001's web IDE does from its own origin.

    browser_cors.py GATEWAY_URL ALLOWED_PORT REFUSED_PORT

The page is served on ALLOWED_PORT (an origin the gateway lists in cors_origins) and on REFUSED_PORT (one it
does not). Prints one JSON object with what each page saw; tests/gateway/test_gateway_browser.cc checks it.
Prints "SKIPPED: <why>" and exits 77 when Chromium, chromedriver or Selenium is missing.
"""
import http.server
import json
import shutil
import sys
import tempfile
import threading

PAGE = b"""<!doctype html><html><head><meta charset="utf-8"><title>cors</title></head><body>page</body></html>"""

# Runs in the page; the last argument is Selenium's callback. Each probe reports what the page could see.
SCRIPT = """
const [gateway, done] = arguments;
const out = {};
async function probe(name, url, init, read) {
  try {
    const response = await fetch(url, init);
    out[name] = {ok: true, status: response.status, request_id: response.headers.get('X-Request-Id'),
                 body: await read(response)};
  } catch (error) {
    out[name] = {ok: false, error: String(error)};
  }
}
const json = {'Content-Type': 'application/json'};
await probe('execute', gateway + '/execute', {method: 'POST', headers: {...json, 'X-Request-Id': 'browser-1'},
            body: JSON.stringify({language: 'python', code: 'print(6 * 7)'})}, r => r.json());
await probe('stream', gateway + '/execute', {method: 'POST',
            headers: {...json, 'Accept': 'application/x-ndjson'},
            body: JSON.stringify({language: 'python', code: 'print("a")\\nprint("b")'})},
            async r => (await r.text()).trim().split('\\n').map(line => JSON.parse(line)));
await probe('invalid', gateway + '/run', {method: 'POST', headers: json, body: '{"command": 1}'}, r => r.json());
await probe('session', gateway + '/sessions', {method: 'POST', headers: json, body: '{}'}, r => r.json());
if (out.session.ok && out.session.body.session_id) {
  const id = out.session.body.session_id;
  await probe('put', gateway + '/sessions/' + id + '/files/notes.txt', {method: 'PUT', body: 'hello'},
              r => r.json());
  await probe('delete', gateway + '/sessions/' + id, {method: 'DELETE'}, r => r.json());
}
await probe('health', gateway + '/health', {}, r => r.json());
done(out);
"""


def serve(port):
    class Page(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(PAGE)))
            self.end_headers()
            self.wfile.write(PAGE)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Page)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def browser(profile):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium")
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
                 "--user-data-dir=" + profile):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(shutil.which("chromedriver")), options=options)
    driver.set_script_timeout(60)
    return driver


def main():
    gateway, allowed, refused = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    missing = [name for name in ("chromium", "chromedriver") if not shutil.which(name)]
    try:
        import selenium  # noqa: F401
    except ImportError:
        missing.append("python3-selenium")
    if missing:
        print("SKIPPED: not installed: " + ", ".join(missing) + " (scripts/bootstrap installs them)")
        return 77
    servers = [serve(allowed), serve(refused)]
    result = {}
    with tempfile.TemporaryDirectory(prefix="jaild-chromium-") as profile:
        driver = browser(profile)
        try:
            for name, port in (("allowed", allowed), ("refused", refused)):
                driver.get("http://127.0.0.1:%d/" % port)
                result[name] = driver.execute_async_script(SCRIPT, gateway)
            result["user_agent"] = driver.execute_script("return navigator.userAgent")
        finally:
            driver.quit()
    for server in servers:
        server.shutdown()
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
