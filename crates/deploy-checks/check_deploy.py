#!/usr/bin/env python3
"""Offline checks of pricetrack's deployment files, run by scripts/check-deploy.sh.

Every check is a named function; each prints PASS or FAIL (with the reasons), and the run ends
with `deploy-checks: N passed, M failed`. The facts the deployment must agree with come from the
code itself (the `deploy-facts` binary of this crate, and the API's route table), never from a
copy kept here.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import hcl2
import kubernetes_validate
import yaml
from hcl2 import SerializationOptions

ROOT = Path(__file__).resolve().parents[2]
K8S_VERSION = "1.34.0"
OVERLAYS = ["deploy/overlays/dev", "deploy/overlays/prod"]
FLUX_DIRS = [
    "flux/clusters/dev",
    "flux/clusters/prod",
    "flux/infrastructure/controllers",
    "flux/infrastructure/configs",
]
ENVS = ["dev", "prod"]
# Variables the AWS SDK reads (not pricetrack): allowed in pods beside those the binary reads.
SDK_VARS = {"AWS_REGION"}
# Read by the OpenTelemetry exporter (docs/operations.md, "Traces"), not by our settings: a
# manifest may set them to turn trace export on.
OTEL_VARS = {
    "OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_PROTOCOL",
    "OTEL_EXPORTER_OTLP_HEADERS", "OTEL_EXPORTER_OTLP_TIMEOUT", "OTEL_SERVICE_NAME", "OTEL_RESOURCE_ATTRIBUTES",
    "OTEL_TRACES_SAMPLER", "OTEL_TRACES_SAMPLER_ARG", "OTEL_BSP_SCHEDULE_DELAY",
}
# Never in a manifest: pods get AWS credentials through IRSA only.
FORBIDDEN_VARS = {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"}

results: list[tuple[str, bool]] = []


def check(name: str, problems: list[str]) -> None:
    ok = not problems
    results.append((name, ok))
    print(f"{'PASS' if ok else 'FAIL'}  {name}")
    for p in problems:
        print(f"        - {p}")
    sys.stdout.flush()


def load_tf(path: Path) -> dict:
    with path.open() as f:
        return hcl2.load(f, serialization_options=SerializationOptions(strip_string_quotes=True, explicit_blocks=False))


def tf_resources(module_dir: Path) -> dict[tuple[str, str], dict]:
    found: dict[tuple[str, str], dict] = {}
    for tf in sorted(module_dir.glob("*.tf")):
        for block in load_tf(tf).get("resource", []):
            for rtype, named in block.items():
                for rname, body in named.items():
                    found[(rtype, rname)] = body
    return found


def tf_variables(module_dir: Path) -> dict[str, dict]:
    found: dict[str, dict] = {}
    for tf in sorted(module_dir.glob("*.tf")):
        for block in load_tf(tf).get("variable", []):
            for name, body in block.items():
                found[name] = body
    return found


def first(value):
    return value[0] if isinstance(value, list) and value else value


def docs(text: str) -> list[dict]:
    return [d for d in yaml.safe_load_all(text) if d]


def by_kind(objs: list[dict], kind: str) -> list[dict]:
    return [o for o in objs if o.get("kind") == kind]


def named(objs: list[dict], kind: str, name: str) -> dict | None:
    for o in by_kind(objs, kind):
        if o["metadata"]["name"] == name:
            return o
    return None


def dig(obj, path: str):
    cur = obj
    for part in path.split("."):
        if isinstance(cur, list):
            if not cur:
                return None
            cur = cur[0]
        if not isinstance(cur, dict) or part not in cur:
            return None
        cur = cur[part]
    return cur


# ---- rendering and schema validation ---------------------------------------------------------

def render_all() -> dict[str, list[dict]]:
    rendered: dict[str, list[dict]] = {}
    for d in OVERLAYS + FLUX_DIRS:
        proc = subprocess.run(["kubectl", "kustomize", str(ROOT / d)], capture_output=True, text=True)
        problems = [] if proc.returncode == 0 else [proc.stderr.strip()[:2000]]
        objs: list[dict] = []
        if not problems:
            try:
                objs = docs(proc.stdout)
            except yaml.YAMLError as e:
                problems.append(f"rendered YAML does not parse: {e}")
            if not objs:
                problems.append("renders nothing")
        check(f"render {d} (kubectl kustomize)", problems)
        rendered[d] = objs
    return rendered


# Custom resources: accepted apiVersions and the fields each must have (dotted paths).
CUSTOM_KINDS: dict[str, tuple[set[str], list[str]]] = {
    "ExternalSecret": ({"external-secrets.io/v1"}, ["spec.secretStoreRef.name", "spec.secretStoreRef.kind", "spec.target.name", "spec.data"]),
    "ClusterSecretStore": ({"external-secrets.io/v1"}, ["spec.provider.aws.service", "spec.provider.aws.region"]),
    "ScaledObject": ({"keda.sh/v1alpha1"}, ["spec.scaleTargetRef.name", "spec.triggers", "spec.maxReplicaCount"]),
    "TriggerAuthentication": ({"keda.sh/v1alpha1"}, ["spec.podIdentity.provider"]),
    "Gateway": ({"gateway.networking.k8s.io/v1"}, ["spec.gatewayClassName", "spec.listeners"]),
    "HTTPRoute": ({"gateway.networking.k8s.io/v1"}, ["spec.parentRefs", "spec.rules"]),
    "GatewayClass": ({"gateway.networking.k8s.io/v1"}, ["spec.controllerName"]),
    "EnvoyProxy": ({"gateway.envoyproxy.io/v1alpha1"}, ["spec.provider.type"]),
    "ClusterIssuer": ({"cert-manager.io/v1"}, ["spec.acme.server", "spec.acme.privateKeySecretRef.name", "spec.acme.solvers"]),
    "GitRepository": ({"source.toolkit.fluxcd.io/v1"}, ["spec.url", "spec.interval", "spec.ref.branch"]),
    "HelmRepository": ({"source.toolkit.fluxcd.io/v1"}, ["spec.url", "spec.interval"]),
    "HelmRelease": ({"helm.toolkit.fluxcd.io/v2"}, ["spec.interval", "spec.chart.spec.chart", "spec.chart.spec.version", "spec.chart.spec.sourceRef.kind", "spec.chart.spec.sourceRef.name"]),
    "Kustomization": ({"kustomize.toolkit.fluxcd.io/v1"}, ["spec.interval", "spec.path", "spec.prune", "spec.sourceRef.kind", "spec.sourceRef.name"]),
    "ImageRepository": ({"image.toolkit.fluxcd.io/v1"}, ["spec.image", "spec.interval"]),
    "ImagePolicy": ({"image.toolkit.fluxcd.io/v1"}, ["spec.imageRepositoryRef.name", "spec.policy"]),
    "ImageUpdateAutomation": ({"image.toolkit.fluxcd.io/v1"}, ["spec.interval", "spec.sourceRef.name", "spec.git.commit.author.email", "spec.git.push.branch", "spec.update.path", "spec.update.strategy"]),
    "Provider": ({"notification.toolkit.fluxcd.io/v1beta3"}, ["spec.type"]),
    "Alert": ({"notification.toolkit.fluxcd.io/v1beta3"}, ["spec.providerRef.name", "spec.eventSources"]),
    "PodMonitor": ({"monitoring.coreos.com/v1"}, ["spec.selector.matchLabels", "spec.podMetricsEndpoints"]),
    "PrometheusRule": ({"monitoring.coreos.com/v1"}, ["spec.groups"]),
}


def validate_kinds(rendered: dict[str, list[dict]]) -> None:
    for d, objs in rendered.items():
        core_problems: list[str] = []
        cr_problems: list[str] = []
        core = 0
        for o in objs:
            kind, api = o.get("kind"), o.get("apiVersion", "")
            ident = f"{kind}/{dig(o, 'metadata.name')}"
            if kind in CUSTOM_KINDS:
                versions, required = CUSTOM_KINDS[kind]
                if api not in versions:
                    cr_problems.append(f"{ident}: apiVersion {api} is not one of {sorted(versions)}")
                if not dig(o, "metadata.name"):
                    cr_problems.append(f"{ident}: no metadata.name")
                for path in required:
                    if dig(o, path) in (None, "", [], {}):
                        cr_problems.append(f"{ident}: missing {path}")
                continue
            core += 1
            try:
                kubernetes_validate.validate(o, K8S_VERSION, strict=True)
            except kubernetes_validate.ValidationError as e:
                core_problems.append(f"{ident}: {e.message} at {'/'.join(str(p) for p in e.path)}")
            except kubernetes_validate.SchemaNotFoundError:
                core_problems.append(f"{ident}: {api} {kind} is neither a core kind nor a known custom resource")
        check(f"kubernetes-validate --strict ({K8S_VERSION}) of {core} core objects in {d}", core_problems)
        check(f"custom resources (apiVersion, kind, required fields) in {d}", cr_problems)


# ---- policies an SRE expects of the workloads ----------------------------------------------------

def workload_policies(rendered: dict[str, list[dict]]) -> None:
    for d in OVERLAYS:
        objs = rendered[d]
        problems: list[str] = []
        scaled = {dig(h, "spec.scaleTargetRef.name") for h in by_kind(objs, "HorizontalPodAutoscaler")}
        scaled |= {dig(s, "spec.scaleTargetRef.name") for s in by_kind(objs, "ScaledObject")}
        for dep in by_kind(objs, "Deployment"):
            name = dep["metadata"]["name"]
            spec = dep["spec"]["template"]["spec"]
            if name not in scaled:
                problems.append(f"Deployment {name}: no autoscaler")
            if "replicas" in dep["spec"]:
                problems.append(f"Deployment {name}: sets replicas although an autoscaler owns the count")
            psc = spec.get("securityContext", {})
            if psc.get("runAsNonRoot") is not True or dig(psc, "seccompProfile.type") != "RuntimeDefault":
                problems.append(f"Deployment {name}: pod must run as non-root with seccomp RuntimeDefault")
            if not spec.get("topologySpreadConstraints"):
                problems.append(f"Deployment {name}: no topology spread")
            sa = named(objs, "ServiceAccount", spec.get("serviceAccountName", ""))
            if not sa or not str(dig(sa, "metadata.annotations") and sa["metadata"]["annotations"].get("eks.amazonaws.com/role-arn", "")).startswith("arn:aws:iam::"):
                problems.append(f"Deployment {name}: its own ServiceAccount with an IRSA role ARN is required")
            # Native sidecars (initContainers with restartPolicy Always) run as long as the pod.
            for c in spec["containers"] + spec.get("initContainers", []):
                sc = c.get("securityContext", {})
                if sc.get("allowPrivilegeEscalation") is not False or sc.get("readOnlyRootFilesystem") is not True:
                    problems.append(f"{name}/{c['name']}: needs allowPrivilegeEscalation false and a read-only root filesystem")
                if dig(sc, "capabilities.drop") != ["ALL"]:
                    problems.append(f"{name}/{c['name']}: must drop ALL capabilities")
                for kind in ("requests", "limits"):
                    for res in ("cpu", "memory"):
                        if not dig(c, f"resources.{kind}.{res}"):
                            problems.append(f"{name}/{c['name']}: no {kind}.{res}")
                for e in c.get("env", []):
                    if e["name"] in FORBIDDEN_VARS:
                        problems.append(f"{name}/{c['name']}: sets {e['name']}: use IRSA")
        for cm in by_kind(objs, "ConfigMap"):
            for key in cm.get("data", {}):
                if key in FORBIDDEN_VARS or re.search(r"SECRET|PASSWORD|DATABASE_URL|TOKEN", key):
                    problems.append(f"ConfigMap {cm['metadata']['name']}: secret-looking key {key}: secrets come from External Secrets")
        if by_kind(objs, "Secret"):
            problems.append("a Secret object is in git: secrets come from AWS Secrets Manager through External Secrets")
        for kind in ("PodDisruptionBudget", "NetworkPolicy", "HorizontalPodAutoscaler", "ScaledObject", "ExternalSecret", "Gateway", "HTTPRoute"):
            if not by_kind(objs, kind):
                problems.append(f"no {kind}")
        check(f"workload policies in {d} (no replicas under autoscalers, securityContext, resources, IRSA, no secrets in git)", problems)


# ---- consistency with the code --------------------------------------------------------------------

def container_env(objs: list[dict], container: dict) -> tuple[set[str], dict[str, str]]:
    """Names of the variables a container gets, and the values known from ConfigMaps."""
    names: set[str] = set()
    values: dict[str, str] = {}
    for e in container.get("env", []):
        names.add(e["name"])
        if "value" in e:
            values[e["name"]] = e["value"]
    for src in container.get("envFrom", []):
        if "configMapRef" in src:
            cm = named(objs, "ConfigMap", src["configMapRef"]["name"])
            if cm is None:
                names.add(f"<missing ConfigMap {src['configMapRef']['name']}>")
                continue
            names |= set(cm.get("data", {}))
            values.update(cm.get("data", {}))
        if "secretRef" in src:
            target = src["secretRef"]["name"]
            es = [x for x in by_kind(objs, "ExternalSecret") if dig(x, "spec.target.name") == target]
            if not es:
                names.add(f"<Secret {target} from no ExternalSecret>")
                continue
            template = dig(es[0], "spec.target.template.data")
            names |= set(template) if template else {d["secretKey"] for d in es[0]["spec"]["data"]}
    return names, values


def api_routes() -> set[str]:
    # The API's routes are its contract's paths (docs/openapi.json, which a test keeps equal to
    # what crates/api generates), plus the few routes served outside the contract.
    contract = json.loads((ROOT / "docs/openapi.json").read_text())
    src = (ROOT / "crates/api/src/lib.rs").read_text()
    return set(contract["paths"]) | set(re.findall(r'\.route\(\s*"([^"]+)"', src))


def lambda_env() -> dict:
    res = tf_resources(ROOT / "terraform/modules/rescheduler")
    fn = res[("aws_lambda_function", "this")]
    return first(fn["environment"])["variables"]


def consistency_env(rendered: dict[str, list[dict]], facts: dict) -> None:
    # The logging variables count for a program only if its main calls init_tracing(service).
    problems = []
    for program in ("api", "scraper", "rescheduler"):
        main_rs = ROOT / f"crates/services/src/bin/{program}.rs"
        if f'init_tracing("pricetrack-{program}")' not in main_rs.read_text():
            problems.append(f"{main_rs.relative_to(ROOT)} does not call init_tracing(\"pricetrack-{program}\"): RUST_LOG/PRICETRACK_LOG_FORMAT would be unread, its spans misnamed")
    check("every program initialises logging from RUST_LOG and PRICETRACK_LOG_FORMAT", problems)
    for d in OVERLAYS:
        objs = rendered[d]
        problems: list[str] = []
        for program in ("api", "scraper"):
            dep = named(objs, "Deployment", program)
            if dep is None:
                problems.append(f"no Deployment {program}")
                continue
            c = dep["spec"]["template"]["spec"]["containers"][0]
            names, _ = container_env(objs, c)
            wanted = set(facts["env"][program])
            missing = wanted - names
            extra = names - wanted - SDK_VARS - OTEL_VARS
            if missing:
                problems.append(f"{program}: the binary reads {sorted(missing)} but the manifests do not set them")
            if extra:
                problems.append(f"{program}: the manifests set {sorted(extra)} that the binary does not read")
        check(f"environment of api and scraper in {d} == what the binaries read", problems)
    problems = []
    env = set(lambda_env())
    wanted = set(facts["env"]["rescheduler"])
    if env != wanted:
        problems.append(f"Lambda sets {sorted(env)}, the rescheduler reads {sorted(wanted)}: missing {sorted(wanted - env)}, extra {sorted(env - wanted)}")
    check("environment of the rescheduler Lambda (terraform) == what the binary reads", problems)


def consistency_ports(rendered: dict[str, list[dict]], facts: dict) -> None:
    routes = api_routes()
    port = facts["api"]["port"]
    for d in OVERLAYS:
        objs = rendered[d]
        problems: list[str] = []
        dep = named(objs, "Deployment", "api")
        c = dep["spec"]["template"]["spec"]["containers"][0]
        ports = {p["name"]: p["containerPort"] for p in c.get("ports", [])}
        if ports.get("http") != port:
            problems.append(f"api containerPort http is {ports.get('http')}, the API listens on {port}")
        _, values = container_env(objs, c)
        listen = values.get(facts["api"]["listen_var"])
        if listen is not None and not listen.endswith(f":{ports.get('http')}"):
            problems.append(f"{facts['api']['listen_var']}={listen} does not match containerPort {ports.get('http')}")
        for probe, path in (("livenessProbe", "/healthz"), ("readinessProbe", "/readyz"), ("startupProbe", None)):
            got = dig(c, f"{probe}.httpGet.path")
            if got is None and probe != "startupProbe":
                problems.append(f"api has no {probe}")
                continue
            if got is not None and got not in routes:
                problems.append(f"api {probe} path {got} is not a route of crates/api ({sorted(r for r in routes if not r.startswith('/api'))})")
            if path and got != path:
                problems.append(f"api {probe} should probe {path}, probes {got}")
            pp = dig(c, f"{probe}.httpGet.port")
            if pp is not None and pp not in ports and pp != ports.get("http"):
                problems.append(f"api {probe} port {pp} is not a container port")
        # Probe timings against the API's own bounds (issue 15): readiness answers within
        # readyz_answer_bound_ms, so its timeout covers that, fails within 2 s, and a dependency
        # outage takes the pod out of the Service within 10 s; liveness never restarts the pod
        # for less than 30 s of silence.
        ready_timeout = dig(c, "readinessProbe.timeoutSeconds") or 1
        ready_period = dig(c, "readinessProbe.periodSeconds") or 10
        ready_threshold = dig(c, "readinessProbe.failureThreshold") or 3
        if ready_timeout * 1000 < facts["api"]["readyz_answer_bound_ms"]:
            problems.append(f"readinessProbe timeoutSeconds {ready_timeout} is below /readyz's answer bound ({facts['api']['readyz_answer_bound_ms']} ms)")
        if ready_timeout * 1000 > facts["api"]["dependency_deadline_ms"]:
            problems.append(f"readinessProbe timeoutSeconds {ready_timeout} waits longer than the API's dependency deadline")
        if ready_period * ready_threshold > 10:
            problems.append(f"readinessProbe takes {ready_period * ready_threshold} s (period x failureThreshold) to take a pod out; at most 10")
        live_timeout = dig(c, "livenessProbe.timeoutSeconds") or 1
        live_period = dig(c, "livenessProbe.periodSeconds") or 10
        live_threshold = dig(c, "livenessProbe.failureThreshold") or 3
        if live_timeout < 1 or live_period * live_threshold < 30:
            problems.append(f"livenessProbe restarts after {live_period * live_threshold} s of silence; at least 30")
        svc = named(objs, "Service", "api")
        if not svc or svc["spec"]["ports"][0]["targetPort"] not in ("http", port):
            problems.append("Service api does not target the container's http port")
        for route in by_kind(objs, "HTTPRoute"):
            for rule in route["spec"]["rules"]:
                for b in rule.get("backendRefs", []):
                    s = named(objs, "Service", b["name"])
                    if not s or b.get("port") not in [p["port"] for p in s["spec"]["ports"]]:
                        problems.append(f"HTTPRoute {route['metadata']['name']} points at {b['name']}:{b.get('port')}, which is no Service port")
                for m in rule.get("matches", []):
                    prefix = dig(m, "path.value")
                    if prefix and not any(r.startswith(prefix) for r in routes):
                        problems.append(f"HTTPRoute path {prefix} matches no route of the API")
        check(f"api ports, probe paths and probe timings in {d} == the API (port {port}, routes of crates/api, /readyz bound)", problems)
    # The Dockerfile's api image exposes the same port.
    text = (ROOT / "Dockerfile").read_text()
    stage = re.search(r"^FROM \S+ AS api\n(.*?)(?=^FROM )", text, re.M | re.S)
    exposed = re.findall(r"^EXPOSE (\d+)", stage.group(1), re.M) if stage else []
    check(f"Dockerfile api target EXPOSEs {port}", [] if exposed == [str(port)] else [f"EXPOSE {exposed}"])


def consistency_scraper(rendered: dict[str, list[dict]], facts: dict) -> None:
    sch = facts["schema"]
    for d in OVERLAYS:
        objs = rendered[d]
        problems: list[str] = []
        dep = named(objs, "Deployment", "scraper")
        c = dep["spec"]["template"]["spec"]["containers"][0]
        _, values = container_env(objs, c)
        grace = int(dep["spec"]["template"]["spec"].get("terminationGracePeriodSeconds", 30))
        shutdown = int(values.get("PRICETRACK_SHUTDOWN_GRACE_SECS", facts["scraper"]["default_shutdown_grace_secs"]))
        deadline = facts["scraper"]["check_deadline_secs"]
        if not grace > shutdown > deadline:
            problems.append(f"need terminationGracePeriodSeconds ({grace}) > PRICETRACK_SHUTDOWN_GRACE_SECS ({shutdown}) > a check's deadline ({deadline})")
        vis = int(values.get("PRICETRACK_VISIBILITY_TIMEOUT_SECS", sch["queue_visibility_timeout_secs"]))
        if vis != sch["queue_visibility_timeout_secs"]:
            problems.append(f"PRICETRACK_VISIBILITY_TIMEOUT_SECS {vis} != the queue's {sch['queue_visibility_timeout_secs']}")
        lease = int(values.get("PRICETRACK_LEASE_SECS", 300))
        if vis >= lease:
            problems.append(f"visibility timeout {vis} must be shorter than the lease {lease}")
        tf_lease = tf_variables(ROOT / "terraform/modules/pricetrack")["lease_secs"].get("default")
        if tf_lease != lease:
            problems.append(f"PRICETRACK_LEASE_SECS {lease} in the pods != the Lambda's lease_secs default {tf_lease}")
        # The rescheduler spreads one host's checks at the scrapers' own per-host pace.
        tf_res = tf_variables(ROOT / "terraform/modules/rescheduler")
        for var, tf_name, default in (("PRICETRACK_HOST_CONCURRENCY", "host_concurrency", "2"), ("PRICETRACK_HOST_MIN_DELAY", "host_min_delay", "1s")):
            pods = str(values.get(var, default))
            lam = str(tf_res[tf_name].get("default"))
            if pods != lam:
                problems.append(f"{var} {pods} in the scraper != the Lambda's {tf_name} default {lam}")
        for so in by_kind(objs, "ScaledObject"):
            t = so["spec"]["triggers"][0]
            if t["type"] != "aws-sqs-queue":
                problems.append(f"ScaledObject {so['metadata']['name']} scales on {t['type']}, not the SQS queue depth")
            if t["metadata"].get("queueURL") != values.get("PRICETRACK_QUEUE_URL"):
                problems.append(f"KEDA queueURL {t['metadata'].get('queueURL')} != PRICETRACK_QUEUE_URL {values.get('PRICETRACK_QUEUE_URL')}")
            if t["metadata"].get("awsRegion") != values.get("AWS_REGION"):
                problems.append("KEDA awsRegion != AWS_REGION")
            auth = named(objs, "TriggerAuthentication", dig(t, "authenticationRef.name") or "")
            if not auth or dig(auth, "spec.podIdentity.provider") != "aws" or dig(auth, "spec.secretTargetRef"):
                problems.append("KEDA must authenticate through the AWS pod identity, never keys")
        check(f"scraper shutdown, visibility, lease and KEDA trigger in {d} agree with the code and the queue", problems)


# ---- metrics: scrape targets, alert rules and the dashboard against the code ------------------------

PROMQL_SELECTOR = re.compile(r"\b(pricetrack_[a-z0-9_]+)\s*(\{[^}]*\})?")
PROMQL_LABEL = re.compile(r"([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!~|!=|=)")
PROMQL_GROUPING = re.compile(r"\b(?:by|without)\s*\(([^)]*)\)")


def promql_problems(where: str, expr: str, catalog: dict[str, dict]) -> list[str]:
    """Metric names (and the labels of their selectors and groupings) in a PromQL expression that
    the code does not record. Recording-rule names (with colons) are left alone."""
    problems: list[str] = []
    labels_in_expr: set[str] = set()
    for name, selector in PROMQL_SELECTOR.findall(expr):
        base, extra = name, set()
        if base not in catalog:
            for suffix, extra_labels in (("_bucket", {"le"}), ("_sum", set()), ("_count", set())):
                stem = name[: -len(suffix)] if name.endswith(suffix) else None
                if stem and catalog.get(stem, {}).get("kind") == "histogram":
                    base, extra = stem, extra_labels
                    break
        metric = catalog.get(base)
        if metric is None:
            problems.append(f"{where}: {name} is recorded nowhere in the code (crates/metrics)")
            continue
        known = set(metric["labels"]) | extra
        labels_in_expr |= known
        for label in PROMQL_LABEL.findall(selector or ""):
            if label not in known:
                problems.append(f"{where}: {name} has no label {label} (it has {sorted(known)})")
    # Labels grouped by must come from some metric of the expression (or Prometheus' target labels).
    for group in PROMQL_GROUPING.findall(expr):
        for label in (x.strip() for x in group.split(",")):
            if label and label not in labels_in_expr | {"le", "job", "pod", "namespace", "instance"}:
                problems.append(f"{where}: groups by {label}, which no metric of the expression has")
    return problems


def consistency_metrics(rendered: dict[str, list[dict]], facts: dict) -> None:
    catalog = {m["name"]: m for m in facts["metrics"]}
    routes = api_routes()
    for d in OVERLAYS:
        objs = rendered[d]
        problems: list[str] = []
        # The scraper's named metrics port is where PRICETRACK_METRICS_ADDR listens.
        dep = named(objs, "Deployment", "scraper")
        c = dep["spec"]["template"]["spec"]["containers"][0]
        ports = {p["name"]: p["containerPort"] for p in c.get("ports", [])}
        _, values = container_env(objs, c)
        addr = values.get(facts["scraper"]["metrics_var"], facts["scraper"]["default_metrics_addr"])
        if addr.lower() == "off":
            problems.append(f"{facts['scraper']['metrics_var']}=off: the scraper would serve no metrics")
        elif not addr.endswith(f":{ports.get('metrics')}"):
            problems.append(f"scraper {facts['scraper']['metrics_var']}={addr} does not match its containerPort metrics ({ports.get('metrics')})")
        # Each PodMonitor selects a Deployment's pods and scrapes one of its named ports.
        monitored = set()
        for pm in by_kind(objs, "PodMonitor"):
            sel = dig(pm, "spec.selector.matchLabels") or {}
            targets = [x for x in by_kind(objs, "Deployment") if sel and sel.items() <= x["spec"]["template"]["metadata"]["labels"].items()]
            if not targets:
                problems.append(f"PodMonitor {pm['metadata']['name']} selects no Deployment")
            for target in targets:
                monitored.add(target["metadata"]["name"])
                tports = {p["name"] for p in target["spec"]["template"]["spec"]["containers"][0].get("ports", [])}
                for ep in pm["spec"]["podMetricsEndpoints"]:
                    if ep.get("port") not in tports:
                        problems.append(f"PodMonitor {pm['metadata']['name']} scrapes port {ep.get('port')}, which {target['metadata']['name']} does not name")
                    if ep.get("path", "/metrics") != "/metrics":
                        problems.append(f"PodMonitor {pm['metadata']['name']} scrapes {ep.get('path')}, not /metrics")
        for name in ("api", "scraper"):
            if name not in monitored:
                problems.append(f"no PodMonitor scrapes the {name}")
        if "/metrics" not in routes:
            problems.append("crates/api has no /metrics route")
        # The scrapes come from the monitoring namespace: the NetworkPolicies must admit them.
        for name, port in (("api", "http"), ("scraper", "metrics")):
            np = named(objs, "NetworkPolicy", name)
            admitted = any(
                any(dig(f, "namespaceSelector.matchLabels") == {"kubernetes.io/metadata.name": "monitoring"} for f in rule.get("from", []))
                and any(p.get("port") == port for p in rule.get("ports", []))
                for rule in (np or {}).get("spec", {}).get("ingress", [])
            )
            if not admitted:
                problems.append(f"NetworkPolicy {name} does not admit Prometheus (namespace monitoring) on port {port}")
        # Alert rules and the dashboard name only metrics and labels the code records.
        rules = by_kind(objs, "PrometheusRule")
        if not rules:
            problems.append("no PrometheusRule")
        alerts = set()
        for pr in rules:
            for group in pr["spec"]["groups"]:
                for rule in group["rules"]:
                    alerts.add(rule.get("alert"))
                    problems += promql_problems(f"rule {rule.get('alert') or rule.get('record')}", rule["expr"], catalog)
        # The alerts operations.md promises (issue 13).
        for need in ("PricetrackChecksFailing", "PricetrackDeliveriesFailing", "PricetrackFreshnessFastBurn", "PricetrackAlertLatencyFastBurn", "PricetrackApiAvailabilityFastBurn"):
            if need not in alerts:
                problems.append(f"no alert {need}")
        dashboards = [cm for cm in by_kind(objs, "ConfigMap") if dig(cm, "metadata.labels.grafana_dashboard")]
        if not dashboards:
            problems.append("no Grafana dashboard ConfigMap (label grafana_dashboard)")
        for cm in dashboards:
            for key, text in cm.get("data", {}).items():
                try:
                    dash = json.loads(text)
                except json.JSONDecodeError as e:
                    problems.append(f"dashboard {key} is not JSON: {e}")
                    continue
                for panel in dash.get("panels", []):
                    for target in panel.get("targets", []):
                        problems += promql_problems(f"dashboard panel {panel.get('title')!r}", target.get("expr", ""), catalog)
        check(f"metrics in {d}: scrape ports and PodMonitors, NetworkPolicies, alert rules and dashboard name only what the code records", problems)


def consistency_emf_alarms(facts: dict) -> None:
    """CloudWatch alarms on the rescheduler's embedded metrics use its namespace and metric names."""
    res = tf_resources(ROOT / "terraform/modules/alarms")
    names = set(facts["emf_metrics"])
    problems: list[str] = []
    emf = [(key, body) for key, body in res.items() if key[0] == "aws_cloudwatch_metric_alarm" and not str(body.get("namespace", "")).startswith("AWS/")]
    if not emf:
        problems.append("no alarm on the rescheduler's embedded metrics")
    for (_, name), body in emf:
        if body.get("namespace") != facts["emf_namespace"]:
            problems.append(f"alarm {name}: namespace {body.get('namespace')} is not the rescheduler's {facts['emf_namespace']}")
        if body.get("metric_name") not in names:
            problems.append(f"alarm {name}: the rescheduler writes no metric {body.get('metric_name')}")
        if set(first(body.get("dimensions")) or {}) != {"FunctionName"}:
            problems.append(f"alarm {name}: the rescheduler's metrics have the one dimension FunctionName")
    check("CloudWatch alarms on the rescheduler's EMF metrics name its namespace, metrics and dimension", problems)


