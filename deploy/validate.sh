#!/usr/bin/env bash
# deploy/validate.sh: static checks of everything under deploy/, offline once its tools are
# installed (run by deploy/test.sh; needs no Docker engine):
#
# - shell scripts parse (bash -n, sh -n) and pass shellcheck (Debian package, installed when
#   missing);
# - every YAML and JSON file parses;
# - Kubernetes manifests validate strictly (unknown fields are errors) against the schemas of
#   Kubernetes 1.29 and 1.37 with kubernetes-validate (PyPI; bundles the schemas, so it works
#   offline), and a deliberately broken manifest is refused (the check is not vacuous);
# - Dockerfile and Dockerfile.local set up the same runtime image;
# - docker-compose.yml is a valid compose file, with and without the `monitoring` profile;
# - Prometheus: promtool (from Debian's prometheus package, unpacked, not installed) checks
#   prometheus.yml and alerts.yml and runs the alert unit tests (alerts_test.yml);
# - Grafana: the dashboard is well-formed (unique panel ids, a query per panel, one data source
#   variable);
# - systemd: `systemd-analyze verify` on the unit, any warning counting as an error, when
#   systemd-analyze exists (a broken copy must produce one).
#
# Tools are cached under $OSSA_DEPLOY_CACHE (default ~/.cache/ossa-deploy) and fetched from
# PyPI / Debian only when missing.
set -euo pipefail
cd "$(dirname "$0")/.."
DEPLOY=deploy
CACHE=${OSSA_DEPLOY_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/ossa-deploy}
KUBERNETES_VALIDATE_VERSION=1.37.0
KUBERNETES_VERSIONS=(1.29.0 1.37.0)
mkdir -p "$CACHE"
TMP=$(mktemp -d "${TMPDIR:-/tmp}/ossa-validate.XXXXXX")
trap 'rm -rf "$TMP"' EXIT

check() { printf '  %-58s' "$*"; }
ok() { printf 'ok%s\n' "${1:+ ($1)}"; }
fail() { printf 'FAILED\n%s\n' "$*" >&2; exit 1; }

