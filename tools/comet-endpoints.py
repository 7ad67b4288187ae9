#!/usr/bin/env python3
"""The HTTP endpoints an installed comet_ml calls, read from its source.

Usage:
  comet-endpoints.py                  print them, one "METHOD family path caller" a line
  comet-endpoints.py --check TABLE    compare with the table in TABLE (ENDPOINTS.md):
                                      exit 1, naming them, when an endpoint the source
                                      calls has no row or a row names none it calls

It reads the comet_ml that `import comet_ml` finds (run it with the Python that has the
pinned version, e.g. through tests/testthat/fixtures/python/sdk.sh) without importing it.

Families: `rest` is /api/rest/v2/ (comet_ml also reaches some of it under
/clientlib/rest/v2/, which the server answers alike), `clientlib` is /clientlib/, `auth`
is /api/auth/, `optimizer` is the optimizer service's /optimizer/v1/. Paths keep
comet_ml's placeholders as {name}.
"""

import ast
import importlib.util
import os
import re
import sys

# comet_ml's REST client methods that send one request to an endpoint of their base.
ENDPOINT_CALLS = {
    "get_from_endpoint": "GET",
    "post_from_endpoint": "POST",
    "put_from_endpoint": "PUT",
}
# Classes whose base is not /api/rest/v2/.
CLASS_FAMILY = {"CometApiClient": "auth", "OptimizerAPI": "optimizer"}
# comet_ml's functions that prepare a request for another to send, and its method.
PREPARED = {
    "_prepare_experiment_asset_request": "GET",  # downloads (assets, artifact files)
    "_prepare_update_artifact_version_state": "POST",
}
HTTP_VERBS = {"get": "GET", "post": "POST", "put": "PUT", "delete": "DELETE"}


def package_dir():
    spec = importlib.util.find_spec("comet_ml")
    if spec is None or not spec.submodule_search_locations:
        sys.exit("comet_ml is not installed for this Python")
    return list(spec.submodule_search_locations)[0]


def text_of(node, names):
    """A string expression as a path: literals kept, anything computed as {name}."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        out = ""
        for part in node.values:
            if isinstance(part, ast.Constant):
                out += str(part.value)
            else:
                out += "{%s}" % placeholder(part.value)
        return out
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        left, right = text_of(node.left, names), text_of(node.right, names)
        if left is not None and right is not None:
            return left + right
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mod):
        left = text_of(node.left, names)
        if left is not None:
            return re.sub(r"%[sd]", "{value}", left)
    if isinstance(node, ast.Name):
        if node.id in names:
            return names[node.id]
    return None


def placeholder(node):
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return "value"


def string_assignments(body_nodes, names):
    """Names bound to strings (module constants, or variables inside a function)."""
    for node in body_nodes:
        for sub in ast.walk(node):
            if isinstance(sub, ast.Assign) and len(sub.targets) == 1:
                t = sub.targets[0]
                if isinstance(t, ast.Name):
                    v = text_of(sub.value, names)
                    if v is not None:
                        names.setdefault(t.id, v)


HTTP_RECEIVER = re.compile(r"client|session|requests|http", re.IGNORECASE)


def verbs_in(func):
    """The HTTP verbs a function sends with: get/post/put/delete called on an HTTP
    client or session (not a dict's `get`), or a `PreparedRequest(method=...)`."""
    found = []
    for sub in ast.walk(func):
        if not isinstance(sub, ast.Call):
            continue
        verb = None
        if isinstance(sub.func, ast.Attribute) and sub.func.attr in HTTP_VERBS:
            if HTTP_RECEIVER.search(ast.unparse(sub.func.value)):
                verb = HTTP_VERBS[sub.func.attr]
        if getattr(sub.func, "id", None) == "PreparedRequest":
            # A prepared request's method is its user's: known ones are listed.
            verb = PREPARED.get(func.name)
            if verb is None:
                sys.exit("%s prepares a request of unknown method: add it to PREPARED"
                         % func.name)
        for kw in sub.keywords:
            if kw.arg == "method" and isinstance(kw.value, ast.Constant):
                verb = str(kw.value.value).upper()
        if verb and verb not in found:
            found.append(verb)
    return found


def url_helpers(path):
    """connection_url_helpers.py: function name -> clientlib path it builds."""
    tree = ast.parse(open(path).read())
    names = {}
    string_assignments([n for n in tree.body if isinstance(n, ast.Assign)], names)
    helpers = {}
    for fn in tree.body:
        if not isinstance(fn, ast.FunctionDef):
            continue
        for ret in [n for n in ast.walk(fn) if isinstance(n, ast.Return)]:
            v = ret.value
            if isinstance(v, ast.Call) and getattr(v.func, "id", None) == "url_join":
                parts = [text_of(a, names) for a in v.args[1:]]
                if parts and all(p is not None for p in parts):
                    helpers[fn.name] = "/".join(p.strip("/") for p in parts)
            elif isinstance(v, ast.BinOp) and isinstance(v.op, ast.Add):
                right = text_of(v.right, names)
                if right is not None:
                    helpers[fn.name] = right
            else:
                s = text_of(v, names)
                if s is not None:
                    helpers[fn.name] = s
    return helpers


def upload_types(path):
    """The clientlib upload endpoints `get_upload_url` picks among (a dict of them)."""
    tree = ast.parse(open(path).read())
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Dict):
            for v in node.values:
                if isinstance(v, ast.Call) and isinstance(v.func, ast.Name):
                    found.add(v.func.id)
    return found