def promtool_rules(rendered: dict[str, list[dict]], promtool: str | None) -> None:
    """`promtool check rules` and `promtool test rules` on the PrometheusRule's groups."""
    if not promtool:
        check("promtool check rules / test rules", ["promtool is not installed (scripts/check-deploy.sh installs it from Debian's prometheus package)"])
        return
    rules = by_kind(rendered[OVERLAYS[0]], "PrometheusRule")
    groups = [g for pr in rules for g in pr["spec"]["groups"]]
    with tempfile.TemporaryDirectory(prefix="promtool-") as tmp:
        rules_file = Path(tmp) / "rules.yaml"
        rules_file.write_text(yaml.safe_dump({"groups": groups}, sort_keys=False))
        (Path(tmp) / "prometheus-rules.test.yaml").write_text((ROOT / "deploy/tests/prometheus-rules.test.yaml").read_text())
        for name, cmd in (
            ("promtool check rules (the PrometheusRule of deploy/base/monitoring.yaml)", [promtool, "check", "rules", str(rules_file)]),
            ("promtool test rules deploy/tests/prometheus-rules.test.yaml", [promtool, "test", "rules", "prometheus-rules.test.yaml"]),
        ):
            proc = subprocess.run(cmd, capture_output=True, text=True, cwd=tmp)
            check(name, [] if proc.returncode == 0 else [(proc.stdout + proc.stderr).strip()[-3000:]])


