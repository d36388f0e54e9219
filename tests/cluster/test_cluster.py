"""The local cluster is real Kubernetes: version, node, auth, RBAC, DNS, Services, probes, images, PSS.

Every test reads the outcome back from the cluster (pod logs, EndpointSlices, events, the audit log).
"""

from __future__ import annotations

import json
import subprocess

import pytest

from .kube import Kube, pod, unique

BUSYBOX = "localhost/px-airflow/busybox:1.35"
PYTHON = "localhost/px-airflow/python:3.11-slim"


def test_version_is_the_pinned_release(kube: Kube):
    version = json.loads(kube.run("get", "--raw", "/version"))
    assert version["gitVersion"] == "v1.34.4"
    assert (version["major"], version["minor"]) == ("1", "34")


def test_the_node_is_ready_with_a_pod_cidr(kube: Kube):
    node = kube.json("get", "node", "px-node0")
    ready = {c["type"]: c["status"] for c in node["status"]["conditions"]}
    assert ready["Ready"] == "True"
    assert node["spec"]["podCIDR"] == "10.244.0.0/24"
    assert node["status"]["nodeInfo"]["kubeletVersion"] == "v1.34.4"
    assert node["status"]["nodeInfo"]["containerRuntimeVersion"].startswith("containerd://")


def test_admin_authenticates_with_a_client_certificate(kube: Kube, cluster_dir):
    import yaml

    cfg = yaml.safe_load((cluster_dir / "kubeconfig").read_text())
    users = {u["name"]: u["user"] for u in cfg["users"]}
    contexts = {c["name"]: c["context"]["user"] for c in cfg["contexts"]}
    assert contexts["px-local"] == "px-admin"
    assert set(users["px-admin"]) == {"client-certificate-data", "client-key-data"}
    whoami = kube.json("auth", "whoami")["status"]["userInfo"]
    assert whoami["username"] == "px-admin"
    assert "system:masters" in whoami["groups"]


def test_the_token_context_is_a_service_account(kube: Kube):
    token = Kube(kube.kubeconfig, "px-local-token")
    whoami = token.json("auth", "whoami")["status"]["userInfo"]
    assert whoami["username"] == "system:serviceaccount:kube-system:px-local-token"


def test_a_pod_reaches_the_api_by_name_with_its_token_and_rbac_refuses_the_rest(kube: Kube, namespace: str):
    kube.apply(
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "reader"}},
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "Role",
            "metadata": {"name": "pod-reader"},
            "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list"]}],
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": {"name": "pod-reader"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "pod-reader"},
            "subjects": [{"kind": "ServiceAccount", "name": "reader"}],
        },
        namespace=namespace,
    )
    script = f"""
import ssl, urllib.request, urllib.error
sa = "/var/run/secrets/kubernetes.io/serviceaccount"
ctx = ssl.create_default_context(cafile=sa + "/ca.crt")
token = open(sa + "/token").read()
for what in ("pods", "secrets"):
    req = urllib.request.Request(
        "https://kubernetes.default.svc.cluster.local/api/v1/namespaces/{namespace}/" + what,
        headers={{"Authorization": "Bearer " + token}})
    try:
        status = urllib.request.urlopen(req, context=ctx, timeout=10).status
    except urllib.error.HTTPError as exc:
        status = exc.code
    print(what, status)
"""
    spec = pod("caller", ["python3", "-c", script], image=PYTHON, serviceAccountName="reader")
    kube.apply(spec, namespace=namespace)
    assert kube.wait_pod_done("caller", namespace) == "Succeeded", kube.logs("caller", namespace)
    assert kube.logs("caller", namespace).split() == ["pods", "200", "secrets", "403"]


