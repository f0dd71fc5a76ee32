#!/usr/bin/env python3
"""Validates manifests rendered by `helm template` (used by scripts/check-chart.sh).

For each resource:
  * Kubernetes kinds: the JSON schema of the given Kubernetes version from kubernetes-validate,
    in strict mode (unknown fields are errors). A kind with no schema is an ERROR here, where
    the kubernetes-validate command line would only WARN and pass.
  * ServiceMonitor (a Prometheus Operator CRD, not in the Kubernetes schema): a hand-written
    schema of the fields this chart uses, also strict, below.
  * Rules that no schema states: non-root, read-only root filesystem, dropped capabilities,
    probes and hooks (the chart's own promises); Ingress hosts and pathType (checked by the API
    server, not by the schema); what the NetworkPolicy must let through; and that every name
    one resource refers to is rendered too (the `helm test` pod's URL included).

Usage: validate_manifests.py KUBE_VERSION RENDERED.yaml [--external-secret NAME]...
Exit status 0 when everything passes; prints one line per resource.
"""

import argparse
import re
import sys
import urllib.parse

import jsonschema
import yaml
from kubernetes_validate import utils as kv

DURATION = r"^(0|(([0-9]+)y)?(([0-9]+)w)?(([0-9]+)d)?(([0-9]+)h)?(([0-9]+)m)?(([0-9]+)s)?(([0-9]+)ms)?)$"
STRING_MAP = {"type": "object", "additionalProperties": {"type": "string"}}
LABEL_SELECTOR = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "matchLabels": STRING_MAP,
        "matchExpressions": {"type": "array", "items": {"type": "object"}},
    },
}