def consistency_terraform(facts: dict) -> None:
    sch = facts["schema"]
    names = facts["resource_names"]
    res = tf_resources(ROOT / "terraform/modules/messaging")
    problems: list[str] = []
    table = res[("aws_dynamodb_table", "jobs")]
    expect = {
        "hash_key": sch["partition_key"], "range_key": sch["sort_key"], "billing_mode": sch["billing_mode"],
        "name": names["table"].replace("{prefix}", "${var.name}"),
    }
    for k, v in expect.items():
        if table.get(k) != v:
            problems.append(f"table {k} = {table.get(k)!r}, the code says {v!r}")
    attrs = {a["name"]: a["type"] for a in table.get("attribute", [])}
    want_attrs = {sch["partition_key"]: "S", sch["sort_key"]: "S", sch["due_shard"]: "S", sch["next_check_at"]: "N"}
    if attrs != want_attrs:
        problems.append(f"table attributes {attrs} != {want_attrs}")
    gsis = {g["name"]: g for g in table.get("global_secondary_index", [])}
    gsi = gsis.get(sch["due_index"])
    if gsi is None or len(gsis) != 1:
        problems.append(f"indexes {sorted(gsis)} != [{sch['due_index']}]")
    else:
        for k, v in (("hash_key", sch["due_shard"]), ("range_key", sch["next_check_at"]), ("projection_type", sch["due_index_projection"])):
            if gsi.get(k) != v:
                problems.append(f"{sch['due_index']} {k} = {gsi.get(k)!r}, the code says {v!r}")
    ttl = first(table.get("ttl"))
    if not ttl or ttl.get("attribute_name") != sch["ttl_attribute"] or ttl.get("enabled") is not True:
        problems.append(f"TTL {ttl} != enabled on {sch['ttl_attribute']}")
    if first(table.get("point_in_time_recovery", [{}])).get("enabled") is not True:
        problems.append("no point-in-time recovery")
    if first(table.get("server_side_encryption", [{}])).get("enabled") is not True:
        problems.append("no server-side encryption with the KMS key")
    check("terraform DynamoDB table == crates/aws/src/schema.rs (keys, attributes, due index, TTL)", problems)

    problems = []
    q = res[("aws_sqs_queue", "checks")]
    dlq = res[("aws_sqs_queue", "checks_dlq")]
    for body, k, v in (
        (q, "name", names["queue"].replace("{prefix}", "${var.name}")),
        (q, "visibility_timeout_seconds", sch["queue_visibility_timeout_secs"]),
        (q, "receive_wait_time_seconds", sch["queue_receive_wait_secs"]),
        (q, "message_retention_seconds", sch["queue_retention_secs"]),
        (dlq, "name", names["dead_letter_queue"].replace("{prefix}", "${var.name}")),
        (dlq, "message_retention_seconds", sch["dead_letter_retention_secs"]),
    ):
        if body.get(k) != v:
            problems.append(f"{body.get('name')}: {k} = {body.get(k)!r}, the code says {v!r}")
    redrive = str(q.get("redrive_policy", ""))
    m = re.search(r"maxReceiveCount\s*[=:]\s*(\d+)", redrive)
    if not m or int(m.group(1)) != sch["queue_max_receive_count"]:
        problems.append(f"redrive maxReceiveCount {m.group(1) if m else None} != {sch['queue_max_receive_count']}")
    if "aws_sqs_queue.checks_dlq.arn" not in redrive:
        problems.append("the check queue does not redrive to the dead-letter queue")
    topic = res[("aws_sns_topic", "alerts")]
    if topic.get("name") != names["topic"].replace("{prefix}", "${var.name}"):
        problems.append(f"topic name {topic.get('name')} != {names['topic']}")
    if not topic.get("kms_master_key_id"):
        problems.append("the topic is not encrypted with KMS")
    if ("aws_sqs_queue_policy", "alerts_archive") not in res or "sns.amazonaws.com" not in json.dumps(tf_data(ROOT / "terraform/modules/messaging")):
        problems.append("no queue policy lets SNS deliver to the subscribed queue")
    check("terraform SQS queue, dead-letter queue, redrive and SNS topic == crates/aws/src/schema.rs", problems)

    # The delivery stage: its queue, dead-letter queue, and the topic's subscription to it.
    problems = []
    dq = res.get(("aws_sqs_queue", "deliveries"), {})
    ddlq = res.get(("aws_sqs_queue", "deliveries_dlq"), {})
    for body, k, v in (
        (dq, "name", names["delivery_queue"].replace("{prefix}", "${var.name}")),
        (dq, "visibility_timeout_seconds", sch["delivery_queue_visibility_timeout_secs"]),
        (ddlq, "name", names["delivery_dead_letter_queue"].replace("{prefix}", "${var.name}")),
    ):
        if body.get(k) != v:
            problems.append(f"{body.get('name')}: {k} = {body.get(k)!r}, the code says {v!r}")
    redrive = str(dq.get("redrive_policy", ""))
    m = re.search(r"maxReceiveCount\s*[=:]\s*(\d+)", redrive)
    if not m or int(m.group(1)) != sch["delivery_queue_max_receive_count"]:
        problems.append(f"delivery redrive maxReceiveCount {m.group(1) if m else None} != {sch['delivery_queue_max_receive_count']}")
    if "aws_sqs_queue.deliveries_dlq.arn" not in redrive:
        problems.append("the delivery queue does not redrive to its dead-letter queue")
    sub = res.get(("aws_sns_topic_subscription", "deliveries"), {})
    if sub.get("raw_message_delivery") is not True or "aws_sqs_queue.deliveries.arn" not in str(sub.get("endpoint")):
        problems.append("the delivery queue is not subscribed to the topic with raw message delivery")
    policy = str(sub.get("filter_policy", ""))
    for key, values in sch["delivery_filter_policy"].items():
        if key not in policy or any(v not in policy for v in values):
            problems.append(f"the delivery subscription's filter policy {policy!r} != {sch['delivery_filter_policy']}")
    if ("aws_sqs_queue_policy", "deliveries") not in res:
        problems.append("no queue policy lets SNS deliver to the delivery queue")
    check("terraform delivery queue, its dead-letter queue and topic subscription == crates/aws/src/schema.rs", problems)


