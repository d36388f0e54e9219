"""Addresses, identities and the configuration files of every component, all under the cluster dir."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import yaml

from . import versions
from .pki import Identity, Pki

NODE = "px-node0"
NODE_IP = "172.31.250.1"
NODE_BRIDGE = "pxc-node0"  # carries the node IP; has no ports, so nothing is ever sent out of it
POD_BRIDGE = "pxc-br0"
POD_CIDR = "10.244.0.0/16"
NODE_POD_CIDR = "10.244.0.0/24"
POD_GATEWAY = "10.244.0.1"
SERVICE_CIDR = "10.96.0.0/16"
KUBERNETES_SERVICE_IP = "10.96.0.1"
DNS_SERVICE_IP = "10.96.0.10"
CLUSTER_DOMAIN = "cluster.local"
APISERVER_PORT = 6443
ETCD_CLIENT = "http://127.0.0.1:23790"
ETCD_PEER = "http://127.0.0.1:23800"
CONTEXT = "px-local"
TOKEN_CONTEXT = "px-local-token"
TOKEN_SA = ("kube-system", "px-local-token")

IDENTITIES = {
    "apiserver": Identity(
        "apiserver",
        "kube-apiserver",
        dns=(
            "kubernetes",
            "kubernetes.default",
            "kubernetes.default.svc",
            f"kubernetes.default.svc.{CLUSTER_DOMAIN}",
            "localhost",
        ),
        ips=(NODE_IP, KUBERNETES_SERVICE_IP, "127.0.0.1"),
        server=True,
        client=False,
    ),
    "apiserver-kubelet-client": Identity(
        "apiserver-kubelet-client", "kube-apiserver-kubelet-client", ("system:masters",)
    ),
    "admin": Identity("admin", "px-admin", ("system:masters",)),
    "bootstrap": Identity("bootstrap", "px-cluster:bootstrap", ("system:masters",)),
    "controller-manager": Identity("controller-manager", "system:kube-controller-manager"),
    "scheduler": Identity("scheduler", "system:kube-scheduler"),
    "kubelet": Identity("kubelet", f"system:node:{NODE}", ("system:nodes",)),
    "kubelet-serving": Identity("kubelet-serving", f"system:node:{NODE}", dns=(NODE,), ips=(NODE_IP,), server=True),
    "kube-proxy": Identity("kube-proxy", "system:kube-proxy"),
    "coredns": Identity("coredns", "px:coredns"),
    "portworx": Identity("portworx", "px:portworx"),
}

# kubeconfig file stem -> identity; the admin's is DIR/kubeconfig itself.
KUBECONFIGS = {
    "bootstrap": "bootstrap",
    "controller-manager": "controller-manager",
    "scheduler": "scheduler",
    "kubelet": "kubelet",
    "kube-proxy": "kube-proxy",
    "coredns": "coredns",
    "portworx": "portworx",
}

AUDIT_POLICY = {
    "apiVersion": "audit.k8s.io/v1",
    "kind": "Policy",
    "omitStages": ["RequestReceived"],
    "rules": [{"level": "Metadata"}],
}


@dataclass(frozen=True)
class Layout:
    """Where everything of one cluster lives."""

    dir: Path

    @property
    def pki(self) -> Path:
        return self.dir / "pki"

    @property
    def conf(self) -> Path:
        return self.dir / "config"

    @property
    def run(self) -> Path:
        return self.dir / "run"

    @property
    def logs(self) -> Path:
        return self.dir / "logs"

    @property
    def kubeconfig(self) -> Path:
        return self.dir / "kubeconfig"

    @property
    def audit_log(self) -> Path:
        return self.dir / "audit.log"

    @property
    def containerd_sock(self) -> Path:
        return self.run / "containerd.sock"

    @property
    def kubelet_root(self) -> Path:
        return self.dir / "kubelet"

    @property
    def containerd_root(self) -> Path:
        return self.dir / "containerd" / "root"

    @property
    def containerd_state(self) -> Path:
        return self.dir / "containerd" / "state"

    @property
    def volumes(self) -> Path:
        return self.dir / "volumes"

    def component_kubeconfig(self, stem: str) -> Path:
        return self.conf / f"{stem}.kubeconfig" if stem != "portworx" else self.dir / "portworx.kubeconfig"


def _kubeconfig(server: str, ca: Path, users: dict[str, dict], contexts: dict[str, str], current: str) -> str:
    cfg = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "px-local", "cluster": {"server": server, "certificate-authority-data": _b64(ca)}}],
        "users": [{"name": name, "user": user} for name, user in users.items()],
        "contexts": [{"name": ctx, "context": {"cluster": "px-local", "user": user}} for ctx, user in contexts.items()],
        "current-context": current,
    }
    return yaml.safe_dump(cfg, sort_keys=False)


def _b64(path: Path) -> str:
    import base64

    return base64.b64encode(path.read_bytes()).decode()


def _cert_user(pki: Pki, stem: str) -> dict:
    crt, key = pki.paths(stem)
    return {"client-certificate-data": _b64(crt), "client-key-data": _b64(key)}


def server_url() -> str:
    return f"https://{NODE_IP}:{APISERVER_PORT}"


def write_pki_and_kubeconfigs(layout: Layout) -> Pki:
    pki = Pki(layout.pki)
    pki.ensure_ca()
    for ident in IDENTITIES.values():
        pki.issue(ident)
    pki.ensure_service_account_keys()
    layout.conf.mkdir(parents=True, exist_ok=True)
    for stem, ident in KUBECONFIGS.items():
        text = _kubeconfig(server_url(), pki.ca_crt, {ident: _cert_user(pki, ident)}, {CONTEXT: ident}, CONTEXT)
        _write(layout.component_kubeconfig(stem), text, 0o600)
    return pki


def write_admin_kubeconfig(layout: Layout, pki: Pki, token: str | None) -> None:
    """DIR/kubeconfig: px-admin with a client certificate, and a ServiceAccount token context."""
    users = {"px-admin": _cert_user(pki, "admin")}
    contexts = {CONTEXT: "px-admin"}
    if token:
        users["px-local-token"] = {"token": token}
        contexts[TOKEN_CONTEXT] = "px-local-token"
    _write(layout.kubeconfig, _kubeconfig(server_url(), pki.ca_crt, users, contexts, CONTEXT), 0o600)


def _write(path: Path, text: str, mode: int = 0o644) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists() or path.read_text() != text:
        path.write_text(text)
    path.chmod(mode)


def write_component_files(layout: Layout, sandbox_image: str) -> None:
    conf = layout.conf
    _write(conf / "audit-policy.yaml", yaml.safe_dump(AUDIT_POLICY))
    # Pods resolve through cluster DNS only: the node's resolv.conf they inherit names no upstream.
    _write(conf / "resolv.conf", f"# px-cluster: no upstream resolver\nnameserver {DNS_SERVICE_IP}\n")
    pki = layout.pki
    kubelet = {
        "apiVersion": "kubelet.config.k8s.io/v1beta1",
        "kind": "KubeletConfiguration",
        "address": NODE_IP,
        "port": 10250,
        "healthzBindAddress": "127.0.0.1",
        "healthzPort": 10248,
        "readOnlyPort": 0,
        "authentication": {
            "anonymous": {"enabled": False},
            "webhook": {"enabled": True},
            "x509": {"clientCAFile": str(pki / "ca.crt")},
        },
        "authorization": {"mode": "Webhook"},
        "tlsCertFile": str(pki / "kubelet-serving.crt"),
        "tlsPrivateKeyFile": str(pki / "kubelet-serving.key"),
        "cgroupDriver": "cgroupfs",
        "failSwapOn": False,
        "failCgroupV1": False,
        "memorySwap": {"swapBehavior": "NoSwap"},
        # containerd 1.6 cannot pin images: garbage collection would delete the local images.
        "imageGCHighThresholdPercent": 100,
        "imageGCLowThresholdPercent": 99,
        "evictionHard": {"memory.available": "100Mi", "nodefs.available": "1%", "imagefs.available": "1%"},
        "clusterDNS": [DNS_SERVICE_IP],
        "clusterDomain": CLUSTER_DOMAIN,
        "resolvConf": str(conf / "resolv.conf"),
        "podLogsDir": str(layout.dir / "pod-logs"),
        "serializeImagePulls": False,
        "maxPods": 110,
        "enforceNodeAllocatable": ["pods"],
        "protectKernelDefaults": False,
        "makeIPTablesUtilChains": False,
        "rotateCertificates": False,
        "serverTLSBootstrap": False,
        "volumePluginDir": str(layout.kubelet_root / "volume-plugins"),
        "shutdownGracePeriod": "0s",
    }
    _write(conf / "kubelet.yaml", yaml.safe_dump(kubelet))
    proxy = {
        "apiVersion": "kubeproxy.config.k8s.io/v1alpha1",
        "kind": "KubeProxyConfiguration",
        "clientConnection": {"kubeconfig": str(layout.component_kubeconfig("kube-proxy"))},
        "mode": "iptables",
        "clusterCIDR": POD_CIDR,
        "hostnameOverride": NODE,
        "bindAddress": NODE_IP,
        "healthzBindAddress": "127.0.0.1:10256",
        "metricsBindAddress": "127.0.0.1:10249",
        # Leave the machine's conntrack sysctls alone.
        "conntrack": {"maxPerCore": 0, "min": 0},
        "iptables": {"minSyncPeriod": "0s", "syncPeriod": "30s"},
        # NodePorts answer on the node IP only, never on the machine's own interfaces.
        "nodePortAddresses": [f"{NODE_IP}/32"],
    }
    _write(conf / "kube-proxy.yaml", yaml.safe_dump(proxy))
    cni = {
        "cniVersion": "1.0.0",
        "name": "pxc",
        "plugins": [
            {
                "type": "bridge",
                "bridge": POD_BRIDGE,
                "isGateway": True,
                # Never masquerade: pod traffic must not leave this machine.
                "ipMasq": False,
                "hairpinMode": True,
                "ipam": {
                    "type": "host-local",
                    "ranges": [[{"subnet": NODE_POD_CIDR, "gateway": POD_GATEWAY}]],
                    # A default route through the bridge: the host forwards only what the guard allows.
                    "routes": [{"dst": "0.0.0.0/0"}],
                    "dataDir": str(layout.dir / "cni" / "ipam"),
                },
            },
            {"type": "portmap", "capabilities": {"portMappings": True}},
        ],
    }
    _write(layout.dir / "cni" / "net.d" / "10-pxc.conflist", json.dumps(cni, indent=2))
    containerd = f"""version = 2
