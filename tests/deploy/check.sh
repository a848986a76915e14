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