def tf_data(module_dir: Path) -> dict:
    found: dict = {}
    for tf in sorted(module_dir.glob("*.tf")):
        for block in load_tf(tf).get("data", []):
            for dtype, named_blocks in block.items():
                found.setdefault(dtype, {}).update(named_blocks)
    return found


def consistency_names(rendered: dict[str, list[dict]], facts: dict) -> None:
    """The overlays' AWS names and roles are the ones Terraform creates for that environment."""
    stack = (ROOT / "terraform/modules/pricetrack/main.tf").read_text()
    irsa_block = re.search(r"irsa = \{(.*?)\n  \}", stack, re.S)
    irsa = dict(re.findall(r'^\s*([a-z-]+)\s*=\s*\{\s*namespace = "([^"]+)"', irsa_block.group(1), re.M)) if irsa_block else {}
    irsa_sa = dict(re.findall(r'^\s*([a-z-]+)\s*=\s*\{[^}]*service_account = "([^"]+)"', irsa_block.group(1), re.M)) if irsa_block else {}
    for env, d in zip(ENVS, OVERLAYS):
        objs = rendered[d]
        problems: list[str] = []
        prefix = f"pricetrack-{env}"
        env_main = (ROOT / f"terraform/environments/{env}/main.tf").read_text()
        if f'environment        = "{env}"' not in env_main:
            problems.append(f"terraform/environments/{env} does not set environment = {env}")
        for program in ("api", "scraper"):
            dep = named(objs, "Deployment", program)
            _, values = container_env(objs, dep["spec"]["template"]["spec"]["containers"][0])
            if values.get("PRICETRACK_TABLE") != facts["resource_names"]["table"].replace("{prefix}", prefix):
                problems.append(f"{program}: PRICETRACK_TABLE {values.get('PRICETRACK_TABLE')} is not {prefix}'s table")
            if not str(values.get("PRICETRACK_QUEUE_URL", "")).endswith("/" + facts["resource_names"]["queue"].replace("{prefix}", prefix)):
                problems.append(f"{program}: PRICETRACK_QUEUE_URL {values.get('PRICETRACK_QUEUE_URL')} is not {prefix}'s queue")
            if not str(values.get("PRICETRACK_TOPIC_ARN", "")).endswith(":" + facts["resource_names"]["topic"].replace("{prefix}", prefix)):
                problems.append(f"{program}: PRICETRACK_TOPIC_ARN is not {prefix}'s topic")
            if program == "scraper" and not str(values.get("PRICETRACK_DELIVERY_QUEUE_URL", "")).endswith(
                "/" + facts["resource_names"]["delivery_queue"].replace("{prefix}", prefix)
            ):
                problems.append(f"scraper: PRICETRACK_DELIVERY_QUEUE_URL {values.get('PRICETRACK_DELIVERY_QUEUE_URL')} is not {prefix}'s delivery queue")
            sa_name = dep["spec"]["template"]["spec"]["serviceAccountName"]
            sa = named(objs, "ServiceAccount", sa_name)
            arn = sa["metadata"]["annotations"]["eks.amazonaws.com/role-arn"]
            if not arn.endswith(f":role/{prefix}-{program}"):
                problems.append(f"ServiceAccount {sa_name}: role {arn} is not {prefix}-{program}")
            ns = sa["metadata"].get("namespace")
            if irsa.get(program) != ns or irsa_sa.get(program) != sa_name:
                problems.append(f"terraform's IRSA role {program} trusts {irsa.get(program)}:{irsa_sa.get(program)}, the pod runs as {ns}:{sa_name}")
        check(f"AWS names and IRSA roles in {d} == terraform/environments/{env}", problems)
    # Flux add-ons run as the service accounts terraform's roles trust.
    problems = []
    ctrl = rendered["flux/infrastructure/controllers"]
    eso = named(ctrl, "HelmRelease", "external-secrets")
    if dig(eso, "spec.values.serviceAccount.name") != irsa_sa.get("external-secrets") or eso["metadata"]["namespace"] != irsa.get("external-secrets"):
        problems.append("External Secrets' service account differs from the one its IRSA role trusts")
    keda = named(ctrl, "HelmRelease", "keda")
    if keda["metadata"]["namespace"] != irsa.get("keda") or irsa_sa.get("keda") != "keda-operator":
        problems.append("KEDA's operator service account differs from the one its IRSA role trusts")
    check("Flux add-ons' service accounts == the IRSA roles terraform creates for them", problems)


