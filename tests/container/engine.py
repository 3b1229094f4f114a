"""A container engine for the container tests: podman (preferred) or docker, the image built from this tree.

No registry is needed where debootstrap can run (root on a Debian-like host): the base image (Debian bookworm with
its Python 3.11) is made from Debian's packages once and kept as a local image tag that later runs reuse.
Elsewhere the Containerfile's default base (the official slim Python image) is pulled as usual.

Environment knobs:
- ``PROVIDER_SIM_TEST_ENGINE``: ``podman`` or ``docker`` (default: the first of them that works).
- ``PROVIDER_SIM_TEST_BASE_IMAGE``: the base to build on (skips debootstrap).
- ``PROVIDER_SIM_TEST_DEBIAN_MIRROR``: the Debian mirror debootstrap uses (default http://deb.debian.org/debian).
"""
from __future__ import annotations

import contextlib
import fcntl
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# Bump the suffix when the recipe below changes: runs then build a new base instead of reusing the old one.
BASE_TAG = "localhost/provider-sim-base:bookworm-1"
IMAGE_TAG = "localhost/provider-sim:test"
DEBIAN_PACKAGES = "python3,python3-venv,ca-certificates"


def cache_dir() -> Path:
    path = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "provider-sim"
    path.mkdir(parents=True, exist_ok=True)
    return path


@dataclass
class Engine:
    exe: str
    env: dict[str, str] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return Path(self.exe).name

    @property
    def podman(self) -> bool:
        return self.name == "podman"

    @property
    def host_alias(self) -> str:
        """The name a container reaches the host by."""
        return "host.containers.internal" if self.podman else "host.docker.internal"

    def __call__(self, *args: str, check: bool = True, timeout: float = 120, stdin: int | None = None,
                 input: bytes | None = None) -> subprocess.CompletedProcess[str]:
        result = subprocess.run([self.exe, *args], env=self.env, capture_output=True, timeout=timeout, stdin=stdin,
                                input=input.decode() if input is not None else None, text=True, check=False)
        if check and result.returncode != 0:
            raise AssertionError(f"{self.name} {' '.join(args)} -> exit {result.returncode}\n{result.stdout[-3000:]}"
                                 f"\n{result.stderr[-3000:]}")
        return result

    def image_exists(self, tag: str) -> bool:
        return self("image", "inspect", tag, check=False).returncode == 0


def install_podman() -> str:
    """As the PostgreSQL tests do for their server: where no engine is installed and this is Debian run as root,
    install Debian's podman (with runc, which this kernel's cgroups need, and debootstrap for the base image).
    "" when installed, else why not."""
    if shutil.which("podman") or shutil.which("docker"):
        return ""
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        return "not root on Debian: install podman yourself"
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for command in (["apt-get", "update", "-q"], ["apt-get", "install", "-y", "-q", "podman", "runc", "debootstrap"]):
        done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=900, check=False)
        if done.returncode != 0 and command[1] == "install":
            return f"apt-get install podman failed: {done.stderr.strip()[-300:]}"
    return ""


def find_engine() -> tuple[Engine | None, str]:
    """(engine, "") or (None, why none can run here)."""
    install_podman()
    wanted = os.environ.get("PROVIDER_SIM_TEST_ENGINE")
    reasons = []
    for name in [wanted] if wanted else ["podman", "docker"]:
        exe = shutil.which(name)
        if exe is None:
            reasons.append(f"{name}: not installed")
            continue
        env = dict(os.environ)
        if name == "podman" and "CONTAINERS_CONF" not in env:
            env["CONTAINERS_CONF"] = str(_podman_conf())
        if name == "docker":
            env.setdefault("DOCKER_BUILDKIT", "1")  # build secrets (the CA) need BuildKit
        try:
            info = subprocess.run([exe, "info"], env=env, capture_output=True, text=True, timeout=60, check=False)
        except subprocess.TimeoutExpired:
            reasons.append(f"{name}: `{name} info` did not answer within 60 s")
            continue
        if info.returncode == 0:
            return Engine(exe, env), ""
        last = (info.stderr.strip().splitlines() or ["no output"])[-1]
        reasons.append(f"{name}: `{name} info` failed ({last[:200]})")
    return None, ("no container engine can run here — " + "; ".join(reasons) +
                  ". On Debian: apt-get install podman runc debootstrap")


