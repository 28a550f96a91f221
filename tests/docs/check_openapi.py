#!/usr/bin/python3
"""Checks docs/openapi.yaml against the gateway's code and docs/api.md, both ways:

- every route of gateway/routes.cc's table (method + path) is an operation of the spec, and every operation of
  the spec is a route (sessions appear in the spec when they appear in the table, not before);
- every operation has a 2xx answer and the error answers every request can get, each with a description and
  a body (errors: the JSON error object);
- the request fields gateway/request_parsing.cc accepts for /run and /execute (and the limits, and the encodings)
  are exactly the properties of RunRequest, ExecuteRequest, Limits and Encoding;
- the result fields (result_object) are exactly Result's (required unless set under an `if` on their line), the statuses exactly proto/jaild.proto's Status
  values, the language fields (jaild_forwarding.cc) exactly Language's;
- every HTTP status in docs/api.md's status table is in the spec and vice versa;
- every $ref resolves.

A route parameter that takes the rest of the path (`{path...}` in the table) is `{path}` in the spec, as
OpenAPI path templates have no such syntax (say so in the parameter's description).

Usage: check_openapi.py SOURCE_DIR. Needs Debian's python3-yaml.
"""
import re
import sys
from pathlib import Path

import yaml

METHODS = ("get", "put", "post", "delete", "patch", "head", "options", "trace")
# Answers any request can get before its handler runs (docs/api.md, Conventions).
EVERY_OPERATION = {"400", "408", "413", "431", "503"}
# ... and those of a request whose JSON body the gateway forwards to jaild.
POST_OPERATION = EVERY_OPERATION | {"415", "429", "502"}
# Statuses that belong to no operation (OPTIONS on a served path, an unknown path, another method): a component
# response each.
PATH_LEVEL = {"204": "Options", "404": "NotFound", "405": "MethodNotAllowed"}

failures = []


def fail(message):
    failures.append(message)


def function_body(text, start, what):
    """The text of the C++ function whose definition starts with `start`, up to its closing brace at column 0."""
    at = text.find(start)
    if at < 0:
        fail(f"{what}: `{start}` not found (was it renamed? update tests/docs/check_openapi.py)")
        return ""
    end = text.find("\n}\n", at)
    return text[at:end if end >= 0 else len(text)]


def nonempty(found, what):
    if not found:
        fail(f"found no {what} in the code: the extraction in tests/docs/check_openapi.py needs updating")
    return found


def resolve(spec, ref):
    if not ref.startswith("#/"):
        fail(f"$ref {ref} is not local")
        return None
    node = spec
    for part in ref[2:].split("/"):
        part = part.replace("~1", "/").replace("~0", "~")
        if not isinstance(node, dict) or part not in node:
            fail(f"$ref {ref} does not resolve")
            return None
        node = node[part]
    return node


def walk_refs(spec, node):
    if isinstance(node, dict):
        if "$ref" in node:
            resolve(spec, node["$ref"])
        for value in node.values():
            walk_refs(spec, value)
    elif isinstance(node, list):
        for value in node:
            walk_refs(spec, value)


def deref(spec, node):
    while isinstance(node, dict) and "$ref" in node:
        node = resolve(spec, node["$ref"]) or {}
    return node


def compare(what, in_code, in_spec):
    for name in sorted(set(in_code) - set(in_spec)):
        fail(f"{what}: `{name}` is in the code but not in docs/openapi.yaml")
    for name in sorted(set(in_spec) - set(in_code)):
        fail(f"{what}: `{name}` is in docs/openapi.yaml but not in the code")


