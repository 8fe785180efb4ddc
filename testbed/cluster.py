"""A real single-node Kubernetes cluster inside a network namespace, brought up and torn down by a test.

The node is the server side of a namespace pair (192.0.2.1), an outside client the other (192.0.2.2).
Every program joins only the node's network (`nsenter --net=`; `ip netns exec` would remount /sys and
hide the cgroups): etcd on loopback, kube-apiserver on 192.0.2.1:6443 (a static token file, RBAC, a
test CA), kube-controller-manager, kube-scheduler, a containerd of its own (config, root, state and
socket under this cluster's folders), the kubelet and kube-proxy in iptables mode, so that Service
ClusterIPs route. There is no registry: images are OCI archives (testbed/images.py) imported with
`ctr` into containerd's k8s.io namespace; pods use `imagePullPolicy: Never`.

The binaries come from scripts/build-kubernetes and scripts/build-cni-plugins (cached by version).
At exit every process (pods' containers and shims too), mount, cgroup and file of the cluster is
gone, the namespaces are deleted, and the sysctls the kubelet and the bridge plugin change are put
back to the values read before the start.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import ipaddress
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from testbed.docker_host import cgroup_dirs, mount_points, other_engines_run, processes_of, remove_cgroups, start_time
from testbed.images import PAUSE_IMAGE, oci_archive, pause_recipe
from testbed.netns import Pair, namespace_pair
from testbed.tools import require_root, require_tool

ROOT = Path(__file__).resolve().parents[1]
NODE_NAME = "flowspace-node"
NODE_IP = "192.0.2.1"
API_PORT = 6443
SERVICE_CIDR = "10.96.0.0/24"
CLUSTER_CIDR = "10.244.0.0/16"
POD_CIDR = "10.244.0.0/24"
SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
START_TIMEOUT = 120.0
# Set by the kubelet (kernel tunables), the bridge plugin and kube-proxy: read before, put back after.
SYSCTLS = (
    "vm.overcommit_memory",
    "vm.panic_on_oom",
    "kernel.panic",
    "kernel.panic_on_oops",
    "kernel.keys.root_maxkeys",
    "kernel.keys.root_maxbytes",
    "net.ipv4.ip_forward",
    "net.bridge.bridge-nf-call-iptables",
    "net.bridge.bridge-nf-call-ip6tables",
    "net.bridge.bridge-nf-call-arptables",
)
# Paths containerd, libcni and the kubelet use whatever their configuration says: shim sockets (named
# by a hash of containerd's address, the namespace and the id), CNI results, container log links.
SHIM_SOCKETS = Path("/run/containerd/s")
CNI_RESULTS = Path("/var/lib/cni/results")
CONTAINER_LOG_LINKS = Path("/var/log/containers")
SHARED_DIRS = (SHIM_SOCKETS, Path("/run/containerd"), CNI_RESULTS, CNI_RESULTS.parent, CONTAINER_LOG_LINKS)
CONTAINERD_NAMESPACE = "k8s.io"


class ClusterError(RuntimeError):
    pass


class CommandError(subprocess.CalledProcessError):
    """A failed command that says what it printed."""

    def __str__(self) -> str:
        output = (self.stderr or self.stdout or "").strip()
        return f"{' '.join(map(str, self.cmd))} exited with {self.returncode}:\n{output[-4000:]}"


def _progress(message: str) -> None:
    print(f"[cluster] {message}", file=sys.stderr, flush=True)


def _run(
    command: Sequence[str], check: bool, timeout: float, input_text: str | None = None
) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        list(command), capture_output=True, text=True, input=input_text, timeout=timeout, check=False
    )
    if check and result.returncode != 0:
        raise CommandError(result.returncode, list(command), result.stdout, result.stderr)
    return result


def _script_folder(script: str) -> Path:
    """The folder a build script prints (it builds only what its cache lacks)."""
    result = subprocess.run([str(ROOT / "scripts" / script)], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise ClusterError(f"scripts/{script} failed:\n{result.stderr[-4000:]}")
    return Path(result.stdout.strip().splitlines()[-1])


# --- sysctls ---------------------------------------------------------------------------------------


def _sysctl_path(name: str) -> Path:
    return Path("/proc/sys") / name.replace(".", "/")


def read_sysctls() -> dict[str, str]:
    values: dict[str, str] = {}
    for name in SYSCTLS:
        with suppress(OSError):
            values[name] = _sysctl_path(name).read_text().strip()
    return values


def restore_sysctls(values: dict[str, str]) -> None:
    for name, value in values.items():
        path = _sysctl_path(name)
        if path.read_text().strip() != value:
            path.write_text(value)


# --- a test CA and the cluster's certificates --------------------------------------------------------


def _name(common_name: str, organization: str | None = None) -> x509.Name:
    attributes = [x509.NameAttribute(NameOID.COMMON_NAME, common_name)]
    if organization:
        attributes.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization))
    return x509.Name(attributes)


def _pem_key(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _sign(
    subject: x509.Name,
    key: ec.EllipticCurvePrivateKey,
    issuer: tuple[x509.Name, ec.EllipticCurvePrivateKey] | None = None,
    extensions: Sequence[x509.ExtensionType] = (),
) -> x509.Certificate:
    now = datetime.datetime.now(datetime.UTC)
    issuer_name, issuer_key = issuer or (subject, key)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=issuer is None, path_length=None), critical=True)
    )
    for extension in extensions:
        builder = builder.add_extension(extension, critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


def write_pki(folder: Path) -> None:
    """ca, apiserver (serving), kubelet-client (the API server's, a cluster admin) and sa (the
    service-account signing key) as .crt/.key (.pub for sa) files in `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = _name("flowspace test kubernetes CA")
    ca_usage = x509.KeyUsage(True, False, False, False, False, True, True, False, False)
    certificates = {"ca": (_sign(ca_name, ca_key, extensions=[ca_usage]), ca_key)}
    names = ["kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc.cluster.local"]
    addresses = [NODE_IP, "127.0.0.1", str(next(ipaddress.ip_network(SERVICE_CIDR).hosts()))]
    sans = x509.SubjectAlternativeName(
        [*(x509.DNSName(name) for name in names), *(x509.IPAddress(ipaddress.ip_address(a)) for a in addresses)]
    )
    for stem, subject, usage, extra in (
        ("apiserver", _name("kube-apiserver"), ExtendedKeyUsageOID.SERVER_AUTH, [sans]),
        (
            "kubelet-client",
            _name("kube-apiserver-kubelet-client", "system:masters"),
            ExtendedKeyUsageOID.CLIENT_AUTH,
            [],
        ),
    ):
        key = ec.generate_private_key(ec.SECP256R1())
        extensions = [x509.ExtendedKeyUsage([usage]), *extra]
        certificates[stem] = (_sign(subject, key, (ca_name, ca_key), extensions), key)
    for stem, (certificate, key) in certificates.items():
        (folder / f"{stem}.crt").write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
        (folder / f"{stem}.key").write_bytes(_pem_key(key))
    sa_key = ec.generate_private_key(ec.SECP256R1())
    (folder / "sa.key").write_bytes(_pem_key(sa_key))
    (folder / "sa.pub").write_bytes(
        sa_key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )


def write_kubeconfig(path: Path, ca: Path, token: str) -> Path:
    """A kubeconfig (JSON is YAML) for https://NODE_IP:API_PORT with a bearer token."""
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": "flowspace",
                "cluster": {
                    "server": f"https://{NODE_IP}:{API_PORT}",
                    "certificate-authority-data": base64.b64encode(ca.read_bytes()).decode(),
                },
            }
        ],
        "users": [{"name": "user", "user": {"token": token}}],
        "contexts": [{"name": "flowspace", "context": {"cluster": "flowspace", "user": "user"}}],
        "current-context": "flowspace",
    }
    path.write_text(json.dumps(config, indent=2))
    path.chmod(0o600)
    return path


# --- the cluster -------------------------------------------------------------------------------------


@dataclass
class Daemon:
    name: str
    process: subprocess.Popen[bytes]
    log: Path

    def tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return f"(no {self.name} log)"


@dataclass
class Cluster:
    pair: Pair
    kubeconfig: Path
    node_name: str
    # The cluster's files (PKI, configs, logs, etcd, containerd's root, the kubelet's root) and a short
    # folder in /tmp for containerd's socket and state (unix socket paths are limited to 108 bytes).
    root: Path = field(default_factory=Path)
    run_dir: Path = field(default_factory=Path)
    kubernetes_bin: Path = field(default_factory=Path)
    cni_bin: Path = field(default_factory=Path)
    token: str = field(default="", repr=False)
    # The machine's shared folders that existed before the cluster (not removed with it).
    preexisting: frozenset[Path] = field(default_factory=lambda: frozenset(d for d in SHARED_DIRS if d.exists()))
    daemons: list[Daemon] = field(default_factory=list, repr=False)

    @property
    def network_name(self) -> str:
        return f"flowspace-{self.run_dir.name}"

    @property
    def cgroup_root(self) -> str:
        """The kubelet's cgroup root: its pods' cgroups are under it, in every hierarchy."""
        return f"/{self.run_dir.name}"

    @property
    def containerd_socket(self) -> Path:
        return self.run_dir / "containerd.sock"

    def _enter(self, namespace: str) -> list[str]:
        return ["nsenter", f"--net=/var/run/netns/{namespace}"]

    def kubectl(self, *args: str, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        """kubectl from the client namespace, as the cluster's admin."""
        command = [*self._enter(self.pair.client), "kubectl", f"--kubeconfig={self.kubeconfig}", *args]
        return _run(command, check, timeout)

    def node_run(
        self, *args: str, check: bool = True, timeout: float = 120, input_text: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        """A command in the node's network namespace."""
        return _run([*self._enter(self.pair.server), *args], check, timeout, input_text)

    def ctr(self, *args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
        return _run(["ctr", f"--address={self.containerd_socket}", "-n", CONTAINERD_NAMESPACE, *args], True, timeout)

    def import_image(self, archive: Path) -> None:
        """An image archive (OCI or docker-save) in containerd's k8s.io namespace, for the kubelet."""
        self.ctr("images", "import", str(archive))

    # --- starting ----------------------------------------------------------------------------------

    def _spawn(self, name: str, *command: str) -> Daemon:
        log = self.root / "logs" / f"{name}.log"
        env = {key: value for key, value in os.environ.items() if key != "NOTIFY_SOCKET"}
        env["PATH"] = f"{env.get('PATH', '')}:{SYSTEM_PATH}".lstrip(":")
        with log.open("ab") as output:
            process = subprocess.Popen(
                [*self._enter(self.pair.server), *command],
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
                cwd=self.root,
                env=env,
                start_new_session=True,
            )
        daemon = Daemon(name, process, log)
        self.daemons.append(daemon)
        return daemon

    def _wait(
        self, daemon: Daemon, ready: Callable[[], bool], what: str = "ready", timeout: float = START_TIMEOUT
    ) -> None:
        """Until `ready()`, while the daemon runs; raises with the tail of its log otherwise."""
        started = time.monotonic()
        while not ready():
            if daemon.process.poll() is not None:
                raise ClusterError(f"{daemon.name} exited with {daemon.process.returncode}:\n{daemon.tail()}")
            if time.monotonic() - started > timeout:
                raise ClusterError(f"{daemon.name}: not {what} within {timeout:.0f}s:\n{daemon.tail()}")
            time.sleep(0.5)
        _progress(f"{daemon.name}: {what} after {time.monotonic() - started:.1f}s")

    def _get(self, url: str) -> str | None:
        """What a URL answers in the node namespace (None when it does not answer 2xx)."""
        command = ["curl", "-sfk", "--max-time", "5", "-H", f"Authorization: Bearer {self.token}", url]
        result = self.node_run(*command, check=False, timeout=15)
        return result.stdout.strip() if result.returncode == 0 else None

    def _answers_ok(self, url: str) -> Callable[[], bool]:
        return lambda: self._get(url) == "ok"

    def _bin(self, program: str) -> str:
        return str(self.kubernetes_bin / program)

    def start(self, images: Sequence[Path] = ()) -> None:
        for folder in ("logs", "pki", "etcd", "containerd", "cni", "cni-ipam", "kubelet", "pod-logs", "certs"):
            (self.root / folder).mkdir(parents=True, exist_ok=True)
        self._write_credentials()
        # A route for the Service CIDR, as a node has: kube-proxy's OUTPUT rules rewrite a ClusterIP
        # only after the kernel has found a route for it.
        self.node_run("ip", "route", "add", "default", "via", self.pair.client_ips[0])
        self._start_etcd()
        self._start_apiserver()
        self._start_controllers()
        self._start_containerd(images)
        self._start_kubelet()
        self._start_kube_proxy()
        self._wait_node_ready()

    def _write_credentials(self) -> None:
        pki = self.root / "pki"
        write_pki(pki)
        node_token = secrets.token_hex(16)
        (self.root / "tokens.csv").write_text(
            f'{self.token},admin,admin,"system:masters"\n'
            f'{node_token},system:node:{self.node_name},node,"system:nodes"\n'
        )
        write_kubeconfig(self.kubeconfig, pki / "ca.crt", self.token)
        write_kubeconfig(self.root / "kubelet.kubeconfig", pki / "ca.crt", node_token)

    def _start_etcd(self) -> None:
        daemon = self._spawn(
            "etcd",
            shutil.which("etcd") or "etcd",
            "--name=node",
            f"--data-dir={self.root / 'etcd' / 'data'}",
            "--listen-client-urls=http://127.0.0.1:2379",
            "--advertise-client-urls=http://127.0.0.1:2379",
            "--listen-peer-urls=http://127.0.0.1:2380",
            "--initial-advertise-peer-urls=http://127.0.0.1:2380",
            "--initial-cluster=node=http://127.0.0.1:2380",
        )
        self._wait(daemon, lambda: '"health":"true"' in (self._get("http://127.0.0.1:2379/health") or ""))

    def _start_apiserver(self) -> None:
        pki = self.root / "pki"
        daemon = self._spawn(
            "kube-apiserver",
            self._bin("kube-apiserver"),
            "--etcd-servers=http://127.0.0.1:2379",
            f"--bind-address={NODE_IP}",
            f"--advertise-address={NODE_IP}",
            f"--secure-port={API_PORT}",
            f"--cert-dir={self.root / 'certs'}",
            f"--tls-cert-file={pki / 'apiserver.crt'}",
            f"--tls-private-key-file={pki / 'apiserver.key'}",
            f"--client-ca-file={pki / 'ca.crt'}",
            f"--token-auth-file={self.root / 'tokens.csv'}",
            "--authorization-mode=Node,RBAC",
            "--allow-privileged=true",
            f"--service-cluster-ip-range={SERVICE_CIDR}",
            "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
            f"--service-account-key-file={pki / 'sa.pub'}",
            f"--service-account-signing-key-file={pki / 'sa.key'}",
            f"--kubelet-client-certificate={pki / 'kubelet-client.crt'}",
            f"--kubelet-client-key={pki / 'kubelet-client.key'}",
            "--kubelet-preferred-address-types=InternalIP",
            # The default reconciler refuses the node's address as the kubernetes Service's endpoint.
            "--endpoint-reconciler-type=none",
            "--profiling=false",
        )
        self._wait(daemon, self._answers_ok(f"https://{NODE_IP}:{API_PORT}/readyz"))

    def _start_controllers(self) -> None:
        pki, kubeconfig = self.root / "pki", str(self.kubeconfig)
        delegated = [f"--{kind}kubeconfig={kubeconfig}" for kind in ("", "authentication-", "authorization-")]
        delegated += ["--leader-elect=false", "--bind-address=127.0.0.1"]
        manager = self._spawn(
            "kube-controller-manager",
            self._bin("kube-controller-manager"),
            *delegated,
            f"--cert-dir={self.root / 'certs'}",
            f"--cluster-cidr={CLUSTER_CIDR}",
            "--allocate-node-cidrs=true",
            "--node-cidr-mask-size=24",
            f"--service-cluster-ip-range={SERVICE_CIDR}",
            f"--service-account-private-key-file={pki / 'sa.key'}",
            f"--root-ca-file={pki / 'ca.crt'}",
            f"--cluster-signing-cert-file={pki / 'ca.crt'}",
            f"--cluster-signing-key-file={pki / 'ca.key'}",
        )
        scheduler = self._spawn(
            "kube-scheduler", self._bin("kube-scheduler"), *delegated, f"--cert-dir={self.root / 'certs'}"
        )
        self._wait(manager, self._answers_ok("https://127.0.0.1:10257/healthz"))
        self._wait(scheduler, self._answers_ok("https://127.0.0.1:10259/healthz"))

    def _start_containerd(self, images: Sequence[Path]) -> None:
        config = self.root / "containerd.toml"
        config.write_text(self._containerd_config())
        (self.root / "cni" / "10-flowspace.conflist").write_text(json.dumps(self._cni_config(), indent=2))
        daemon = self._spawn("containerd", shutil.which("containerd") or "containerd", f"--config={config}")
        self._wait(daemon, self._containerd_answers)
        for archive in (oci_archive(pause_recipe()), *images):
            self.import_image(archive)
        _progress(f"imported {1 + len(images)} image(s)")

    def _containerd_answers(self) -> bool:
        command = ["ctr", f"--address={self.containerd_socket}", "version"]
        return _run(command, False, 10).returncode == 0

    def _containerd_config(self) -> str:
        def quote(value: object) -> str:
            return json.dumps(str(value))

        cri = 'plugins."io.containerd.grpc.v1.cri"'
        return "\n".join(
            [
                "version = 2",
                f"root = {quote(self.root / 'containerd')}",
                f"state = {quote(self.run_dir / 'state')}",
                "disabled_plugins = ["
                '"io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs", '
                '"io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper"]',
                "[grpc]",
                f"address = {quote(self.containerd_socket)}",
                "[ttrpc]",
                f"address = {quote(self.run_dir / 'containerd.sock.ttrpc')}",
                '[plugins."io.containerd.internal.v1.opt"]',
                f"path = {quote(self.root / 'containerd' / 'opt')}",
                f"[{cri}]",
                f"sandbox_image = {quote(PAUSE_IMAGE)}",
                # No CAP_SYS_RESOURCE here: a negative oom_score_adj is refused and runc fails.
                "restrict_oom_score_adj = true",
                "netns_mounts_under_state_dir = true",
                f"[{cri}.containerd]",
                'snapshotter = "overlayfs"',
                'default_runtime_name = "runc"',
                f"[{cri}.containerd.runtimes.runc]",
                'runtime_type = "io.containerd.runc.v2"',
                f"[{cri}.containerd.runtimes.runc.options]",
                "SystemdCgroup = false",
                # runc's state: not /run/containerd/runc/k8s.io, where a killed container's would stay.
                f"Root = {quote(self.run_dir / 'runc')}",
                f"[{cri}.cni]",
                f"bin_dir = {quote(self.cni_bin)}",
                f"conf_dir = {quote(self.root / 'cni')}",
                "max_conf_num = 1",
                "",
            ]
        )

    def _cni_config(self) -> dict[str, object]:
        ipam = {
            "type": "host-local",
            "ranges": [[{"subnet": POD_CIDR}]],
            "routes": [{"dst": "0.0.0.0/0"}],
            "dataDir": str(self.root / "cni-ipam"),
        }
        bridge = {"type": "bridge", "bridge": "cni0", "isGateway": True, "ipMasq": True, "hairpinMode": True}
        return {
            "cniVersion": "1.0.0",
            "name": self.network_name,
            "plugins": [{**bridge, "ipam": ipam}, {"type": "portmap", "capabilities": {"portMappings": True}}],
        }

    def _kubelet_config(self) -> dict[str, object]:
        return {
            "apiVersion": "kubelet.config.k8s.io/v1beta1",
            "kind": "KubeletConfiguration",
            "cgroupDriver": "cgroupfs",
            "cgroupRoot": self.cgroup_root,
            "failCgroupV1": False,
            "failSwapOn": False,
            "makeIPTablesUtilChains": False,
            "containerRuntimeEndpoint": f"unix://{self.containerd_socket}",
            "podLogsDir": str(self.root / "pod-logs"),
            "authentication": {
                "anonymous": {"enabled": False},
                "webhook": {"enabled": False},
                "x509": {"clientCAFile": str(self.root / "pki" / "ca.crt")},
            },
            "authorization": {"mode": "AlwaysAllow"},
            "readOnlyPort": 0,
            "healthzBindAddress": "127.0.0.1",
            "healthzPort": 10248,
            "imageGCHighThresholdPercent": 100,
            "imageGCLowThresholdPercent": 99,
            "evictionHard": {"memory.available": "1Mi", "nodefs.available": "1%", "imagefs.available": "1%"},
        }

    def _make_cgroups(self) -> None:
        for hierarchy in Path("/sys/fs/cgroup").iterdir():
            if (hierarchy / "cgroup.procs").is_file():
                (hierarchy / self.cgroup_root.strip("/")).mkdir(exist_ok=True)

    def _start_kubelet(self) -> None:
        config = self.root / "kubelet.json"
        config.write_text(json.dumps(self._kubelet_config(), indent=2))
        self._make_cgroups()
        daemon = self._spawn(
            "kubelet",
            self._bin("kubelet"),
            f"--config={config}",
            f"--kubeconfig={self.root / 'kubelet.kubeconfig'}",
            f"--root-dir={self.root / 'kubelet'}",
            f"--hostname-override={self.node_name}",
            f"--node-ip={NODE_IP}",
        )
        self._wait(daemon, self._answers_ok("http://127.0.0.1:10248/healthz"))
        self._wait(daemon, self._node_registered, "node registered")

    def _node_registered(self) -> bool:
        return self.kubectl("get", "node", self.node_name, check=False).returncode == 0

    def _start_kube_proxy(self) -> None:
        config = self.root / "kube-proxy.json"
        settings = {
            "apiVersion": "kubeproxy.config.k8s.io/v1alpha1",
            "kind": "KubeProxyConfiguration",
            "clientConnection": {"kubeconfig": str(self.kubeconfig)},
            "mode": "iptables",
            "clusterCIDR": CLUSTER_CIDR,
            "hostnameOverride": self.node_name,
            "healthzBindAddress": "127.0.0.1:10256",
            "metricsBindAddress": "127.0.0.1:10249",
            "nodePortAddresses": ["primary"],
            # Nothing of the machine's: no conntrack table size or timeouts, no oom_score_adj.
            "conntrack": {"maxPerCore": 0, "min": 0, "tcpEstablishedTimeout": "0s", "tcpCloseWaitTimeout": "0s"},
            "oomScoreAdj": 0,
        }
        config.write_text(json.dumps(settings, indent=2))
        daemon = self._spawn("kube-proxy", self._bin("kube-proxy"), f"--config={config}")
        self._wait(daemon, self._kube_proxy_synced, "rules synced")

    def _kube_proxy_synced(self) -> bool:
        if self._get("http://127.0.0.1:10256/healthz") is None:
            return False
        rules = self.node_run("iptables-save", "-t", "nat", check=False, timeout=30).stdout
        return ":KUBE-SERVICES" in rules

    def _wait_node_ready(self) -> None:
        kubelet = next(daemon for daemon in self.daemons if daemon.name == "kubelet")
        ready = "jsonpath={.status.conditions[?(@.type=='Ready')].status}"

        def node_ready() -> bool:
            return self.kubectl("get", "node", self.node_name, "-o", ready, check=False).stdout.strip() == "True"

        def default_account() -> bool:
            return self.kubectl("get", "serviceaccount", "default", check=False).returncode == 0

        self._wait(kubelet, node_ready, "node Ready")
        self._wait(kubelet, default_account, "default service account made")

    # --- tearing down ------------------------------------------------------------------------------

    def _marks(self) -> tuple[str, ...]:
        return (f"{self.root}/", f"{self.run_dir}/")

    def _cgroup_dirs(self) -> list[Path]:
        return cgroup_dirs(self.cgroup_root)

    def processes(self) -> set[int]:
        """The cluster's processes: by their command line (every program names a file of the cluster,
        shims name containerd's socket) and by their cgroup (pods' containers)."""
        return processes_of(self._marks(), self._cgroup_dirs())

    def mounts(self) -> list[Path]:
        tops = (self.root, self.run_dir)
        return [point for point in mount_points() if any(point == top or top in point.parents for top in tops)]

    def _task_ids(self) -> set[str]:
        folders = (
            self.run_dir / "state" / "io.containerd.runtime.v2.task" / CONTAINERD_NAMESPACE,
            self.root / "containerd" / "io.containerd.grpc.v1.cri" / "sandboxes",
            self.root / "containerd" / "io.containerd.grpc.v1.cri" / "containers",
        )
        return {entry.name for folder in folders if folder.is_dir() for entry in folder.iterdir()}

    def _kill(self) -> None:
        """SIGKILL to every process of the cluster until none is left, then waits (10s at most) until
        init has reaped those reparented to it: no zombie of the cluster outlives it."""
        seen: dict[int, str] = {}
        for daemon in self.daemons:
            with suppress(ProcessLookupError):
                os.killpg(daemon.process.pid, signal.SIGKILL)
        for _ in range(100):
            leftovers = self.processes()
            if not leftovers:
                break
            for pid in leftovers:
                seen.setdefault(pid, start_time(pid) or "")
                with suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            time.sleep(0.1)
        else:
            raise ClusterError(f"processes of the cluster in {self.root} survive SIGKILL: {sorted(leftovers)}")
        for daemon in self.daemons:
            daemon.process.wait(30)
        deadline = time.monotonic() + 10
        while any(start_time(pid) == started for pid, started in seen.items()) and time.monotonic() < deadline:
            time.sleep(0.05)

    def _remove_cgroups(self) -> None:
        remove_cgroups(self.cgroup_root, f"the cluster in {self.root}")

    def _unmount(self) -> None:
        for point in sorted(self.mounts(), key=lambda path: len(path.parts), reverse=True):
            subprocess.run(["umount", "-l", str(point)], capture_output=True, check=False)
        if self.mounts():
            raise ClusterError(f"mounts of the cluster remain: {self.mounts()}")

    def _remove_shared_files(self, ids: set[str]) -> None:
        """Shim sockets, CNI results and container log links the cluster left in the machine's folders."""
        for task in ids:
            key = f"{self.containerd_socket}/{CONTAINERD_NAMESPACE}/{task}"
            (SHIM_SOCKETS / hashlib.sha256(key.encode()).hexdigest()).unlink(missing_ok=True)
        if CNI_RESULTS.is_dir():
            for result in CNI_RESULTS.iterdir():
                if result.name.startswith(f"{self.network_name}-") or any(f"-{task}-" in result.name for task in ids):
                    result.unlink(missing_ok=True)
        if CONTAINER_LOG_LINKS.is_dir():
            for link in CONTAINER_LOG_LINKS.iterdir():
                if link.is_symlink() and os.readlink(link).startswith(f"{self.root}/"):
                    link.unlink()
        for folder in SHARED_DIRS:
            if folder not in self.preexisting and (folder.parts[1] != "run" or not other_engines_run()):
                with suppress(OSError):
                    folder.rmdir()

    def remnants(self) -> list[str]:
        """What of the cluster is left on the machine (nothing after teardown)."""
        found = [f"process {pid}" for pid in sorted(self.processes())]
        found += [f"mount {point}" for point in self.mounts()]
        found += [f"cgroup {directory}" for directory in self._cgroup_dirs()]
        found += [f"folder {folder}" for folder in (self.root, self.run_dir) if folder.exists()]
        found += [
            f"namespace {name}"
            for name in (self.pair.server, self.pair.client)
            if Path("/var/run/netns", name).exists()
        ]
        if CNI_RESULTS.is_dir():
            found += [f"CNI result {path}" for path in CNI_RESULTS.glob(f"{self.network_name}-*")]
        if CONTAINER_LOG_LINKS.is_dir():
            found += [
                f"log link {path}" for path in CONTAINER_LOG_LINKS.iterdir() if str(self.root) in os.readlink(path)
            ]
        return found

    def teardown(self) -> None:
        """Kills every process of the cluster and removes its cgroups, mounts and files; a step that
        fails does not keep the next from running, but nothing is deleted while a mount remains."""
        ids = self._task_ids()
        errors: list[Exception] = []
        for step in (self._kill, self._remove_cgroups, self._unmount, lambda: self._remove_shared_files(ids)):
            try:
                step()
            except Exception as error:
                errors.append(error)
        if not self.mounts():
            shutil.rmtree(self.root, ignore_errors=True)
            shutil.rmtree(self.run_dir, ignore_errors=True)
        if errors:
            for other in errors[1:]:
                errors[0].add_note(f"also: {other}")
            raise errors[0]


def require_cluster_tools() -> None:
    """Skips (fails in CI) a test when the cluster's tools are missing: scripts/install-test-deps."""
    require_root()
    for tool in ("etcd", "containerd", "containerd-shim-runc-v2", "runc", "ctr", "kubectl", "nsenter", "curl"):
        require_tool(tool)
    for tool in ("iptables", "iptables-save", "iptables-restore", "go"):
        require_tool(tool)


@contextmanager
def single_node_cluster(workdir: Path, tag: str = "k8", images: Sequence[Path] = ()) -> Iterator[Cluster]:
    """A running single-node cluster (node Ready, kube-proxy synced) with the pause image and
    `images` (archives) imported; at exit nothing of it is left and the sysctls are as before."""
    require_cluster_tools()
    started = time.monotonic()
    kubernetes_bin, cni_bin = _script_folder("build-kubernetes"), _script_folder("build-cni-plugins")
    saved = read_sysctls()
    root = Path(tempfile.mkdtemp(prefix="k8s-", dir=workdir)).resolve()
    run_dir = Path(tempfile.mkdtemp(prefix="fsk-", dir="/tmp"))
    with namespace_pair(tag) as pair:
        cluster = Cluster(
            pair, root / "admin.kubeconfig", NODE_NAME, root, run_dir, kubernetes_bin, cni_bin, secrets.token_hex(16)
        )
        try:
            cluster.start(images)
            _progress(f"cluster up after {time.monotonic() - started:.1f}s")
            yield cluster
        finally:
            try:
                cluster.teardown()
            finally:
                restore_sysctls(saved)