def _web(name: str, body: str) -> list[dict]:
    labels = {"app": name}
    container = pod(
        name,
        ["sh", "-c", f"mkdir -p /tmp/www && echo {body} > /tmp/www/index.html && exec httpd -f -p 8080 -h /tmp/www"],
    )["spec"]["containers"][0]
    container["readinessProbe"] = {"tcpSocket": {"port": 8080}, "periodSeconds": 1}
    return [
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": name},
            "spec": {
                "replicas": 1,
                "selector": {"matchLabels": labels},
                "template": {
                    "metadata": {"labels": labels},
                    "spec": {"containers": [container], "terminationGracePeriodSeconds": 1},
                },
            },
        },
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": name},
            "spec": {"selector": labels, "ports": [{"port": 80, "targetPort": 8080}]},
        },
    ]


def _fetch_from_a_pod(kube: Kube, namespace: str, url: str) -> str:
    """Fetches url from a client pod; kube-proxy programs a new Service's rules shortly after the
    endpoints become ready, so the client retries for up to 60 s as any client would."""
    name = unique("client")
    script = f"""
import sys, time, urllib.request
for attempt in range(60):
    try:
        print(urllib.request.urlopen("{url}", timeout=3).read().decode().strip())
        sys.exit(0)
    except OSError as exc:
        error = exc
        time.sleep(1)
print("ERROR", error)
sys.exit(1)
"""
    kube.apply(pod(name, ["python3", "-c", script], image=PYTHON), namespace=namespace)
    phase = kube.wait_pod_done(name, namespace, timeout=150)
    return f"{phase}: {kube.logs(name, namespace).strip()}"


def test_a_service_routes_to_a_pod_of_another_deployment(kube: Kube, namespace: str):
    body = unique("body")
    kube.apply(*_web("web", body), namespace=namespace)
    kube.run("rollout", "status", "deployment/web", "-n", namespace, "--timeout=120s", timeout=150)
    assert _fetch_from_a_pod(kube, namespace, f"http://web.{namespace}.svc.cluster.local/") == f"Succeeded: {body}"


def _slice_addresses(kube: Kube, namespace: str, service: str) -> dict[str, bool]:
    slices = kube.json("get", "endpointslices", "-n", namespace, "-l", f"kubernetes.io/service-name={service}")
    return {
        ep["addresses"][0]: bool(ep.get("conditions", {}).get("ready"))
        for s in slices["items"]
        for ep in s.get("endpoints") or []
    }


def test_a_failing_readiness_probe_keeps_a_pod_out_of_its_service(kube: Kube, namespace: str):
    labels = {"app": "probed"}
    pods = []
    for name, ready in (("good", True), ("bad", False)):
        spec = pod(name, ["sh", "-c", ("touch /tmp/ready; " if ready else "") + "exec sleep 3600"])
        spec["metadata"]["labels"] = labels
        spec["spec"]["containers"][0]["readinessProbe"] = {
            "exec": {"command": ["cat", "/tmp/ready"]},
            "periodSeconds": 1,
        }
        pods.append(spec)
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "probed"},
        "spec": {"selector": labels, "ports": [{"port": 80}]},
    }
    kube.apply(*pods, service, namespace=namespace)
    kube.run("wait", "--for=condition=Ready", "pod/good", "-n", namespace, "--timeout=120s", timeout=150)
    kube.wait_for("bad to be Running", lambda: kube.pod_phase("bad", namespace) == "Running", 120)
    ips = {name: kube.json("get", "pod", name, "-n", namespace)["status"]["podIP"] for name in ("good", "bad")}
    addresses = kube.wait_for(
        "both pods in the EndpointSlice",
        lambda: (
            (a if set(a) == set(ips.values()) else None) if (a := _slice_addresses(kube, namespace, "probed")) else None
        ),
        60,
    )
    assert addresses == {ips["good"]: True, ips["bad"]: False}
    bad = kube.json("get", "pod", "bad", "-n", namespace)
    assert {c["type"]: c["status"] for c in bad["status"]["conditions"]}["Ready"] == "False"
    # The probe really decides: once it passes, the pod joins.
    kube.run("exec", "bad", "-n", namespace, "--", "touch", "/tmp/ready")
    kube.wait_for(
        "bad to become a ready endpoint",
        lambda: _slice_addresses(kube, namespace, "probed").get(ips["bad"]) is True,
        60,
    )