def images_workflow() -> tuple[set[str], list[str], bool]:
    wf = yaml.safe_load((ROOT / ".github/workflows/images.yml").read_text())
    prefix = wf["env"]["IMAGE_PREFIX"]
    names = set()
    tags_template: list[str] = []
    semver = False
    for job in wf["jobs"].values():
        for image in (job.get("strategy") or {}).get("matrix", {}).get("image", []):
            names.add(f"{prefix}/{image}")
        for step in job.get("steps", []):
            if "docker/metadata-action" in str(step.get("uses", "")):
                for line in str(step["with"]["tags"]).splitlines():
                    line = line.strip()
                    if line.startswith("type=raw,value="):
                        tags_template.append(line.split("value=", 1)[1].split(",")[0])
                    if line.startswith("type=semver"):
                        semver = True
    return names, tags_template, semver


def consistency_images(rendered: dict[str, list[dict]]) -> None:
    wf_images, tag_templates, semver = images_workflow()
    for env, d in zip(ENVS, OVERLAYS):
        problems: list[str] = []
        objs = rendered[d]
        flux = rendered[f"flux/clusters/{env}"]
        used = set()
        for dep in by_kind(objs, "Deployment"):
            pod = dep["spec"]["template"]["spec"]
            for c in pod["containers"] + pod.get("initContainers", []):
                used.add(c["image"].rsplit(":", 1)[0])
        repos = {r["metadata"]["name"]: r["spec"]["image"] for r in by_kind(flux, "ImageRepository")}
        policies = {p["metadata"]["name"]: p for p in by_kind(flux, "ImagePolicy")}
        for image in sorted(used):
            if image not in wf_images:
                problems.append(f"{image} is not built by .github/workflows/images.yml ({sorted(wf_images)})")
            if image not in repos.values():
                problems.append(f"{image} has no Flux ImageRepository in flux/clusters/{env}")
        for pname, pol in policies.items():
            repo = repos.get(pol["spec"]["imageRepositoryRef"]["name"])
            if repo is None:
                problems.append(f"ImagePolicy {pname} refers to a missing ImageRepository")
            elif repo not in used:
                problems.append(f"ImagePolicy {pname} watches {repo}, which no Deployment uses")
            pattern = dig(pol, "spec.filterTags.pattern")
            if pattern:
                samples = [t.replace("{{sha}}", "0a1b2c3").replace("{{date 'YYYYMMDDHHmmss'}}", "20261121193000") for t in tag_templates]
                if not any(re.fullmatch(pattern, s) for s in samples):
                    problems.append(f"ImagePolicy {pname} pattern {pattern} matches no tag images.yml pushes ({samples})")
            elif "semver" in pol["spec"]["policy"] and not semver:
                problems.append(f"ImagePolicy {pname} selects semver tags, which images.yml does not push")
        # The kustomization's image setters name existing policies.
        kust = (ROOT / d / "kustomization.yaml").read_text()
        for marker in re.findall(r'\{"\$imagepolicy": "flux-system:([a-z0-9-]+):tag"\}', kust):
            if marker not in policies:
                problems.append(f"setter marker names ImagePolicy {marker}, which flux/clusters/{env} lacks")
        if not re.findall(r"\$imagepolicy", kust):
            problems.append("no image setter markers: the image automation cannot update the overlay")
        # The automation pushes to the branch Flux reconciles, into this overlay.
        git = named(flux, "GitRepository", "flux-system")
        for iua in by_kind(flux, "ImageUpdateAutomation"):
            branch = dig(git, "spec.ref.branch")
            if dig(iua, "spec.git.push.branch") != branch or dig(iua, "spec.git.checkout.ref.branch") != branch:
                problems.append(f"ImageUpdateAutomation pushes to {dig(iua, 'spec.git.push.branch')}, Flux reconciles {branch}")
            if dig(iua, "spec.update.path").strip("./") != d:
                problems.append(f"ImageUpdateAutomation updates {dig(iua, 'spec.update.path')}, the cluster runs {d}")
        check(f"images of {d} == images.yml == Flux image policies of flux/clusters/{env}", problems)


