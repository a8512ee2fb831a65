"""A real SSH "node" on 127.0.0.1 for the cluster-launcher test (tests/cluster/test_ray_up.py).

The fixture starts OpenSSH's ``sshd`` bound to 127.0.0.1 on a free port with throwaway host
and client keys, and makes every SSH session it serves run inside one Linux PID namespace
with its own home directory. To ``ray up`` the machine then looks like a separate, fresh
node: a new ``$HOME`` (no ``~/.ray/auth_token``, no ``~/.bashrc``) and a process table of its
own. The PID namespace is what makes the test safe on a shared machine: the cluster
launcher runs ``ray stop`` on the node at ``ray up`` and ``ray down``, and ``ray stop`` kills
every Ray process it can see; inside the namespace it sees only the node's own. Killing the
namespace's first process afterwards makes the kernel kill anything still inside, so
nothing outlives the test even when it fails halfway.

Only 127.0.0.1 is ever contacted. ``sshd``, ``rsync`` and ``nc`` (the SSH ProxyCommand that
reaches the free port) are installed with apt-get when missing and the test runs as root;
otherwise, or when the machine cannot run an SSH server or create a PID namespace, the test
is skipped with the reason.
"""

from __future__ import annotations

import contextlib
import getpass
import hashlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

APT_PACKAGES = ("openssh-server", "openssh-client", "rsync", "netcat-openbsd")
TOOLS = {"sshd": "/usr/sbin/sshd", "ssh": "ssh", "ssh-keygen": "ssh-keygen", "rsync": "rsync"}
TOOLS.update({"nc": "nc", "unshare": "unshare", "nsenter": "nsenter"})

# PID 1 of the node's namespace: reaps orphans (Ray daemonises its processes, and `ray stop`
# waits until they are gone) and exits on SIGTERM, which makes the kernel kill the rest.
REAPER = textwrap.dedent(
    """
    import os, signal, sys, time
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    print("ready", flush=True)
    while True:
        try:
            os.wait()
        except ChildProcessError:
            time.sleep(0.2)
    """
)


def free_ports(n: int) -> list[int]:
    """``n`` distinct TCP ports free on 127.0.0.1 right now."""
    socks = [socket.socket() for _ in range(n)]
    try:
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


@pytest.fixture
def ports():
    """``free_ports`` for tests: ``ports(n)`` gives n free TCP ports on 127.0.0.1."""
    return free_ports


def _missing_tools() -> list[str]:
    return [name for name, exe in TOOLS.items() if shutil.which(exe) is None]


def _apt_install() -> str | None:
    """Install the SSH/rsync packages with apt-get; None on success, else why not."""
    if shutil.which("apt-get") is None:
        return "no apt-get, so they cannot be installed here"
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    # Containers keep a policy-rc.d that stops apt from starting services; add one for the
    # install if there is none, so no system sshd on port 22 is started behind our back.
    policy = Path("/usr/sbin/policy-rc.d")
    added_policy = not policy.exists()
    if added_policy:
        policy.write_text("#!/bin/sh\nexit 101\n")
        policy.chmod(0o755)
    try:
        for cmd in (
            ["apt-get", "update", "-q"],
            ["apt-get", "install", "-y", "-q", "--no-install-recommends", *APT_PACKAGES],
        ):
            proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
            if proc.returncode != 0:
                return f"`{' '.join(cmd)}` failed:\n{(proc.stdout + proc.stderr)[-1500:]}"
    except subprocess.TimeoutExpired as exc:
        return f"`{' '.join(exc.cmd)}` took over {exc.timeout:.0f} s"
    finally:
        if added_policy:
            policy.unlink(missing_ok=True)
    return None


def _wait_port(port: int, timeout: float, alive: subprocess.Popen) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and alive.poll() is None:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return True
        time.sleep(0.1)
    return False


def pid_namespace(pid: int) -> str | None:
    """The PID namespace of process ``pid`` (e.g. ``pid:[4026532297]``), None if gone."""
    try:
        return os.readlink(f"/proc/{pid}/ns/pid")
    except OSError:
        return None


def pids() -> list[int]:
    return [int(p) for p in os.listdir("/proc") if p.isdigit()]


def cmdline(pid: int) -> str:
    """The command line of ``pid`` as one string ("" when it is gone or a kernel thread)."""
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode().strip()
    except OSError:
        return ""


def parent(pid: int) -> int | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return int(stat.rsplit(")", 1)[1].split()[1])