# monitoring.coreos.com/v1 ServiceMonitor, restricted to the fields this chart may render; field
# names and the duration pattern follow the Prometheus Operator's API (ServiceMonitorSpec,
# Endpoint). Unknown fields are errors, as in the strict Kubernetes schemas.
SERVICE_MONITOR = {
    "type": "object",
    "required": ["apiVersion", "kind", "metadata", "spec"],
    "additionalProperties": False,
    "properties": {
        "apiVersion": {"const": "monitoring.coreos.com/v1"},
        "kind": {"const": "ServiceMonitor"},
        "metadata": {
            "type": "object",
            "required": ["name"],
            "additionalProperties": False,
            "properties": {
                "name": {"type": "string", "pattern": r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$", "maxLength": 253},
                "namespace": {"type": "string"},
                "labels": STRING_MAP,
                "annotations": STRING_MAP,
            },
        },
        "spec": {
            "type": "object",
            "required": ["selector", "endpoints"],
            "additionalProperties": False,
            "properties": {
                "jobLabel": {"type": "string"},
                "selector": LABEL_SELECTOR,
                "namespaceSelector": {
                    "type": "object",
                    "additionalProperties": False,
                    "properties": {
                        "any": {"type": "boolean"},
                        "matchNames": {"type": "array", "items": {"type": "string"}},
                    },
                },
                "endpoints": {
                    "type": "array",
                    "minItems": 1,
                    "items": {
                        "type": "object",
                        "additionalProperties": False,
                        "properties": {
                            "port": {"type": "string"},
                            "path": {"type": "string", "pattern": "^/"},
                            "scheme": {"enum": ["http", "https"]},
                            "interval": {"type": "string", "pattern": DURATION},
                            "scrapeTimeout": {"type": "string", "pattern": DURATION},
                            "honorLabels": {"type": "boolean"},
                            "relabelings": {"type": "array", "items": {"type": "object"}},
                            "metricRelabelings": {"type": "array", "items": {"type": "object"}},
                            "authorization": {
                                "type": "object",
                                "additionalProperties": False,
                                "properties": {
                                    "type": {"type": "string"},
                                    "credentials": {
                                        "type": "object",
                                        "required": ["key"],
                                        "additionalProperties": False,
                                        "properties": {
                                            "name": {"type": "string"},
                                            "key": {"type": "string"},
                                            "optional": {"type": "boolean"},
                                        },
                                    },
                                },
                            },
                        },
                    },
                },
            },
        },
    },
}

CRD_SCHEMAS = {("monitoring.coreos.com/v1", "ServiceMonitor"): SERVICE_MONITOR}


def name_of(doc):
    return f"{doc.get('kind')}/{doc.get('metadata', {}).get('name')}"


def schema_errors(doc, version):
    """Errors from the resource's schema; the version validated against on success."""
    crd = CRD_SCHEMAS.get((doc.get("apiVersion"), doc.get("kind")))
    if crd is not None:
        errors = sorted(jsonschema.Draft202012Validator(crd).iter_errors(doc), key=lambda e: list(e.path))
        return [f"{'.'.join(map(str, e.path)) or '(root)'}: {e.message}" for e in errors], "CRD subset schema (strict)"
    try:
        validated = kv.validate(doc, version, strict=True)
        return [], f"Kubernetes {validated} schema (strict)"
    except kv.ValidationError as e:
        return [f"{'.'.join(map(str, e.path)) or '(root)'}: {e.message}"], None
    except kv.SchemaNotFoundError as e:
        return [f"no schema: {e.message} (a CRD needs an entry in CRD_SCHEMAS)"], None


def pod_rules(pod, needs_tmp=True):
    """Hardening every pod of the chart must keep, whatever the values. `needs_tmp`: the
    container writes temporary files (zmg does; the test pod's wget does not)."""
    errors = []
    psc = pod.get("securityContext", {})
    if pod.get("automountServiceAccountToken") is not False:
        errors.append("the service account token must not be mounted (the service never calls the API)")
    for c in pod.get("containers", []) + pod.get("initContainers", []):
        sc = c.get("securityContext", {})
        where = f"container {c['name']}"
        if not (sc.get("runAsNonRoot", psc.get("runAsNonRoot")) is True):
            errors.append(f"{where}: runAsNonRoot must be true")
        if sc.get("runAsUser", psc.get("runAsUser")) in (None, 0):
            errors.append(f"{where}: runAsUser must be a non-zero uid")
        if sc.get("allowPrivilegeEscalation") is not False:
            errors.append(f"{where}: allowPrivilegeEscalation must be false")
        if sc.get("readOnlyRootFilesystem") is not True:
            errors.append(f"{where}: readOnlyRootFilesystem must be true")
        if "ALL" not in sc.get("capabilities", {}).get("drop", []):
            errors.append(f"{where}: capabilities must drop ALL")
        seccomp = sc.get("seccompProfile", psc.get("seccompProfile", {})).get("type")
        if seccomp not in ("RuntimeDefault", "Localhost"):
            errors.append(f"{where}: seccompProfile must be RuntimeDefault")
        if needs_tmp and "/tmp" not in [m["mountPath"] for m in c.get("volumeMounts", [])]:
            errors.append(f"{where}: /tmp must be a writable volume (the root filesystem is read-only)")
        limits = c.get("resources", {}).get("limits", {})
        requests = c.get("resources", {}).get("requests", {})
        if "memory" not in limits or "memory" not in requests:
            errors.append(f"{where}: memory request and limit are required")
    return errors


def deployment_rules(doc):
    errors = pod_rules(doc["spec"]["template"]["spec"])
    annotations = doc["spec"]["template"]["metadata"].get("annotations", {})
    for key in ("checksum/config", "checksum/secret"):
        if not re.fullmatch(r"[0-9a-f]{64}", str(annotations.get(key, ""))):
            errors.append(f"pod annotation {key} (sha256) is missing")
    c = doc["spec"]["template"]["spec"]["containers"][0]
    if c.get("args") != ["serve"]:
        errors.append("the app container must run `serve`")
    probes = {
        "startupProbe": "/healthz",
        "livenessProbe": "/healthz",
        "readinessProbe": "/readyz",
    }
    for probe, path in probes.items():
        if c.get(probe, {}).get("httpGet", {}).get("path") != path:
            errors.append(f"{probe} must GET {path}")
    if "preStop" not in c.get("lifecycle", {}):
        errors.append("a preStop hook must let the ingress drain before SIGTERM")
    return errors


def job_rules(doc):
    errors = pod_rules(doc["spec"]["template"]["spec"])
    hooks = set(doc["metadata"].get("annotations", {}).get("helm.sh/hook", "").split(","))
    if not {"pre-install", "pre-upgrade"} <= hooks:
        errors.append("the migration Job must be a pre-install,pre-upgrade hook")
    if doc["spec"]["template"]["spec"]["containers"][0].get("args") != ["migrate"]:
        errors.append("the migration Job must run `migrate`")
    return errors


TEST_URL = re.compile(r"^http://([a-z0-9-]+):([0-9]+)/readyz$")


def test_pod_rules(doc):
    """The `helm test` pod: a test hook that runs once and GETs /readyz through the Service."""
    errors = pod_rules(doc["spec"], needs_tmp=False)
    if doc["metadata"].get("annotations", {}).get("helm.sh/hook") != "test":
        errors.append("the only Pod the chart renders is the `helm test` hook (annotation helm.sh/hook: test)")
    if doc["spec"].get("restartPolicy") != "Never":
        errors.append("a test pod must have restartPolicy Never, or it never fails")
    url = test_url(doc)
    if not (url and TEST_URL.match(url)):
        errors.append(f"the test must GET http://<service>:<port>/readyz, not {url!r}")
    return errors


def test_url(doc):
    env = doc["spec"]["containers"][0].get("env", [])
    return next((e.get("value") for e in env if e["name"] == "URL"), None)


def network_policy_rules(doc):
    """Enabling the policy must not cut the service off: DNS and PostgreSQL stay reachable,
    and the API port is open to someone."""
    errors = []
    spec = doc["spec"]
    if set(spec.get("policyTypes", [])) != {"Ingress", "Egress"}:
        errors.append("policyTypes must be Ingress and Egress")
    ingress = spec.get("ingress", [])
    if not ingress or not all(rule.get("from") for rule in ingress):
        errors.append("every ingress rule must name its sources (a rule without `from` admits everyone)")
    for protocol in ("UDP", "TCP"):
        if not egress_allows(doc, 53, protocol):
            errors.append(f"egress must allow DNS ({protocol} port 53)")
    return errors


def egress_allows(policy, port, protocol="TCP"):
    """Whether some egress rule of the policy allows `port` (to some destination)."""
    for rule in policy["spec"].get("egress", []):
        ports = rule.get("ports") or [{}]   # no ports: every port
        for p in ports:
            lo = p.get("port")
            hi = p.get("endPort", lo)
            if p.get("protocol", "TCP") == protocol and (lo is None or (isinstance(lo, int) and lo <= port <= hi)):
                return True
    return False


# Where the pods connect, as the rendered settings say (Secret stringData, ConfigMap data).
ENDPOINT_KEYS = ("ZMG_DATABASE_URL", "ZMG_MIGRATION_DATABASE_URL", "ZMG_S3_ENDPOINT",
                 "ZMG_TENCENT_SMS_ENDPOINT", "ZMG_TENCENT_FACE_ENDPOINT")
DEFAULT_PORTS = {"postgres": 5432, "postgresql": 5432, "http": 80, "https": 443}


def endpoint_ports(docs):
    """(key, port) of every address the rendered settings name."""
    found = []
    for d in docs:
        data = d.get("stringData", {}) if d["kind"] == "Secret" else d.get("data", {}) if d["kind"] == "ConfigMap" else {}
        for key in ENDPOINT_KEYS:
            if data.get(key):
                url = urllib.parse.urlsplit(data[key])
                found.append((key, url.port or DEFAULT_PORTS[url.scheme]))
    return found


# What the API server checks for Ingress and the JSON schema does not.
HOST = re.compile(r"^(\*\.)?[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")


def ingress_rules(doc):
    errors = []
    for rule in doc["spec"].get("rules", []):
        host = rule.get("host", "")
        if not HOST.match(host):
            errors.append(f"host {host!r} is not a DNS name (optionally *.-prefixed)")
        for p in rule.get("http", {}).get("paths", []):
            if p.get("pathType") not in ("Prefix", "Exact", "ImplementationSpecific"):
                errors.append(f"pathType {p.get('pathType')!r} is not Prefix, Exact or ImplementationSpecific")
    tls_hosts = {h for t in doc["spec"].get("tls", []) for h in t.get("hosts", [])}
    rule_hosts = {r.get("host") for r in doc["spec"].get("rules", [])}
    if tls_hosts and tls_hosts != rule_hosts:
        errors.append(f"TLS hosts {sorted(tls_hosts)} differ from rule hosts {sorted(rule_hosts)}")
    return errors


def matches(selector, labels):
    return all(labels.get(k) == v for k, v in selector.get("matchLabels", {}).items())


def reference_errors(docs, external_secrets):
    """Every ConfigMap, Secret, Service and Deployment named by another resource is rendered
    (or is a Secret the operator provides), and selectors select something."""
    have = {(d["kind"], d["metadata"]["name"]) for d in docs}
    errors = []
    deployments = [d for d in docs if d["kind"] == "Deployment"]
    services = [d for d in docs if d["kind"] == "Service"]
    test_pods = [d for d in docs if d["kind"] == "Pod"]
    for d in docs:
        if d["kind"] not in ("Deployment", "Job", "Pod"):
            continue
        pod = d["spec"] if d["kind"] == "Pod" else d["spec"]["template"]["spec"]
        for c in pod["containers"]:
            for src in c.get("envFrom", []):
                if "configMapRef" in src and ("ConfigMap", src["configMapRef"]["name"]) not in have:
                    errors.append(f"{name_of(d)}: ConfigMap {src['configMapRef']['name']} is not rendered")
            for env in c.get("env", []):
                ref = env.get("valueFrom", {}).get("secretKeyRef")
                if ref and ("Secret", ref["name"]) not in have and ref["name"] not in external_secrets:
                    errors.append(f"{name_of(d)}: Secret {ref['name']} (env {env['name']}) is neither rendered nor external")
        for v in pod.get("volumes", []):
            if "configMap" in v and ("ConfigMap", v["configMap"]["name"]) not in have:
                errors.append(f"{name_of(d)}: ConfigMap {v['configMap']['name']} is not rendered")
    for d in docs:
        kind = d["kind"]
        if kind == "Ingress":
            for rule in d["spec"]["rules"]:
                for p in rule["http"]["paths"]:
                    svc = p["backend"]["service"]["name"]
                    if ("Service", svc) not in have:
                        errors.append(f"{name_of(d)}: backend Service {svc} is not rendered")
        elif kind == "HorizontalPodAutoscaler":
            if ("Deployment", d["spec"]["scaleTargetRef"]["name"]) not in have:
                errors.append(f"{name_of(d)}: scale target is not rendered")
            if any("replicas" in dep["spec"] for dep in deployments):
                errors.append(f"{name_of(d)}: the Deployment must not set replicas when the HPA owns them")
        elif kind == "PodDisruptionBudget":
            if not any(matches(d["spec"]["selector"], dep["spec"]["template"]["metadata"]["labels"]) for dep in deployments):
                errors.append(f"{name_of(d)}: selector matches no Deployment's pods")
        elif kind == "ServiceMonitor":
            if not any(matches(d["spec"]["selector"], s["metadata"].get("labels", {})) for s in services):
                errors.append(f"{name_of(d)}: selector matches no rendered Service")
            ports = {p.get("name") for s in services for p in s["spec"]["ports"]}
            for ep in d["spec"]["endpoints"]:
                if ep.get("port") not in ports:
                    errors.append(f"{name_of(d)}: port {ep.get('port')} is no Service port")
        elif kind == "Service":
            if not any(matches({"matchLabels": d["spec"]["selector"]}, dep["spec"]["template"]["metadata"]["labels"]) for dep in deployments):
                errors.append(f"{name_of(d)}: selector matches no Deployment's pods")
            for pod in test_pods:
                if matches({"matchLabels": d["spec"]["selector"]}, pod["metadata"].get("labels", {})):
                    errors.append(f"{name_of(d)}: selector matches the test pod {name_of(pod)}")
        elif kind == "Pod":
            m = TEST_URL.match(test_url(d) or "")
            if m and not any(s["metadata"]["name"] == m.group(1) and any(p["port"] == int(m.group(2)) for p in s["spec"]["ports"])
                             for s in services):
                errors.append(f"{name_of(d)}: its URL names no rendered Service port ({m.group(0)})")
        elif kind == "NetworkPolicy":
            selector = d["spec"]["podSelector"]
            if not any(matches(selector, dep["spec"]["template"]["metadata"]["labels"]) for dep in deployments):
                errors.append(f"{name_of(d)}: podSelector matches no Deployment's pods")
            # Every ingress rule allows the test pod's labels, or `helm test` fails once the policy is on.
            peers = [p for rule in d["spec"].get("ingress", []) for p in rule.get("from", [])]
            for pod in test_pods:
                labels = pod["metadata"].get("labels", {})
                if not any(set(p) == {"podSelector"} and matches(p["podSelector"], labels) for p in peers):
                    errors.append(f"{name_of(d)}: no ingress peer admits the test pod {name_of(pod)}")
            for key, port in endpoint_ports(docs):
                if not egress_allows(d, port):
                    errors.append(f"{name_of(d)}: egress does not allow port {port} of {key}")
    return errors


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("kube_version")
    parser.add_argument("rendered")
    parser.add_argument("--external-secret", action="append", default=[],
                        help="a Secret the operator creates (existingSecret); references to it are fine")
    args = parser.parse_args()

    with open(args.rendered) as f:
        docs = [d for d in yaml.safe_load_all(f) if d]
    if not docs:
        print(f"ERROR {args.rendered}: nothing rendered")
        return 1

    failed = 0
    for doc in docs:
        errors, against = schema_errors(doc, args.kube_version)
        if not errors:
            rules = {"Deployment": deployment_rules, "Job": job_rules, "Ingress": ingress_rules,
                     "Pod": test_pod_rules, "NetworkPolicy": network_policy_rules}.get(doc["kind"])
            errors = rules(doc) if rules else []
        if errors:
            failed += 1
            for e in errors:
                print(f"  FAIL {name_of(doc)}: {e}")
        else:
            print(f"  ok   {name_of(doc)}  [{against}]")
    cross = reference_errors(docs, set(args.external_secret))
    for e in cross:
        print(f"  FAIL references: {e}")
    if not cross:
        print(f"  ok   references between the {len(docs)} resources")
    return 1 if failed or cross else 0


if __name__ == "__main__":
    sys.exit(main())