root = "{layout.containerd_root}"
state = "{layout.containerd_state}"
oom_score = 0

[grpc]
  address = "{layout.containerd_sock}"

[ttrpc]
  address = ""

[debug]
  address = ""

[plugins."io.containerd.internal.v1.opt"]
  path = "{layout.dir / "containerd" / "opt"}"

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "{sandbox_image}"
  restrict_oom_score_adj = true
  netns_mounts_under_state_dir = true
  enable_selinux = false
  disable_apparmor = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
        Root = "{layout.dir / "runc"}"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "{layout.dir / "cni" / "net.d"}"
"""
    _write(conf / "containerd.toml", containerd)
    corefile = f"""{CLUSTER_DOMAIN}:53 in-addr.arpa:53 ip6.arpa:53 {{
    bind {NODE_IP}
    errors
    health 127.0.0.1:18080
    ready 127.0.0.1:18181
    kubernetes {CLUSTER_DOMAIN} in-addr.arpa ip6.arpa {{
        kubeconfig {layout.component_kubeconfig("coredns")} {CONTEXT}
        pods insecure
        fallthrough in-addr.arpa ip6.arpa
    }}
    cache 30
    loadbalance
}}
.:53 {{
    bind {NODE_IP}
    errors
}}
"""
    _write(conf / "Corefile", corefile)


def commands(layout: Layout, bins: dict[str, Path]) -> dict[str, list[str]]:
    """The argv of every component, in start order."""
    pki, conf, d = layout.pki, layout.conf, layout.dir
    kc = layout.component_kubeconfig
    return {
        "etcd": [
            str(bins["etcd"]),
            "--name=px-etcd",
            f"--data-dir={d / 'etcd'}",
            f"--listen-client-urls={ETCD_CLIENT}",
            f"--advertise-client-urls={ETCD_CLIENT}",
            f"--listen-peer-urls={ETCD_PEER}",
            f"--initial-advertise-peer-urls={ETCD_PEER}",
            f"--initial-cluster=px-etcd={ETCD_PEER}",
            "--listen-metrics-urls=",
            "--quota-backend-bytes=4294967296",
            "--snapshot-count=10000",
            "--log-level=warn",
        ],
        "kube-apiserver": [
            str(bins["kube-apiserver"]),
            f"--etcd-servers={ETCD_CLIENT}",
            f"--advertise-address={NODE_IP}",
            f"--bind-address={NODE_IP}",
            f"--secure-port={APISERVER_PORT}",
            f"--service-cluster-ip-range={SERVICE_CIDR}",
            f"--tls-cert-file={pki / 'apiserver.crt'}",
            f"--tls-private-key-file={pki / 'apiserver.key'}",
            f"--client-ca-file={pki / 'ca.crt'}",
            f"--kubelet-client-certificate={pki / 'apiserver-kubelet-client.crt'}",
            f"--kubelet-client-key={pki / 'apiserver-kubelet-client.key'}",
            f"--kubelet-certificate-authority={pki / 'ca.crt'}",
            "--kubelet-preferred-address-types=InternalIP",
            "--authorization-mode=Node,RBAC",
            "--enable-admission-plugins=NodeRestriction",
            "--allow-privileged=true",
            f"--service-account-issuer=https://kubernetes.default.svc.{CLUSTER_DOMAIN}",
            f"--service-account-key-file={pki / 'sa.pub'}",
            f"--service-account-signing-key-file={pki / 'sa.key'}",
            f"--audit-policy-file={conf / 'audit-policy.yaml'}",
            f"--audit-log-path={layout.audit_log}",
            "--audit-log-format=json",
            "--audit-log-mode=blocking",
            "--profiling=false",
            "--endpoint-reconciler-type=lease",
            "--v=1",
        ],
        "kube-controller-manager": [
            str(bins["kube-controller-manager"]),
            f"--kubeconfig={kc('controller-manager')}",
            f"--authentication-kubeconfig={kc('controller-manager')}",
            f"--authorization-kubeconfig={kc('controller-manager')}",
            "--bind-address=127.0.0.1",
            "--secure-port=10257",
            f"--cluster-signing-cert-file={pki / 'ca.crt'}",
            f"--cluster-signing-key-file={pki / 'ca.key'}",
            f"--root-ca-file={pki / 'ca.crt'}",
            f"--service-account-private-key-file={pki / 'sa.key'}",
            "--use-service-account-credentials=true",
            "--allocate-node-cidrs=true",
            f"--cluster-cidr={POD_CIDR}",
            "--node-cidr-mask-size=24",
            f"--service-cluster-ip-range={SERVICE_CIDR}",
            "--controllers=*,bootstrapsigner,tokencleaner",
            "--leader-elect=false",
            "--profiling=false",
            "--v=1",
        ],
        "kube-scheduler": [
            str(bins["kube-scheduler"]),
            f"--kubeconfig={kc('scheduler')}",
            f"--authentication-kubeconfig={kc('scheduler')}",
            f"--authorization-kubeconfig={kc('scheduler')}",
            "--bind-address=127.0.0.1",
            "--secure-port=10259",
            "--leader-elect=false",
            "--profiling=false",
            "--v=1",
        ],
        "containerd": ["containerd", f"--config={conf / 'containerd.toml'}", "--log-level=warn"],
        "kubelet": [
            str(bins["kubelet"]),
            f"--config={conf / 'kubelet.yaml'}",
            f"--kubeconfig={kc('kubelet')}",
            f"--container-runtime-endpoint=unix://{layout.containerd_sock}",
            f"--root-dir={layout.kubelet_root}",
            f"--cert-dir={layout.kubelet_root / 'pki'}",
            f"--hostname-override={NODE}",
            f"--node-ip={NODE_IP}",
            "--v=1",
        ],
        "kube-proxy": [str(bins["kube-proxy"]), f"--config={conf / 'kube-proxy.yaml'}", "--v=1"],
        "coredns": [str(bins["coredns"]), "-conf", str(conf / "Corefile")],
    }


def bootstrap_objects() -> list[dict]:
    """What the cluster itself needs beyond what the control plane makes: DNS, our add-ons' rights."""
    dns_labels = {"k8s-app": "kube-dns", "kubernetes.io/name": "CoreDNS"}
    return [
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRole",
            "metadata": {"name": "px:coredns"},
            "rules": [
                {"apiGroups": [""], "resources": ["services", "pods", "namespaces"], "verbs": ["list", "watch"]},
                {"apiGroups": ["discovery.k8s.io"], "resources": ["endpointslices"], "verbs": ["list", "watch"]},
            ],
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRoleBinding",
            "metadata": {"name": "px:coredns"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "px:coredns"},
            "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "px:coredns"}],
        },
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "kube-dns", "namespace": "kube-system", "labels": dns_labels},
            "spec": {
                "clusterIP": DNS_SERVICE_IP,
                "ports": [
                    {"name": "dns", "port": 53, "protocol": "UDP", "targetPort": 53},
                    {"name": "dns-tcp", "port": 53, "protocol": "TCP", "targetPort": 53},
                ],
            },
        },
        {
            # CoreDNS runs as a host process on the node IP; the Service reaches it through this slice.
            "apiVersion": "discovery.k8s.io/v1",
            "kind": "EndpointSlice",
            "metadata": {
                "name": "kube-dns-node",
                "namespace": "kube-system",
                "labels": {
                    "kubernetes.io/service-name": "kube-dns",
                    "endpointslice.kubernetes.io/managed-by": "px-cluster",
                },
            },
            "addressType": "IPv4",
            "endpoints": [{"addresses": [NODE_IP], "conditions": {"ready": True}, "nodeName": NODE}],
            "ports": [
                {"name": "dns", "port": 53, "protocol": "UDP"},
                {"name": "dns-tcp", "port": 53, "protocol": "TCP"},
            ],
        },
        {
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": {"name": TOKEN_SA[1], "namespace": TOKEN_SA[0]},
        },
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "type": "kubernetes.io/service-account-token",
            "metadata": {
                "name": TOKEN_SA[1],
                "namespace": TOKEN_SA[0],
                "annotations": {"kubernetes.io/service-account.name": TOKEN_SA[1]},
            },
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRoleBinding",
            "metadata": {"name": "px:local-token-admin"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "cluster-admin"},
            "subjects": [{"kind": "ServiceAccount", "name": TOKEN_SA[1], "namespace": TOKEN_SA[0]}],
        },
    ]


def registry() -> str:
    return versions.REGISTRY