def main(src):
    spec = yaml.safe_load((src / "docs/openapi.yaml").read_text())
    if not str(spec.get("openapi", "")).startswith("3.1"):
        fail(f"openapi is {spec.get('openapi')!r}, not 3.1.x")
    walk_refs(spec, spec)
    schemas = spec.get("components", {}).get("schemas", {})
    components_responses = spec.get("components", {}).get("responses", {})

    # Routes, both ways.
    routes_cc = (src / "gateway/routes.cc").read_text()
    table = re.search(r"kRoutes\[\]\s*=\s*\{(.*?)\n\};", routes_cc, re.S)
    routes, streaming = set(), set()
    if table:
        rows = re.findall(r"http::verb::(\w+)\s*,\s*\"([^\"]+)\"", table.group(1))
        # Beast spells DELETE `delete_` (a keyword otherwise); `{path...}` takes the rest of the path.
        routes = {(m.lower().rstrip("_"), re.sub(r"\{(\w+)\.\.\.\}", r"{\1}", p)) for m, p in rows}
        # A row ending in `true` streams its body (Route::streams_body): no body limit, so no 413.
        streamed = re.findall(r"http::verb::(\w+)\s*,\s*\"([^\"]+)\"\s*,\s*&\w+\s*,\s*true\s*\}", table.group(1))
        streaming = {(m.lower().rstrip("_"), re.sub(r"\{(\w+)\.\.\.\}", r"{\1}", p)) for m, p in streamed}
    nonempty(routes, "route table (kRoutes in gateway/routes.cc)")
    operations = {}
    for path, item in (spec.get("paths") or {}).items():
        for method, operation in item.items():
            if method in METHODS:
                operations[(method, path)] = operation
    compare("route", {f"{m.upper()} {p}" for m, p in routes}, {f"{m.upper()} {p}" for m, p in operations})

    # Every operation answers what every request can get; every answer is described and has a body.
    spec_statuses = set()
    for (method, path), operation in operations.items():
        responses = operation.get("responses") or {}
        needed = POST_OPERATION if method == "post" else EVERY_OPERATION
        body_types = ((operation.get("requestBody") or {}).get("content") or {}).keys()
        if method == "post" and "application/json" not in body_types:
            needed = needed - {"415"}  # a raw body (a process's stdin): any Content-Type
        if (method, path) in streaming:
            needed = needed - {"413"}
            if "413" in map(str, responses):
                fail(f"{method.upper()} {path}: streams its body, so it has no body limit and no 413")
        for status in sorted(needed - set(map(str, responses))):
            fail(f"{method.upper()} {path}: no {status} response")
        # A WebSocket route's success is its 101 (Switching Protocols); an E2B call for what a container cannot
        # do (x-unsupported) always answers 501.
        if operation.get("x-unsupported") and set(map(str, responses)) & {"200", "201", "204"}:
            fail(f"{method.upper()} {path}: x-unsupported, yet it has a 2xx response")
        elif operation.get("x-unsupported") and "501" not in map(str, responses):
            fail(f"{method.upper()} {path}: x-unsupported without its 501")
        elif not operation.get("x-unsupported") and not any(
                str(status).startswith("2") or str(status) == "101" for status in responses):
            fail(f"{method.upper()} {path}: no 2xx (or 101) response")
        if method == "post" and "requestBody" not in operation:
            fail(f"{method.upper()} {path}: no requestBody")
        for status, response in responses.items():
            spec_statuses.add(str(status))
            response = deref(spec, response)
            if not response.get("description"):
                fail(f"{method.upper()} {path} {status}: no description")
            content = response.get("content") or {}
            if str(status) >= "400" and "application/json" not in content:
                fail(f"{method.upper()} {path} {status}: no application/json body (the error object)")
            if str(status) not in ("101", "204") and not content:  # a WebSocket's 101 and a 204 have none
                fail(f"{method.upper()} {path} {status}: no body described")
            if "X-Request-Id" not in (response.get("headers") or {}):
                fail(f"{method.upper()} {path} {status}: no X-Request-Id header (every answer carries it)")
    for status, name in PATH_LEVEL.items():
        if name in components_responses:
            spec_statuses.add(status)
        else:
            fail(f"components.responses.{name} (the {status} answer) is missing")

    # docs/api.md's status table and the spec name the same statuses.
    api_md = (src / "docs/api.md").read_text()
    md_statuses = set(nonempty(re.findall(r"^\| (\d{3}) \|", api_md, re.M), "status table in docs/api.md"))
    for status in sorted(md_statuses - spec_statuses):
        fail(f"status {status} is in docs/api.md's table but not in docs/openapi.yaml")
    for status in sorted(spec_statuses - md_statuses):
        fail(f"status {status} is in docs/openapi.yaml but not in docs/api.md's table")

    # Request fields: exactly what gateway/request_parsing.cc accepts.
    codec = (src / "gateway/request_parsing.cc").read_text()
    limits_table = re.search(r"kLimitFields\[\]\s*=\s*\{(.*?)\n\};", codec, re.S)
    limit_names = set(re.findall(r"\{\"(\w+)\",\s*\"\w+\"", limits_table.group(1))) if limits_table else set()
    nonempty(limit_names, "limit fields (kLimitFields)")
    common = set(re.findall(r'key == "(\w+)"', function_body(codec, "std::optional<FieldError> common_field(", "common_field")))
    nonempty(common, "common request fields (common_field)")
    run_keys = set(re.findall(r'key == "(\w+)"', function_body(codec, "std::optional<FieldError> run_field(", "run_field")))
    execute_keys = set(
        re.findall(r'key == "(\w+)"', function_body(codec, "std::optional<FieldError> execute_field(", "execute_field")))
    nonempty(run_keys, "/run fields (run_field)")
    nonempty(execute_keys, "/execute fields (execute_field)")
    if "find_limit(key)" in function_body(codec, "std::optional<FieldError> run_field(", "run_field"):
        run_keys |= limit_names  # /run takes the limits at top level (seed 003)
    if "find_limit(key)" in function_body(codec, "std::optional<FieldError> execute_field(", "execute_field"):
        execute_keys |= limit_names  # ... and so does /execute, besides its "limits" object
    props = lambda name: set((schemas.get(name) or {}).get("properties") or {})
    compare("POST /run field", run_keys | common, props("RunRequest"))
    compare("POST /execute field", execute_keys | common, props("ExecuteRequest"))
    compare("limit", limit_names, props("Limits"))
    encodings = set(re.findall(r'name == "([\w-]+)"', function_body(codec, "std::optional<FieldError> common_field(", "common_field")))
    compare("encoding", nonempty(encodings, "encodings"), set((schemas.get("Encoding") or {}).get("enum") or []))
    for name in ("RunRequest", "ExecuteRequest", "Limits"):
        if (schemas.get(name) or {}).get("additionalProperties") is not False:
            fail(f"{name}: additionalProperties must be false (the gateway refuses unknown fields)")

    # Result fields, statuses, languages.
    rendering = (src / "gateway/result_rendering.cc").read_text()
    result_body = function_body(rendering, "json::object result_object(", "result_object")
    result_keys = set(re.findall(r'result\["(\w+)"\]\s*=', result_body))
    # A field set under an `if (...)` on its own line is optional (isolation: only from a degraded jaild).
    optional_keys = set(re.findall(r'^\s*if \(.*\)\s*result\["(\w+)"\]\s*=', result_body, re.M))
    result = schemas.get("Result") or {}
    compare("result field", nonempty(result_keys, "result fields (result_object)"), set(result.get("properties") or {}))
    compare("required result field", result_keys - optional_keys, set(result.get("required") or []))
    proto = (src / "proto/jaild.proto").read_text()
    status_enum = re.search(r"enum Status \{(.*?)\}", proto, re.S)
    statuses = {s.lower() for s in re.findall(r"STATUS_(\w+)\s*=", status_enum.group(1))} if status_enum else set()
    statuses.discard("unspecified")
    compare("status", nonempty(statuses, "Status values in proto/jaild.proto"),
            set((schemas.get("Status") or {}).get("enum") or []))
    forwarding = (src / "gateway/jaild_forwarding.cc").read_text()
    language_keys = set(re.findall(r'entry\["(\w+)"\]', function_body(forwarding, "std::string languages_body(", "languages_body")))
    compare("language field", nonempty(language_keys, "language fields (languages_body)"), props("Language"))

    if failures:
        for message in failures:
            print("FAIL:", message)
        return 1
    print(f"ok: docs/openapi.yaml documents the {len(routes)} routes of gateway/routes.cc and nothing else, "
          f"every request field, result field, status and error status")
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).resolve().parents[2])))