BROWSER_CONTAINER = "browser"
BROWSER_PORT = 9222


def browser_isolation(rendered: dict[str, list[dict]]) -> None:
    """Chromium renders untrusted pages: it runs in a container of its own that can reach no AWS
    credentials (docs/browser-isolation.md), and the scraper drives it on the pod's loopback."""
    for d in OVERLAYS:
        objs = rendered[d]
        problems: list[str] = []
        dep = named(objs, "Deployment", "scraper")
        if dep is None:
            check(f"browser isolation in {d}", ["no scraper Deployment"])
            continue
        pod_meta = dep["spec"]["template"].get("metadata", {})
        spec = dep["spec"]["template"]["spec"]
        everything = spec["containers"] + spec.get("initContainers", [])
        browsers = [c for c in everything if c["name"] == BROWSER_CONTAINER]
        if len(browsers) != 1:
            check(f"browser isolation in {d}", [f"scraper pod: expected one container named {BROWSER_CONTAINER}, found {len(browsers)}"])
            continue
        browser = browsers[0]
        where = f"scraper/{BROWSER_CONTAINER}"
        # Credentials: no AWS_* variables, nothing from ConfigMaps or Secrets, no token volume.
        for e in browser.get("env", []):
            if e["name"].startswith("AWS_") or "secretKeyRef" in (e.get("valueFrom") or {}):
                problems.append(f"{where}: sets {e['name']}")
        for src in browser.get("envFrom", []):
            problems.append(f"{where}: takes its environment from {src} (the scraper's config and secrets are not its business)")
        token_volumes = set()
        for v in spec.get("volumes", []):
            sources = [s for s in (dig(v, "projected.sources") or []) if "serviceAccountToken" in s]
            if sources or "secret" in v:
                token_volumes.add(v["name"])
        for m in browser.get("volumeMounts", []):
            if m["name"] in token_volumes or "serviceaccount" in m.get("mountPath", "") or "eks.amazonaws.com" in m.get("mountPath", ""):
                problems.append(f"{where}: mounts {m['name']} at {m.get('mountPath')} (a token or secret)")
        if spec.get("automountServiceAccountToken") is not False:
            problems.append("scraper pod: automountServiceAccountToken must be false (the Kubernetes token would reach the browser)")
        # EKS's pod identity webhook adds AWS_ROLE_ARN, AWS_WEB_IDENTITY_TOKEN_FILE and the token
        # volume to every container of the pod unless it is listed here.
        skipped = [x.strip() for x in str((pod_meta.get("annotations") or {}).get("eks.amazonaws.com/skip-containers", "")).split(",")]
        if BROWSER_CONTAINER not in skipped:
            problems.append(f"scraper pod: annotation eks.amazonaws.com/skip-containers must name {BROWSER_CONTAINER}: the IRSA webhook would inject the role's token")
        # Confinement.
        sc = browser.get("securityContext", {})
        psc = spec.get("securityContext", {})
        if (dig(sc, "seccompProfile.type") or dig(psc, "seccompProfile.type")) not in ("RuntimeDefault", "Localhost"):
            problems.append(f"{where}: no seccomp profile (RuntimeDefault or Localhost)")
        if sc.get("runAsNonRoot") is not True:
            problems.append(f"{where}: runAsNonRoot must be true")
        if sc.get("privileged") is True or sc.get("allowPrivilegeEscalation") is not False:
            problems.append(f"{where}: must not be privileged or escalate")
        if sc.get("readOnlyRootFilesystem") is not True or dig(sc, "capabilities.drop") != ["ALL"]:
            problems.append(f"{where}: needs a read-only root filesystem and all capabilities dropped")
        if browser.get("ports"):
            problems.append(f"{where}: exposes ports {browser['ports']}: DevTools must stay on the pod's loopback")
        if "pricetrack-browser" not in browser.get("image", ""):
            problems.append(f"{where}: image {browser.get('image')} is not the browser image")
        # The scraper drives it: PRICETRACK_BROWSER_URL is the sidecar's loopback port.
        scraper = next((c for c in spec["containers"] if c["name"] == "scraper"), None)
        if scraper is None:
            problems.append("scraper pod: no container named scraper")
        else:
            _, values = container_env(objs, scraper)
            url = values.get("PRICETRACK_BROWSER_URL", "")
            if url.rstrip("/") not in (f"http://127.0.0.1:{BROWSER_PORT}", f"http://localhost:{BROWSER_PORT}"):
                problems.append(f"scraper: PRICETRACK_BROWSER_URL={url!r}, not the sidecar's DevTools port http://127.0.0.1:{BROWSER_PORT}")
        # The Dockerfile's browser target listens where the scraper looks, on loopback only.
        dockerfile = (ROOT / "Dockerfile").read_text()
        stage = re.search(r"^FROM \S+ AS browser\n(.*?)(?=^FROM )", dockerfile, re.S | re.M)
        if not stage:
            problems.append("Dockerfile: no `browser` target")
        else:
            body = stage.group(1)
            for flag in (f"--remote-debugging-port={BROWSER_PORT}", "--remote-debugging-address=127.0.0.1"):
                if flag not in body:
                    problems.append(f"Dockerfile browser target: {flag} missing")
            if re.search(r"^(ENV|ARG)\s+AWS_", body, re.M):
                problems.append("Dockerfile browser target: sets AWS_* variables")
            if not re.search(r"^USER 65532", body, re.M):
                problems.append("Dockerfile browser target: does not run as the non-root user")
        check(f"browser isolation in {d}: sidecar without AWS credentials, seccomp, non-root, read-only, driven on 127.0.0.1:{BROWSER_PORT}", problems)