class Finder(ast.NodeVisitor):
    def __init__(self, rel, module_names, helpers):
        self.rel = rel
        self.module_names = module_names
        self.helpers = helpers
        self.cls = None
        self.func = None
        self.names = {}
        self.found = []
        # Functions that send to an endpoint their caller names: name -> (argument
        # position, parameter name, method, family).
        self.forwarders = {}
        self.unresolved = []
        # The URL helpers this module imports (another module's same name is another).
        self.imported = set()

    def visit_ImportFrom(self, node):
        if (node.module or "").endswith("connection_url_helpers"):
            self.imported.update(a.asname or a.name for a in node.names)

    def visit_ClassDef(self, node):
        outer, self.cls = self.cls, node.name
        self.generic_visit(node)
        self.cls = outer

    def visit_FunctionDef(self, node):
        outer = (self.func, self.names)
        self.func = node
        self.names = dict(self.module_names)
        string_assignments(node.body, self.names)
        self.generic_visit(node)
        self.func, self.names = outer

    visit_AsyncFunctionDef = visit_FunctionDef

    def forwarded(self, arg, method, family):
        """An endpoint that is a parameter of the function: its callers name it."""
        if not isinstance(arg, ast.Name) or self.func is None:
            return False
        if self.func.name in ENDPOINT_CALLS:
            # The client's own wrappers: their callers are read as endpoint calls.
            return True
        params = [a.arg for a in self.func.args.args]
        if arg.id not in params:
            return False
        index = params.index(arg.id) - (1 if params and params[0] == "self" else 0)
        self.forwarders[self.func.name] = (index, arg.id, method, family)
        return True

    def caller(self):
        where = self.func.name if self.func else "<module>"
        return "%s.%s" % (self.cls, where) if self.cls else where

    def add(self, method, family, path):
        path = path.strip("/")
        if path:
            self.found.append((method, family, path, "%s:%s" % (self.rel, self.caller())))

    def visit_Call(self, node):
        f = node.func
        name = f.attr if isinstance(f, ast.Attribute) else getattr(f, "id", None)
        if name in ENDPOINT_CALLS:
            arg = node.args[0] if node.args else None
            alt = None
            for kw in node.keywords:
                if kw.arg == "endpoint":
                    arg = kw.value
                if kw.arg == "alternate_base_url":
                    alt = kw.value
            path = text_of(arg, self.names) if arg is not None else None
            family = CLASS_FAMILY.get(self.cls, "rest")
            # `alternate_base_url` is /clientlib/rest/v2/ (the same REST API) or,
            # built from the server address, /clientlib/.
            if alt is not None and isinstance(alt, ast.BinOp):
                family = "clientlib"
            if path is not None:
                self.add(ENDPOINT_CALLS[name], family, path)
            elif self.forwarded(arg, ENDPOINT_CALLS[name], family):
                pass
            else:
                self.unresolved.append("%s:%s" % (self.rel, self.caller()))
        elif name == "url_join" and len(node.args) >= 2:
            base = node.args[0]
            if isinstance(base, ast.Attribute) and base.attr == "base_url":
                path = text_of(node.args[1], self.names)
                verbs = verbs_in(self.func) if self.func else []
                if path is not None:
                    # Without a request in sight the URL goes to an upload processor,
                    # whose multipart uploads are POSTs.
                    self.add(verbs[0] if verbs else "POST", "rest", path)
        elif name in ("get_request", "post_request") and self.cls == "OptimizerAPI":
            path = text_of(node.args[0], self.names) if node.args else None
            if path is not None:
                self.add("GET" if name == "get_request" else "POST", "optimizer", path)
        elif name in ("get_request", "post_request") and node.args:
            # The optimizer's own calls through its API object (`self._api`).
            path = text_of(node.args[0], self.names)
            if path is not None and "_api" in ast.unparse(f):
                self.add("GET" if name == "get_request" else "POST", "optimizer", path)
        elif name == "urljoin" and len(node.args) >= 2:
            # Direct-to-S3 multipart uploads: start and complete, both POSTs, under
            # /clientlib/ or (`write/...`) /api/rest/v2/.
            path = text_of(node.args[1], self.names)
            if path is not None:
                family = "rest" if path.startswith("write/") else "clientlib"
                self.add("POST", family, path)
        elif name in self.helpers and name in self.imported and self.func is not None:
            verbs = [v for v in verbs_in(self.func) if v != "DELETE"]
            self.add(verbs[0] if verbs else "POST", "clientlib", self.helpers[name])
        self.generic_visit(node)


