"""The local Label Studio that `miko annotate serve` runs: 127.0.0.1 only, SQLite and media
under the cache folder, no update check, no analytics; the admin login and an API token made on
first start and kept beside its data (mode 0600)."""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx

from kg_builder.core.errors import AnnotationError
from kg_builder.core.settings import Settings

INSTALL_HINT = "pip install 'miko-kg[annotate]' (label-studio and its SDK, ~2 minutes)"


@dataclass(frozen=True)
class Endpoint:
    """A Label Studio to talk to: its URL and API token."""

    url: str
    token: str
    local: bool


class LocalLabelStudio:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.data = settings.label_studio_data_dir or settings.cache_dir / "label-studio"
        self.pidfile = self.data / "miko-label-studio.pid"
        self.tokenfile = self.data / "miko-api-token"
        self.log = self.data / "label-studio.log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.settings.label_studio_port}"

    def executable(self) -> str:
        beside = Path(sys.executable).parent / "label-studio"
        found = str(beside) if beside.exists() else shutil.which("label-studio")
        if not found:
            raise AnnotationError(f"Label Studio is not installed: {INSTALL_HINT}")
        return found

    def pid(self) -> int | None:
        try:
            pid = int(self.pidfile.read_text().strip())
            os.kill(pid, 0)
        except (OSError, ValueError):
            return None
        return pid

    def healthy(self) -> bool:
        try:
            return httpx.get(f"{self.url}/health", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    def token(self) -> str:
        if not self.tokenfile.exists():
            self.data.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.tokenfile, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write(secrets.token_hex(20))
        return self.tokenfile.read_text().strip()

    def endpoint(self) -> Endpoint:
        return Endpoint(self.url, self.token(), local=True)

    def start(self, progress: Callable[[str], None] | None = None) -> bool:
        """Start in the background and wait until /health answers. False if it already ran."""
        if self.pid() is not None:
            self._wait(progress)
            return False
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", self.settings.label_studio_port)) == 0:
                raise AnnotationError(
                    f"port {self.settings.label_studio_port} is taken by another process: stop it "
                    "or set MIKO_LABEL_STUDIO_PORT to a free port")
        exe = self.executable()
        self.data.mkdir(parents=True, exist_ok=True)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("LABEL_STUDIO_", "DJANGO_"))}
        env.update({
            "LABEL_STUDIO_BASE_DATA_DIR": str(self.data),
            "LABEL_STUDIO_USERNAME": self.settings.label_studio_user,
            "LABEL_STUDIO_PASSWORD": self.settings.label_studio_password.get_secret_value(),
            "LABEL_STUDIO_USER_TOKEN": self.token(),
            "LABEL_STUDIO_ENABLE_LEGACY_API_TOKEN": "true",
            "LABEL_STUDIO_DISABLE_SIGNUP_WITHOUT_LINK": "true",
            "LATEST_VERSION_CHECK": "false", "COLLECT_ANALYTICS": "false",
            "FEATURE_FLAGS_OFFLINE": "true", "SENTRY_DSN": "", "FRONTEND_SENTRY_DSN": "",
            "DJANGO_DB": "sqlite",
        })
        env.pop("HOST", None)  # Label Studio reads HOST as its public URL
        cmd = [exe, "start", "--no-browser", "--data-dir", str(self.data),
               "--internal-host", "127.0.0.1", "--host", self.url,
               "--port", str(self.settings.label_studio_port)]
        # Detached, in a session of its own (so `stop` ends its whole process group), and not a
        # child this process must wait for: the shell starts it in the background and exits.
        env["MIKO_LABEL_STUDIO_LOG"] = str(self.log)
        launched = subprocess.run(
            ["sh", "-c", 'setsid "$0" "$@" >>"$MIKO_LABEL_STUDIO_LOG" 2>&1 </dev/null & echo $!',
             *cmd], env=env, cwd=self.data, capture_output=True, text=True, check=False)
        if launched.returncode != 0 or not launched.stdout.strip().isdigit():
            raise AnnotationError(f"could not start Label Studio: {launched.stderr.strip()}")
        self.pidfile.write_text(launched.stdout.strip())
        self._wait(progress)
        return True

    def _wait(self, progress: Callable[[str], None] | None) -> None:
        start = time.monotonic()
        deadline = start + self.settings.label_studio_start_timeout_s
        said = 0.0
        while time.monotonic() < deadline:
            if self.healthy():
                return
            if self.pid() is None:
                raise AnnotationError(f"Label Studio exited while starting; see {self.log}")
            waited = time.monotonic() - start
            if progress and waited - said >= 10:
                said = waited
                progress(f"waiting for Label Studio at {self.url} ({waited:.0f}s; the first start "
                         "migrates its database, ~1 minute)")
            time.sleep(1)
        raise AnnotationError(
            f"Label Studio did not answer on {self.url} within "
            f"{self.settings.label_studio_start_timeout_s:.0f}s; see {self.log} "
            "(MIKO_LABEL_STUDIO_START_TIMEOUT_S waits longer)")

    def stop(self) -> bool:
        pid = self.pid()
        if pid is None:
            return False
        try:
            os.killpg(pid, signal.SIGTERM)
        except OSError:
            pass
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and self.pid() is not None:
            time.sleep(0.3)
        if self.pid() is not None:
            os.killpg(pid, signal.SIGKILL)
        self.pidfile.unlink(missing_ok=True)
        return True


def endpoint(settings: Settings) -> Endpoint:
    """The configured Label Studio, else the local one (which must be running)."""
    if settings.label_studio_url:
        token = settings.label_studio_token.get_secret_value()
        if not token:
            raise AnnotationError(
                "MIKO_LABEL_STUDIO_URL is set but MIKO_LABEL_STUDIO_TOKEN is empty: copy the API "
                "token from Label Studio's Account & Settings page")
        return Endpoint(settings.label_studio_url.rstrip("/"), token, local=False)
    local = LocalLabelStudio(settings)
    if not local.healthy():
        raise AnnotationError(
            f"no Label Studio answers on {local.url}: run `miko annotate serve`, or set "
            "MIKO_LABEL_STUDIO_URL and MIKO_LABEL_STUDIO_TOKEN to use another one")
    return local.endpoint()