def flux_structure(rendered: dict[str, list[dict]]) -> None:
    for env in ENVS:
        objs = rendered[f"flux/clusters/{env}"]
        problems: list[str] = []
        ks = {k["metadata"]["name"]: k for k in by_kind(objs, "Kustomization")}
        for name, k in ks.items():
            path = ROOT / k["spec"]["path"]
            if not path.is_dir():
                problems.append(f"Kustomization {name}: path {k['spec']['path']} does not exist")
            if k["spec"].get("prune") is not True:
                problems.append(f"Kustomization {name}: prune is off")
        apps = ks.get("apps")
        if not apps or apps["spec"]["path"].strip("./") != f"deploy/overlays/{env}":
            problems.append(f"no apps Kustomization for deploy/overlays/{env}")
        else:
            deps = {x["name"] for x in apps["spec"].get("dependsOn", [])}
            if not deps or not deps <= set(ks):
                problems.append("apps must depend on the infrastructure Kustomizations")
            if not apps["spec"].get("healthChecks"):
                problems.append("apps has no health checks")
        infra = [k for k in ks.values() if "infrastructure" in k["spec"]["path"]]
        if len(infra) < 2 or not any(k["spec"].get("dependsOn") for k in infra):
            problems.append("infrastructure: controllers then configs, with dependsOn")
        releases = {h["metadata"]["name"] for h in by_kind(rendered["flux/infrastructure/controllers"], "HelmRelease")}
        for need in ("keda", "metrics-server", "external-secrets", "envoy-gateway", "kube-prometheus-stack"):
            if need not in releases:
                problems.append(f"no HelmRelease {need}")
        repos = {(r["metadata"]["namespace"], r["metadata"]["name"]) for r in by_kind(rendered["flux/infrastructure/controllers"], "HelmRepository")}
        for h in by_kind(rendered["flux/infrastructure/controllers"], "HelmRelease"):
            ref = h["spec"]["chart"]["spec"]["sourceRef"]
            if (ref.get("namespace", h["metadata"]["namespace"]), ref["name"]) not in repos:
                problems.append(f"HelmRelease {h['metadata']['name']}: no HelmRepository {ref['name']}")
        if not by_kind(objs, "Provider") or not by_kind(objs, "Alert"):
            problems.append("no notification Provider and Alert")
        # Every ${VAR} in the add-ons is substituted by the Kustomization that applies them.
        for k in infra:
            sub = set(dig(k, "spec.postBuild.substitute") or {})
            text = "".join((p.read_text()) for p in (ROOT / k["spec"]["path"]).glob("*.yaml"))
            missing = set(re.findall(r"\$\{([A-Z_]+)\}", text)) - sub
            if missing:
                problems.append(f"Kustomization {k['metadata']['name']}: {sorted(missing)} not substituted")
        check(f"Flux structure of flux/clusters/{env} (infrastructure then apps, health checks, prune, Helm releases, notifications)", problems)


# ---- terraform -------------------------------------------------------------------------------------