apt_updated=
apt_install() {
  if [[ -z $apt_updated ]]; then apt-get update -qq; apt_updated=1; fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

# ---- tools ---------------------------------------------------------------------------------
command -v python3 >/dev/null || apt_install python3
VENV=$CACHE/venv-kubernetes-validate-$KUBERNETES_VALIDATE_VERSION
if [[ ! -x $VENV/bin/kubernetes-validate ]]; then
  echo "installing kubernetes-validate==$KUBERNETES_VALIDATE_VERSION into $VENV (PyPI)"
  rm -rf "$VENV"
  if ! python3 -m venv "$VENV" >/dev/null 2>&1; then
    apt_install python3-venv
    python3 -m venv "$VENV"
  fi
  "$VENV/bin/pip" install --quiet --disable-pip-version-check "kubernetes-validate==$KUBERNETES_VALIDATE_VERSION"
fi
PY=$VENV/bin/python # has PyYAML (a kubernetes-validate dependency)

PROMTOOL=$CACHE/prometheus/usr/bin/promtool
if [[ ! -x $PROMTOOL ]]; then
  echo "unpacking promtool from Debian's prometheus package into $CACHE/prometheus"
  if [[ -z $apt_updated ]]; then apt-get update -qq; apt_updated=1; fi
  (cd "$TMP" && apt-get download -qq prometheus 2>/dev/null) || fail "apt-get download prometheus failed"
  rm -rf "$CACHE/prometheus"
  dpkg-deb -x "$TMP"/prometheus_*.deb "$CACHE/prometheus"
fi

command -v shellcheck >/dev/null || apt_install shellcheck || echo "shellcheck could not be installed; skipping it"

if docker compose version >/dev/null 2>&1; then
  COMPOSE=(docker compose)
elif command -v docker-compose >/dev/null; then
  COMPOSE=(docker-compose)
else
  COMPOSE=()
fi

echo "validating deploy/"

# ---- shell ---------------------------------------------------------------------------------
check "shell scripts parse"
for f in "$DEPLOY"/test.sh "$DEPLOY"/validate.sh "$DEPLOY"/docker/ossa-healthcheck; do bash -n "$f"; done
sh -n "$DEPLOY"/docker/ossa-init-federation
if command -v shellcheck >/dev/null; then
  shellcheck -x "$DEPLOY"/test.sh "$DEPLOY"/validate.sh "$DEPLOY"/docker/ossa-healthcheck "$DEPLOY"/docker/ossa-init-federation
  ok "and shellcheck"
else
  ok "shellcheck not installed"
fi

# ---- YAML and JSON -------------------------------------------------------------------------
check "YAML and JSON files parse"
mapfile -t yaml_files < <(find "$DEPLOY" -name '*.yml' -o -name '*.yaml' | sort)
"$PY" - "${yaml_files[@]}" <<'PY' || fail "see above"
import sys, yaml
for f in sys.argv[1:]:
    try:
        docs = [d for d in yaml.safe_load_all(open(f)) if d is not None]
    except yaml.YAMLError as e:
        sys.exit(f"{f}: {e}")
    if not docs:
        sys.exit(f"{f}: empty")
PY
python3 -m json.tool "$DEPLOY"/grafana/ossa-dashboard.json >/dev/null
ok "${#yaml_files[@]} YAML, 1 JSON"

# ---- Kubernetes ----------------------------------------------------------------------------
# kubernetes-validate exits 0 on a kind it has no schema for (only a WARN line): any WARN or
# ERROR line counts as a failure here.
kube_validate() {
  local version=$1
  shift
  local out
  out=$("$VENV/bin/kubernetes-validate" --strict --quiet -k "$version" "$@" 2>&1) || { printf '%s\n' "$out"; return 1; }
  if grep -qE 'WARN|ERROR' <<<"$out"; then printf '%s\n' "$out"; return 1; fi
}
manifests=("$DEPLOY"/kubernetes/*.yaml)
for version in "${KUBERNETES_VERSIONS[@]}"; do
  check "Kubernetes manifests against $version (strict)"
  out=$(kube_validate "$version" "${manifests[@]}") || fail "$out"
  ok "${#manifests[@]} files"
done
check "broken manifests are refused"
sed 's/^  replicas: 3/  replica: 3/' "$DEPLOY"/kubernetes/statefulset.yaml >"$TMP/unknown-field.yaml"
sed 's/containerPort: 7470/containerPort: seven/' "$DEPLOY"/kubernetes/statefulset.yaml >"$TMP/wrong-type.yaml"
sed 's/^kind: StatefulSet/kind: StatefullSet/' "$DEPLOY"/kubernetes/statefulset.yaml >"$TMP/unknown-kind.yaml"
for bad in unknown-field wrong-type unknown-kind; do
  cmp -s "$TMP/$bad.yaml" "$DEPLOY"/kubernetes/statefulset.yaml && fail "the $bad edit did not apply"
  if kube_validate "${KUBERNETES_VERSIONS[-1]}" "$TMP/$bad.yaml" >/dev/null; then fail "$bad.yaml validated"; fi
done
ok "unknown field, wrong type, unknown kind"

# ---- Dockerfiles ---------------------------------------------------------------------------
# test.sh builds Dockerfile.local where Dockerfile's base images cannot be pulled: both must
# give the same runtime image (user, directory, volume, ports, health check, entrypoint).
check "Dockerfile and Dockerfile.local runtime settings agree"
"$PY" - "$DEPLOY"/Dockerfile "$DEPLOY"/Dockerfile.local <<'PY' || fail "see above"
import re, sys
KEYS = ("ENV", "USER", "WORKDIR", "VOLUME", "EXPOSE", "HEALTHCHECK", "ENTRYPOINT", "CMD")
def runtime(path):
    text = re.sub(r"\\\n", " ", open(path).read())
    stage = text.split("\nFROM ")[-1]  # the last stage is the runtime image
    return [l.strip() for l in stage.splitlines() if l.split(" ", 1)[0] in KEYS]
a, b = runtime(sys.argv[1]), runtime(sys.argv[2])
if a != b or len(a) != len(KEYS):
    sys.exit(f"runtime stages differ:\n  Dockerfile:       {a}\n  Dockerfile.local: {b}")
if not any(l.startswith("USER ossa") for l in a):
    sys.exit("the image must run as the ossa user")
PY
ok

# ---- compose -------------------------------------------------------------------------------
check "docker-compose.yml (default and monitoring profiles)"
if ((${#COMPOSE[@]})); then
  "${COMPOSE[@]}" -f "$DEPLOY"/docker-compose.yml config -q
  "${COMPOSE[@]}" -f "$DEPLOY"/docker-compose.yml --profile monitoring config -q
  ok "${COMPOSE[*]}"
else
  ok "skipped: no docker compose"
fi
check "compose: plain 'up' starts only what needs no registry"
"$PY" - "$DEPLOY"/docker-compose.yml <<'PY' || fail "see above"
import sys, yaml
services = yaml.safe_load(open(sys.argv[1]))["services"]
default = sorted(name for name, s in services.items() if not s.get("profiles"))
if default != ["init", "node1", "node2", "node3"]:
    sys.exit(f"services without a profile: {default}")
for name in ("prometheus", "grafana"):
    if services[name].get("profiles") != ["monitoring"]:
        sys.exit(f"{name} is not in the monitoring profile")
PY
ok "init node1 node2 node3; monitoring: prometheus grafana"

# ---- Prometheus ----------------------------------------------------------------------------
check "prometheus.yml, alerts.yml (promtool check)"
out=$("$PROMTOOL" check config "$DEPLOY"/prometheus/prometheus.yml 2>&1) || fail "$out"
out=$("$PROMTOOL" check rules "$DEPLOY"/prometheus/alerts.yml 2>&1) || fail "$out"
ok "$(grep -c '^      - alert:' "$DEPLOY"/prometheus/alerts.yml) rules"
check "alert unit tests (promtool test rules)"
out=$("$PROMTOOL" test rules "$DEPLOY"/prometheus/alerts_test.yml 2>&1) || fail "$out"
ok

# ---- Grafana -------------------------------------------------------------------------------
check "Grafana dashboard"
"$PY" - "$DEPLOY"/grafana/ossa-dashboard.json <<'PY' || fail "see above"
import json, sys
dash = json.load(open(sys.argv[1]))
ids, titles = set(), []
for p in dash["panels"]:
    if p["id"] in ids:
        sys.exit(f"duplicate panel id {p['id']}")
    ids.add(p["id"])
    if p["type"] == "row":
        titles.append(p["title"])
        continue
    if not p.get("targets") or not all(t.get("expr") for t in p["targets"]):
        sys.exit(f"panel {p['title']!r} has no query")
    if p["datasource"]["uid"] != "${datasource}":
        sys.exit(f"panel {p['title']!r} does not use the $datasource variable")
need = {"Raft", "Admission and gossip", "Discovery", "Policy", "Trust", "Audit"}
if need - set(titles):
    sys.exit(f"missing rows: {need - set(titles)}")
if [v["name"] for v in dash["templating"]["list"]][:1] != ["datasource"]:
    sys.exit("the first variable must be the data source")
print(f"ok ({len(ids) - len(titles)} panels in {len(titles)} rows)")
PY

# ---- systemd -------------------------------------------------------------------------------
check "systemd unit (systemd-analyze verify)"
if command -v systemd-analyze >/dev/null; then
  # A throwaway root with the unit, the system's own units and a stand-in for the binary:
  # verify checks that ExecStart's program exists, and ossa is not installed here.
  sd_verify() {
    local root=$TMP/sdroot out
    rm -rf "$root"
    mkdir -p "$root/usr/local/bin" "$root/etc/systemd/system" "$root/usr/lib/systemd"
    cp -a /usr/lib/systemd/system "$root/usr/lib/systemd/"
    printf '#!/bin/sh\n' >"$root/usr/local/bin/ossa"
    chmod +x "$root/usr/local/bin/ossa"
    cp "$1" "$root/etc/systemd/system/ossa-node.service"
    out=$(systemd-analyze verify --root="$root" /etc/systemd/system/ossa-node.service 2>&1) || { printf '%s\n' "$out"; return 1; }
    [[ -z $out ]] || { printf '%s\n' "$out"; return 1; }
  }
  out=$(sd_verify "$DEPLOY"/systemd/ossa-node.service) || fail "$out"
  sed 's/^NoNewPrivileges=yes/NoNewPrivilege=yes/' "$DEPLOY"/systemd/ossa-node.service >"$TMP/broken.service"
  if sd_verify "$TMP/broken.service" >/dev/null; then fail "a misspelled directive verified"; fi
  ok
else
  ok "skipped: systemd-analyze not installed"
fi

echo "deploy/ is valid"