@pytest.mark.parametrize(
    ("policy", "reasons"),
    [("Never", {"ErrImageNeverPull"}), ("IfNotPresent", {"ErrImagePull", "ImagePullBackOff"})],
)
def test_a_missing_image_is_not_pulled(kube: Kube, namespace: str, policy: str, reasons: set[str]):
    spec = pod("ghost", ["true"], image="localhost/px-airflow/not-built:0.0")
    spec["spec"]["containers"][0]["imagePullPolicy"] = policy

    def waiting_reason():
        status = kube.json("get", "pod", "ghost", "-n", namespace)["status"]
        for cs in status.get("containerStatuses") or []:
            reason = (cs["state"].get("waiting") or {}).get("reason")
            if reason in reasons:
                return reason
        return None

    kube.apply(spec, namespace=namespace)
    assert kube.wait_for(f"the pod to wait with {reasons}", waiting_reason, 90) in reasons


def test_restricted_pod_security_rejects_a_privileged_pod(kube: Kube):
    name = unique("pss")
    kube.create_namespace(name, labels={"pod-security.kubernetes.io/enforce": "restricted"})
    try:
        spec = pod("priv", ["true"])
        spec["spec"]["containers"][0]["securityContext"] = {"privileged": True}
        out = kube.create(spec, namespace=name, check=False)
        assert 'is forbidden: violates PodSecurity "restricted:latest"' in out
        assert "privileged" in out
        assert kube.get("pod", "priv", name) is None
        # The same namespace admits a pod that meets the profile.
        kube.create(pod("fine", ["true"]), namespace=name)
    finally:
        kube.run("delete", "namespace", name, "--wait=false", check=False)


def test_the_audit_log_names_each_identity(kube: Kube, cluster_dir, namespace: str):
    users = set()
    with open(cluster_dir / "audit.log") as log:
        for line in log:
            users.add(json.loads(line)["user"]["username"])
    for expected in (
        "px-admin",
        "px:coredns",
        "system:kube-scheduler",
        "system:node:px-node0",
        "system:kube-proxy",
        "system:kube-controller-manager",
    ):
        assert expected in users


def _iptables(*args: str) -> str:
    return subprocess.run(["iptables", "-w", *args], capture_output=True, text=True, check=True).stdout


def test_nothing_leaves_the_machine(kube: Kube, namespace: str):
    routes = subprocess.run(["ip", "route", "show"], capture_output=True, text=True, check=True).stdout
    assert "blackhole 10.244.0.0/16" in routes
    assert "10.96.0.0/16 dev pxc-node0" in routes
    assert "MASQUERADE" not in "\n".join(
        r for r in _iptables("-t", "nat", "-S").splitlines() if "10.244." in r and "KUBE" not in r
    )
    forward = [r for r in _iptables("-S", "FORWARD").splitlines() if r.startswith("-A")]
    guard = forward.index("-A FORWARD -j PX-CLUSTER-GUARD")
    # Nothing before the guard accepts a new connection (kube-proxy's jumps only drop, or accept replies).
    assert not [r for r in forward[:guard] if "ACCEPT" in r]

    def dropped() -> int:
        out = _iptables("-v", "-x", "-n", "-L", "PX-CLUSTER-GUARD")
        return sum(int(line.split()[0]) for line in out.splitlines()[2:] if "DROP" in line)

    before = dropped()
    # A pod trying an address outside the machine: the guard drops it, it never goes out.
    name = unique("out")
    probe = (
        "import urllib.request\ntry:\n    urllib.request.urlopen('http://192.0.2.10/', timeout=3)\n"
        "    print('reached')\nexcept OSError as exc:\n    print('refused', exc)"
    )
    kube.apply(pod(name, ["python3", "-c", probe], image=PYTHON), namespace=namespace)
    kube.wait_pod_done(name, namespace)
    assert kube.logs(name, namespace).startswith("refused")
    assert dropped() > before