def terraform_parse_and_docs() -> None:
    tfs = sorted((ROOT / "terraform").rglob("*.tf"))
    undocumented: list[str] = []
    for tf in tfs:
        rel = tf.relative_to(ROOT)
        try:
            parsed = load_tf(tf)
        except Exception as e:  # noqa: BLE001 - any parse failure is the finding
            check(f"python-hcl2 parses {rel}", [f"{type(e).__name__}: {e}"[:500]])
            continue
        check(f"python-hcl2 parses {rel}", [])
        for kind in ("variable", "output"):
            for block in parsed.get(kind, []):
                for name, body in block.items():
                    if not str(body.get("description", "")).strip():
                        undocumented.append(f"{rel}: {kind} {name}")
    check(f"every terraform variable and output has a description ({len(tfs)} files)", undocumented)
    problems = []
    for env in ENVS:
        text = (ROOT / f"terraform/environments/{env}/versions.tf").read_text()
        if not re.search(r'backend "s3"', text) or not re.search(r"use_lockfile\s*=\s*true", text):
            problems.append(f"{env}: state must be in S3 with use_lockfile = true")
    check("terraform environments keep state in S3 with locking", problems)
    # What dev may relax (and checkov is told to skip in the shared modules), prod must not.
    prod = (ROOT / "terraform/environments/prod/main.tf").read_text()
    problems = []
    for setting in ("deletion_protection      = true", "db_multi_az              = true", "eks_endpoint_public_access       = false", "single_nat_gateway = false"):
        if setting not in prod:
            problems.append(f"terraform/environments/prod/main.tf must set {setting.split()[0]} = {setting.split()[-1]}")
    check("prod keeps deletion protection, Multi-AZ, a private EKS endpoint and a NAT gateway per zone", problems)


def terraform_fmt() -> None:
    tf = os.environ.get("TERRAFORM") or "terraform"
    try:
        proc = subprocess.run([tf, "fmt", "-check", "-recursive", "-diff", str(ROOT / "terraform")], capture_output=True, text=True)
    except FileNotFoundError:
        print("SKIP  terraform fmt -check (no terraform binary; CI runs it in infra.yml)")
        return
    check("terraform fmt -check", [] if proc.returncode == 0 else [proc.stdout[-3000:] or proc.stderr[-3000:]])


# ---- linters ---------------------------------------------------------------------------------------

def run_tool(name: str, cmd: list[str]) -> None:
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    out = (proc.stdout + proc.stderr).strip()
    check(name, [] if proc.returncode == 0 else [out[-4000:]])


def start_checkov(checkov: str, rendered_dir: Path) -> subprocess.Popen:
    cmd = [
        checkov, "--quiet", "--compact", "--skip-download", "--output", "json",
        "--output-file-path", str(rendered_dir / "checkov"),
        "--config-file", str(ROOT / ".github/checkov.yaml"),
        "--directory", str(ROOT / "terraform"),
        "--directory", str(rendered_dir),
        "--directory", str(ROOT / ".github/workflows"),
        "--framework", "terraform", "kubernetes", "dockerfile", "github_actions",
    ]
    env = dict(os.environ, BC_SKIP_MAPPING="TRUE", CHECKOV_RUN_SCA_PACKAGE_SCAN_V2="false", LOG_LEVEL="ERROR")
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT, env=env)


def finish_checkov(proc: subprocess.Popen, report: Path) -> None:
    out, err = proc.communicate()
    try:
        reports = json.loads(report.read_text())
    except (OSError, json.JSONDecodeError):
        check("checkov", [f"checkov did not produce a report (exit {proc.returncode}): {err[-2000:]} {out[-2000:]}"])
        return
    if isinstance(reports, dict):
        reports = [reports]
    seen = set()
    for rep in reports:
        kind = rep.get("check_type", "?")
        seen.add(kind)
        summary = rep.get("summary", {})
        failed = rep.get("results", {}).get("failed_checks", [])
        problems = [f"{f['check_id']} {f.get('check_name', '')}: {f.get('repo_file_path') or f.get('file_path')} {f.get('resource')}" for f in failed]
        check(f"checkov {kind} ({summary.get('passed', 0)} passed, {summary.get('skipped', 0)} skipped)", problems)
    for kind in ("terraform", "kubernetes", "dockerfile", "github_actions"):
        if kind not in seen:
            check(f"checkov {kind}", ["no report: nothing scanned?"])


def workflows() -> None:
    problems: list[str] = []
    wfdir = ROOT / ".github/workflows"
    for wf in sorted(wfdir.glob("*.yml")):
        data = yaml.safe_load(wf.read_text())
        if "permissions" not in data:
            problems.append(f"{wf.name}: no top-level permissions (default token is too broad)")
        text = wf.read_text()
        if re.search(r"AWS_(ACCESS_KEY_ID|SECRET_ACCESS_KEY)", text):
            problems.append(f"{wf.name}: AWS keys: use GitHub OIDC (role-to-assume)")
    for need in ("ci.yml", "images.yml", "lambda.yml", "infra.yml"):
        if not (wfdir / need).exists():
            problems.append(f"missing {need}")
    ci = (wfdir / "ci.yml").read_text() if (wfdir / "ci.yml").exists() else ""
    for needle in ("cargo fmt", "clippy", "-D warnings", "./scripts/test.sh", "cargo-deny"):
        if needle not in ci:
            problems.append(f"ci.yml lacks {needle}")
    lam = (wfdir / "lambda.yml").read_text() if (wfdir / "lambda.yml").exists() else ""
    for needle in ("--arm64", "--output-format zip", "id-token: write", "role-to-assume"):
        if needle not in lam:
            problems.append(f"lambda.yml lacks {needle}")
    img = (wfdir / "images.yml").read_text() if (wfdir / "images.yml").exists() else ""
    for needle in ("linux/amd64", "linux/arm64", "sbom: true", "provenance:", "cache-from", "ghcr.io"):
        if needle not in img:
            problems.append(f"images.yml lacks {needle}")
    check("GitHub workflows: permissions, no AWS keys, the required jobs", problems)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--facts", required=True)
    ap.add_argument("--checkov", required=True)
    ap.add_argument("--hadolint", required=True)
    ap.add_argument("--yamllint", required=True)
    ap.add_argument("--promtool")
    args = ap.parse_args()
    started = time.monotonic()
    facts = json.loads(Path(args.facts).read_text())

    rendered = render_all()
    with tempfile.TemporaryDirectory(prefix="deploy-rendered-") as tmp:
        rendered_dir = Path(tmp)
        for d in OVERLAYS:
            if rendered[d]:
                (rendered_dir / (d.replace("/", "_") + ".yaml")).write_text(yaml.safe_dump_all(rendered[d]))
        # checkov ignores --file beside --directory: the Dockerfile is scanned from here.
        (rendered_dir / "Dockerfile").write_text((ROOT / "Dockerfile").read_text())
        checkov = start_checkov(args.checkov, rendered_dir)
        try:
            validate_kinds(rendered)
            if all(rendered[d] for d in OVERLAYS + FLUX_DIRS):
                workload_policies(rendered)
                consistency_env(rendered, facts)
                consistency_ports(rendered, facts)
                consistency_scraper(rendered, facts)
                consistency_names(rendered, facts)
                consistency_images(rendered)
                browser_isolation(rendered)
                consistency_metrics(rendered, facts)
                promtool_rules(rendered, args.promtool)
                flux_structure(rendered)
            consistency_terraform(facts)
            consistency_emf_alarms(facts)
            terraform_parse_and_docs()
            terraform_fmt()
            workflows()
            run_tool("hadolint Dockerfile", [args.hadolint, "--config", str(ROOT / ".github/hadolint.yaml"), str(ROOT / "Dockerfile")])
            run_tool("yamllint deploy/ flux/ .github/", [args.yamllint, "--strict", "-c", str(ROOT / ".github/yamllint.yaml"), "deploy", "flux", ".github"])
        except Exception as e:  # noqa: BLE001 - a crash of a check is a failure, not a pass
            import traceback
            traceback.print_exc()
            check(f"checks ran to the end ({type(e).__name__}: {e})", [str(e)])
        finally:
            finish_checkov(checkov, rendered_dir / "checkov" / "results_json.json")

    passed = sum(1 for _, ok in results if ok)
    failed = len(results) - passed
    print(f"(in {time.monotonic() - started:.1f} s)")
    print(f"deploy-checks: {passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
