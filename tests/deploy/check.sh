#!/usr/bin/env bash
# Checks the deployment files, as CI does (.ci/run):
# - compose.yaml against the Compose Specification's JSON schema (the one
#   check-jsonschema ships as `vendor.compose-spec`), and that every file it
#   mounts exists;
# - deploy/nginx/nginx.conf with `nginx -t` (Debian's nginx). The compose
#   service names resolve only inside the stack, so the check runs on a copy
#   pointing the upstreams at loopback; nothing else changes;
# - Grafana's dashboard and provisioning, Prometheus' config and the
#   Kubernetes manifests parse (each manifest names its kind and itself).
#
# Needs python3 and nginx (.ci/run installs both where missing).
set -euo pipefail
cd "$(dirname "$0")/../.."

check_jsonschema_version=0.39.0
venv=${DEPLOY_VENV:-target/deploy-venv}
if ! "$venv/bin/check-jsonschema" --version 2>/dev/null | grep -q "$check_jsonschema_version"; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "check-jsonschema==$check_jsonschema_version"
fi

echo "compose.yaml: the Compose Specification"
"$venv/bin/check-jsonschema" --builtin-schema vendor.compose-spec compose.yaml
for mounted in $(grep -oE '\./deploy/[^:]+' compose.yaml | sort -u); do
  [ -e "$mounted" ] || { echo "compose.yaml mounts $mounted, which does not exist" >&2; exit 1; }
done

echo "deploy/nginx/nginx.conf: nginx -t"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
sed -e 's/server command-api:8080;/server 127.0.0.1:8081;/' \
  -e 's/server query-api:8080;/server 127.0.0.1:8082;/' \
  deploy/nginx/nginx.conf >"$tmp/nginx.conf"
nginx -t -q -c "$tmp/nginx.conf" -g "pid $tmp/nginx.pid;"

echo "deploy/nginx/nginx.conf: a client's X-Forwarded-For is overwritten (security review F4)"
# The same copy, run for real on a spare port in front of an upstream that
# answers with the X-Forwarded-For it received.
sed -i -e 's/listen 8080;/listen 127.0.0.1:18099;/' "$tmp/nginx.conf"
"$venv/bin/python" - "$tmp" <<'PY' &
import http.server, sys, threading
class Echo(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = (self.headers.get("X-Forwarded-For") or "").encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    do_POST = do_GET
    def log_message(self, *args):
        pass
servers = [http.server.ThreadingHTTPServer(("127.0.0.1", port), Echo) for port in (8081, 8082)]
for server in servers:
    threading.Thread(target=server.serve_forever, daemon=True).start()
threading.Event().wait(30)
PY
echo_pid=$!
for _ in $(seq 1 100); do
  curl -fsS -o /dev/null http://127.0.0.1:8081/ 2>/dev/null && curl -fsS -o /dev/null http://127.0.0.1:8082/ 2>/dev/null && break
  sleep 0.1
done
sed -i -e "s#access_log [^;]*;#access_log $tmp/access.log;#" "$tmp/nginx.conf"
nginx -c "$tmp/nginx.conf" -g "pid $tmp/nginx.pid; error_log $tmp/error.log;"
trap 'nginx -c "$tmp/nginx.conf" -g "pid $tmp/nginx.pid;" -s stop 2>/dev/null || true; kill $echo_pid 2>/dev/null || true; rm -rf "$tmp"' EXIT
for _ in $(seq 1 50); do
  curl -fsS -o /dev/null http://127.0.0.1:18099/api/v1/projects 2>/dev/null && break
  sleep 0.1
done
for path in /api/v1/projects /docs /api/v1/ws; do
  seen=$(curl -s -X POST -H 'X-Forwarded-For: 198.51.100.7, 10.0.0.1' "http://127.0.0.1:18099$path")
  if [ "$seen" != "127.0.0.1" ]; then
    echo "nginx forwarded X-Forwarded-For '$seen' on $path; expected the peer alone (127.0.0.1)" >&2
    exit 1
  fi
done
status=$(curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:18099/readyz)
[ "$status" = 404 ] || { echo "nginx serves /readyz to the outside ($status)" >&2; exit 1; }

echo "deploy/grafana, deploy/prometheus: they parse"
"$venv/bin/python" - <<'PY'
import json

from ruamel.yaml import YAML  # comes with check-jsonschema

json.load(open("deploy/grafana/dashboards/zekka-overview.json"))
for path in [
    "deploy/grafana/provisioning/datasources/prometheus.yml",
    "deploy/grafana/provisioning/dashboards/zekka.yml",
    "deploy/prometheus/prometheus.yml",
]:
    YAML(typ="safe").load(open(path))

# The alert rules: each has a name, an expression over a metric Zekka
# exports (platform/src/metrics.rs registers it), and is loaded.
rules = YAML(typ="safe").load(open("deploy/prometheus/alerts.yml"))
metrics = open("platform/src/metrics.rs").read()
loaded = YAML(typ="safe").load(open("deploy/prometheus/prometheus.yml")).get("rule_files", [])
assert "/etc/prometheus/alerts.yml" in loaded, "prometheus.yml does not load alerts.yml"
names = set()
for group in rules["groups"]:
    for rule in group["rules"]:
        names.add(rule["alert"])
        exported = [m for m in __import__("re").findall(r"zekka_([a-z_]+)", rule["expr"])]
        assert exported, f"{rule['alert']}: no zekka_ metric in {rule['expr']!r}"
        for metric in exported:
            assert f'"{metric}"' in metrics, f"{rule['alert']}: zekka_{metric} is not a metric Zekka exports"
assert "ZekkaProjectionFailing" in names, "the alert on a failing projection is missing"

# Kubernetes: every document names its kind and itself.
import glob

for path in sorted(glob.glob("deploy/k8s/*.yaml")):
    for doc in YAML(typ="safe").load_all(open(path)):
        if doc is None:
            continue
        assert doc.get("apiVersion") and doc.get("kind"), f"{path}: a document without apiVersion or kind"
        assert doc.get("metadata", {}).get("name"), f"{path}: a {doc['kind']} without a name"
PY
echo "deployment files: ok"