def descendants(root: int) -> list[int]:
    """Every live process below ``root`` in the process tree."""
    children: dict[int, list[int]] = {}
    for pid in pids():
        children.setdefault(parent(pid) or 0, []).append(pid)
    found, todo = [], [root]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


@dataclass
class LoopbackNode:
    """An SSH-reachable node on 127.0.0.1 (see the module docstring)."""

    tmp: Path
    """Scratch directory of this node and its laptop side (keys, homes, logs, outputs)."""
    port: int
    """The sshd's port on 127.0.0.1."""
    key: Path
    """Private key the cluster config logs in with (user root)."""
    home: Path
    """``$HOME`` of every SSH session on the node."""
    laptop_env: dict[str, str]
    """Environment for commands run on the "laptop" side (`ray up`, the helper): its own
    HOME and TMPDIR inside ``tmp``, the test's venv first on PATH, no inherited Ray address
    or token settings."""
    reaper: subprocess.Popen
    """The ``unshare`` process whose child is PID 1 of the node's namespace."""
    init_pid: int
    """That child's PID as seen from this machine."""
    sshd: subprocess.Popen
    preexisting: set[int] = field(default_factory=set)
    """Processes this test process had started before the node (not the node's)."""
    cluster_names: list[str] = field(default_factory=list)
    """Clusters rendered for this node, for cleaning up the launcher's files in /tmp."""

    free_ports = staticmethod(free_ports)

    @property
    def namespace(self) -> str | None:
        return pid_namespace(self.init_pid)

    def node_processes(self) -> dict[int, str]:
        """pid -> command line of every process inside the node's PID namespace but its
        init."""
        ns = self.namespace
        return {
            pid: cmdline(pid)
            for pid in pids()
            if ns is not None and pid != self.init_pid and pid_namespace(pid) == ns
        }

    def leftovers(self) -> dict[int, str]:
        """pid -> command line of every process on this machine that belongs to the node or
        its laptop side: any process started by this test process, or naming ``tmp`` (our
        sshd, ssh clients with our key, Ray processes with our temp dir), or the SSH proxy
        to our port, or anything in the node's namespace."""
        mine = set(descendants(os.getpid())) - self.preexisting
        proxy = f"nc 127.0.0.1 {self.port}"
        found = {}
        for pid in pids():
            line = cmdline(pid)
            if pid in mine or str(self.tmp) in line or line == proxy:
                found[pid] = line
        return {**found, **self.node_processes()}

    def close(self) -> None:
        """Tear the node down (idempotent): the launcher's SSH master connections, sshd and
        its sessions, leftover ssh clients of this test, the namespace and everything still
        in it, the launcher's state files for our clusters, the scratch directory."""
        close_control_masters(self)
        sessions = descendants(self.sshd.pid) if self.sshd.poll() is None else []
        _stop(self.sshd)
        for pid in sessions:  # sshd's per-connection processes run in sessions of their own
            _kill(pid)
        for pid in descendants(os.getpid()):
            if str(self.tmp) in cmdline(pid) and pid not in (self.reaper.pid, self.init_pid):
                _kill(pid)  # an ssh client of this test that outlived its command
        _stop(self.reaper)  # the namespace's init exits: the kernel kills whatever is left
        for name in self.cluster_names:
            for suffix in ("state", "lock"):
                Path(f"/tmp/cluster-{name}.{suffix}").unlink(missing_ok=True)
        shutil.rmtree(self.tmp, ignore_errors=True)

    @staticmethod
    def control_dir(cluster_name: str) -> Path:
        """Where the cluster launcher keeps its SSH ControlMaster sockets for a cluster (the
        path Ray's SSHCommandRunner builds)."""
        user = hashlib.sha256(getpass.getuser().encode()).hexdigest()[:10]
        return Path(f"/tmp/ray_ssh_{user}") / hashlib.sha256(cluster_name.encode()).hexdigest()[:10]


def _node_shell(home: Path, init_pid: int) -> str:
    """sshd's ForceCommand: the client's command in the node's namespace and home."""
    return textwrap.dedent(
        f"""\
        #!/bin/bash
        export HOME={home}
        cd "$HOME" || exit 1
        exec nsenter --target {init_pid} --pid --mount -- /bin/bash -c "${{SSH_ORIGINAL_COMMAND:-exit 0}}"
        """
    )