def endpoints(pkg):
    helpers_path = os.path.join(pkg, "connection", "connection_url_helpers.py")
    helpers = url_helpers(helpers_path)
    helper_consts = {}
    string_assignments([n for n in ast.parse(open(helpers_path).read()).body
                        if isinstance(n, ast.Assign)], helper_consts)
    # The backend version check is at the server root, not under /clientlib/.
    version = helpers.pop("get_backend_version_url", None)
    found, unresolved = [], []
    if version:
        found.append(("GET", "clientlib", version.replace("clientlib/", "", 1),
                      "connection/connection_url_helpers.py:get_backend_version_url"))
    # Uploads: the clientlib endpoints `get_upload_url` chooses by upload type.
    for fn in sorted(upload_types(helpers_path)):
        if fn in helpers:
            found.append(("POST", "clientlib", helpers[fn],
                          "connection/connection_url_helpers.py:get_upload_url"))
    for root, _, files in os.walk(pkg):
        for f in sorted(files):
            if not f.endswith(".py"):
                continue
            path = os.path.join(root, f)
            rel = os.path.relpath(path, pkg)
            if rel.startswith(("vendor", "connection/connection_url_helpers")):
                continue
            try:
                tree = ast.parse(open(path, encoding="utf-8").read())
            except (SyntaxError, UnicodeDecodeError):
                continue
            module_names = {}
            # Endpoint constants imported from the URL helpers (SYSTEM_DETAILS_ENDPOINT...).
            for node in tree.body:
                if isinstance(node, ast.ImportFrom) and (node.module or "").endswith(
                    "connection_url_helpers"
                ):
                    for a in node.names:
                        if a.name in helper_consts:
                            module_names[a.asname or a.name] = helper_consts[a.name]
            string_assignments([n for n in tree.body if isinstance(n, ast.Assign)],
                               module_names)
            finder = Finder(rel, module_names, helpers)
            finder.visit(tree)
            if finder.forwarders:
                forwarded_calls(tree, rel, module_names, finder)
            found.extend(finder.found)
            unresolved.extend(finder.unresolved)
    return found, unresolved


def forwarded_calls(tree, rel, module_names, finder):
    """The endpoints named in calls to a module's forwarding functions."""
    for node in ast.walk(tree):
        if not isinstance(node, ast.FunctionDef):
            continue
        names = dict(module_names)
        string_assignments(node.body, names)
        for call in [c for c in ast.walk(node) if isinstance(c, ast.Call)]:
            f = call.func
            name = f.attr if isinstance(f, ast.Attribute) else getattr(f, "id", None)
            if name not in finder.forwarders:
                continue
            index, param, method, family = finder.forwarders[name]
            arg = call.args[index] if index < len(call.args) else None
            for kw in call.keywords:
                if kw.arg == param:
                    arg = kw.value
            path = text_of(arg, names) if arg is not None else None
            if path is not None:
                finder.found.append((method, family, path.strip("/"),
                                     "%s:%s" % (rel, node.name)))


ROW = re.compile(r"^\|\s*(GET|POST|PUT|DELETE)\s*\|\s*(\w+)\s*\|\s*`([^`]+)`\s*\|")


def table_rows(table_path):
    rows = set()
    for line in open(table_path, encoding="utf-8"):
        m = ROW.match(line)
        if m:
            rows.add((m.group(1), m.group(2), m.group(3)))
    return rows


def main(argv):
    pkg = package_dir()
    found, unresolved = endpoints(pkg)
    if unresolved:
        # A call whose endpoint this script cannot read: teach it, or the list is short.
        for where in unresolved:
            print("cannot read the endpoint called in %s" % where, file=sys.stderr)
        return 2
    calls = {}
    for method, family, path, caller in found:
        calls.setdefault((method, family, path), []).append(caller)
    if len(argv) >= 2 and argv[0] == "--check":
        rows = table_rows(argv[1])
        missing = sorted(set(calls) - rows)
        extra = sorted(rows - set(calls))
        for m, fam, p in missing:
            print("no row for %s %s `%s` (called by %s)" % (m, fam, p, calls[(m, fam, p)][0]))
        for m, fam, p in extra:
            print("a row for %s %s `%s`, which comet_ml does not call" % (m, fam, p))
        print("%d endpoints, %d rows" % (len(calls), len(rows)))
        return 1 if missing or extra else 0
    for (method, family, path), callers in sorted(calls.items(), key=lambda kv: (kv[0][1], kv[0][2], kv[0][0])):
        print("%s %s %s %s" % (method, family, path, callers[0]))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