def _podman_conf() -> Path:
    """Settings podman needs on some kernels: rlimits it cannot set there, and runc where crun fails on cgroups."""
    lines = ["[containers]", "default_ulimits = []"]
    if shutil.which("runc"):
        lines += ["[engine]", 'runtime = "runc"']
    path = cache_dir() / "containers.conf"
    text = "\n".join(lines) + "\n"
    if not path.exists() or path.read_text() != text:
        path.write_text(text)
    return path


@contextlib.contextmanager
def _lock(name: str) -> Iterator[None]:
    with open(cache_dir() / name, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def base_image(engine: Engine) -> str | None:
    """The base to build on: the one named by the environment, the cached debootstrap one (made now if it can be),
    or None for the Containerfile's default."""
    named = os.environ.get("PROVIDER_SIM_TEST_BASE_IMAGE")
    if named:
        return named
    if engine.image_exists(BASE_TAG):
        return BASE_TAG
    if os.geteuid() != 0 or shutil.which("debootstrap") is None:
        return None
    with _lock("base.lock"):
        if not engine.image_exists(BASE_TAG):  # another run may have made it while this one waited
            _debootstrap_base(engine)
    return BASE_TAG


def _debootstrap_base(engine: Engine) -> None:
    mirror = os.environ.get("PROVIDER_SIM_TEST_DEBIAN_MIRROR", "http://deb.debian.org/debian")
    with tempfile.TemporaryDirectory(prefix="provider-sim-base-") as tmp:
        rootfs = Path(tmp) / "rootfs"
        result = subprocess.run(["debootstrap", "--variant=minbase", f"--include={DEBIAN_PACKAGES}", "bookworm",
                                 str(rootfs), mirror], capture_output=True, text=True, timeout=900, check=False)
        if result.returncode != 0:
            raise AssertionError(f"debootstrap failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
        # What an image never needs: downloaded packages, package lists, docs, translations.
        for pattern in ("var/cache/apt/archives/*.deb", "var/lib/apt/lists/*", "usr/share/doc/*", "usr/share/man/*",
                        "usr/share/locale/*"):
            for path in rootfs.glob(pattern):
                if path.is_dir() and not path.is_symlink():
                    shutil.rmtree(path)
                else:
                    path.unlink()
        tar = subprocess.Popen(["tar", "-C", str(rootfs), "-c", "."], stdout=subprocess.PIPE)
        assert tar.stdout is not None
        try:
            engine("import", "--change", 'CMD ["python3"]', "-", BASE_TAG, stdin=tar.stdout.fileno(), timeout=600)
        finally:
            tar.stdout.close()
            tar.wait()


def pip_ca_bundle() -> str | None:
    """The CA bundle this machine's pip verifies the package index with (PIP_CERT or pip's config), if any: the
    image build reaches the index the same way (a TLS-intercepting proxy needs it)."""
    if os.environ.get("PIP_CERT"):
        return os.environ["PIP_CERT"]
    listed = subprocess.run([sys.executable, "-m", "pip", "config", "list"], capture_output=True, text=True,
                            check=False).stdout
    match = re.search(r"^[\w:.]*\.cert='([^']+)'", listed, re.MULTILINE)
    return match.group(1) if match and Path(match.group(1)).is_file() else None


def pip_index_url() -> str | None:
    if os.environ.get("PIP_INDEX_URL", "").startswith(("http://", "https://")):
        return os.environ["PIP_INDEX_URL"]
    listed = subprocess.run([sys.executable, "-m", "pip", "config", "list"], capture_output=True, text=True,
                            check=False).stdout
    match = re.search(r"^[\w:.]*\.index-url='(https?://[^']+)'", listed, re.MULTILINE)
    return match.group(1) if match else None


def build_image(engine: Engine) -> str:
    """Build the image from this tree (the engine's layer cache makes a rebuild of an unchanged tree quick)."""
    args = ["build", "-t", IMAGE_TAG, "-f", str(ROOT / "Containerfile")]
    if engine.podman:
        args += ["--format", "docker"]  # OCI format would drop HEALTHCHECK
    base = base_image(engine)
    if base:
        args += ["--build-arg", f"BASE_IMAGE={base}"]
    ca = pip_ca_bundle()
    if ca:
        args += ["--secret", f"id=ca,src={ca}"]
    index = pip_index_url()
    if index:
        args += ["--build-arg", f"PIP_INDEX_URL={index}"]
    engine(*args, str(ROOT), timeout=900)
    return IMAGE_TAG