def _sshd_config(tmp: Path, port: int) -> str:
    return textwrap.dedent(
        f"""\
        ListenAddress 127.0.0.1
        Port {port}
        HostKey {tmp}/host_key
        PidFile {tmp}/sshd.pid
        AuthorizedKeysFile {tmp}/authorized_keys
        PubkeyAuthentication yes
        PasswordAuthentication no
        KbdInteractiveAuthentication no
        PermitRootLogin prohibit-password
        AllowUsers root
        UsePAM no
        StrictModes no
        AllowTcpForwarding local
        X11Forwarding no
        PrintMotd no
        MaxSessions 50
        MaxStartups 50
        ForceCommand {tmp}/node-shell
        LogLevel VERBOSE
        """
    )


def _stop(proc: subprocess.Popen, timeout: float = 10) -> None:
    """Stop a process this fixture started (and its process group, which it leads)."""
    if proc.poll() is not None:
        return
    for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 10)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue


def _kill(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)


def close_control_masters(node: LoopbackNode) -> None:
    """Ask the launcher's persistent SSH connections (ControlPersist) to exit now."""
    for name in node.cluster_names:
        directory = node.control_dir(name)
        for sock in directory.glob("*") if directory.exists() else []:
            subprocess.run(
                ["ssh", "-O", "exit", "-o", f"ControlPath={sock}", "root@127.0.0.1"],
                capture_output=True,
                timeout=15,
                check=False,
            )
        shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture
def loopback_node() -> Iterator[LoopbackNode]:
    """A fresh SSH node on 127.0.0.1 (module docstring), torn down afterwards even when the
    test fails (``LoopbackNode.close``; a test may call it itself to check the result)."""
    if not sys.platform.startswith("linux"):
        pytest.skip("the loopback SSH node needs Linux (PID namespaces, OpenSSH's sshd)")
    if os.geteuid() != 0:
        pytest.skip("the loopback SSH node needs root (sshd as root, a PID namespace)")
    if _missing_tools():
        why = _apt_install()
        if why or _missing_tools():
            pytest.skip(f"cannot run an SSH server here: missing {_missing_tools()}; {why}")
    Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # sshd's privilege-separation dir

    preexisting = set(descendants(os.getpid()))
    tmp = Path(tempfile.mkdtemp(prefix="qrc", dir="/tmp"))  # short: socket paths are limited
    home, laptop = tmp / "node-home", tmp / "laptop-home"
    for d in (home, laptop, tmp / "laptop-tmp"):
        d.mkdir()
    key = tmp / "key"
    for path in (key, tmp / "host_key"):
        subprocess.run(
            ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "quantray-test", "-f", path],
            check=True,
            capture_output=True,
        )
    pub = (tmp / "key.pub").read_text().strip()
    (tmp / "authorized_keys").write_text(f'from="127.0.0.1" {pub}\n')

    reaper = subprocess.Popen(
        ["unshare", "--pid", "--fork", "--mount-proc", sys.executable, "-c", REAPER],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    line = reaper.stdout.readline() if reaper.stdout else ""
    if line.strip() != "ready":
        rest = reaper.stdout.read() if reaper.stdout else ""
        _stop(reaper)
        shutil.rmtree(tmp, ignore_errors=True)
        pytest.skip(f"cannot create a PID namespace for the node (unshare): {line}{rest}")
    init_pid = descendants(reaper.pid)[0]

    (tmp / "node-shell").write_text(_node_shell(home, init_pid))
    (tmp / "node-shell").chmod(0o755)
    port = free_ports(1)[0]
    (tmp / "sshd_config").write_text(_sshd_config(tmp, port))
    sshd = subprocess.Popen(
        [shutil.which("sshd") or "/usr/sbin/sshd", "-D", "-e", "-f", tmp / "sshd_config"],
        stdout=(tmp / "sshd.log").open("w"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    if not _wait_port(port, 15, sshd):
        _stop(sshd)
        _stop(reaper)
        log = (tmp / "sshd.log").read_text()[-2000:]
        shutil.rmtree(tmp, ignore_errors=True)
        pytest.skip(f"sshd did not start on 127.0.0.1:{port}:\n{log}")

    bin_dir = str(Path(sys.executable).parent)
    keep = {k: v for k, v in os.environ.items() if not k.startswith(("RAY_", "TMPDIR"))}
    laptop_env = {
        **keep,
        "HOME": str(laptop),
        "TMPDIR": str(tmp / "laptop-tmp"),
        "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
        "RAY_USAGE_STATS_ENABLED": "0",
    }
    node = LoopbackNode(tmp, port, key, home, laptop_env, reaper, init_pid, sshd, preexisting)
    try:
        yield node
    finally:
        node.close()
