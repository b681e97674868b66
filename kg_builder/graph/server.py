"""Install and run the pinned Neo4j Community server from Maven Central jars.

No server tarball is published on Maven Central, but every jar of the server is. ``install``
resolves ``org.neo4j:neo4j`` (the server and its launchers), ``org.neo4j.app:neo4j-server`` and
``org.neo4j.client:neo4j-browser`` into ``NEO4J_HOME/lib`` (and APOC Core into
``NEO4J_HOME/plugins`` where a matching release resolves: none does for 2026.x) with Maven, then
writes ``neo4j.conf``. The server runs on the first JDK of version 21 or newer that
``kg_builder.graph.java`` finds. ``start``/``stop``/``status`` use the
server's own launchers (``org.neo4j.server.startup.Neo4jCommand`` and ``Neo4jAdminCommand``, the
code behind the tarball's ``neo4j`` and ``neo4j-admin`` scripts).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from kg_builder.core.errors import Neo4jServerError
from kg_builder.core.settings import APOC_VERSION, NEO4J_BROWSER_VERSION, NEO4J_VERSION, Settings
from kg_builder.graph.driver import make_driver
from kg_builder.graph.java import JavaRuntime, find_java
from kg_builder.graph.memory import MemoryPlan, neo4j_size, plan_memory
from kg_builder.graph.queries import admin

_POM = """<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>miko-kg</groupId><artifactId>{artifact}</artifactId><version>1</version>
  <packaging>pom</packaging>
  <dependencies>
{deps}
  </dependencies>
</project>
"""


def _dep(group: str, artifact: str, version: str) -> str:
    return (f"    <dependency><groupId>{group}</groupId><artifactId>{artifact}</artifactId>"
            f"<version>{version}</version></dependency>")


SERVER_DEPS = [
    ("org.neo4j", "neo4j", NEO4J_VERSION),
    ("org.neo4j.app", "neo4j-server", NEO4J_VERSION),
    ("org.neo4j.client", "neo4j-browser", NEO4J_BROWSER_VERSION),
]
PLUGIN_DEPS = [] if APOC_VERSION is None else [
    ("org.neo4j.procedure", "apoc-core", APOC_VERSION),
    ("org.neo4j.procedure", "apoc-common", APOC_VERSION),
]
MARKER = ".miko-installed"
# In the data folder: the server version that made it. A folder without it that has databases
# was made by miko's earlier Neo4j 5.26 and is refused (see ``check_data_folder``).
DATA_MARKER = ".miko-neo4j-version"


@dataclass
class ServerStatus:
    home: Path
    installed: bool
    running: bool
    pid: int | None
    bolt_uri: str
    browser_url: str


class Neo4jServer:
    """The Neo4j server that miko manages for the given settings."""

    def __init__(self, settings: Settings) -> None:
        if not settings.managed:
            raise Neo4jServerError(
                f"MIKO_NEO4J_URI is set ({settings.neo4j_uri}): that server is managed elsewhere; "
                "unset MIKO_NEO4J_URI to let miko install and run its own"
            )
        self.settings = settings
        self.home = settings.resolved_neo4j_home
        self.data = settings.resolved_neo4j_data_dir
        self.conf_dir = self.data / "conf"
        self._runtime: JavaRuntime | None = None

    @property
    def java(self) -> JavaRuntime:
        if self._runtime is None:
            self._runtime = find_java(self.settings.java_home)
        return self._runtime

    # -- install ---------------------------------------------------------------------------
    @property
    def installed(self) -> bool:
        return (self.home / MARKER).read_text().strip() == NEO4J_VERSION if (
            self.home / MARKER).exists() else False

    def install(self, force: bool = False) -> bool:
        """Fetch the pinned jars (idempotent). Returns True if anything was installed."""
        if self.installed and not force:
            return False
        if self.home.exists() and not (self.home / MARKER).exists() and any(self.home.iterdir()):
            raise Neo4jServerError(
                f"{self.home} exists and was not made by miko (no {MARKER} file); miko never "
                "replaces a folder it did not create. Set MIKO_NEO4J_HOME to a new or empty "
                "folder, or remove that one yourself")
        if shutil.which("mvn") is None:
            raise Neo4jServerError(
                "Maven (mvn) is needed to fetch the Neo4j jars from Maven Central: "
                "apt-get install maven"
            )
        self.java  # noqa: B018 (refuses early, naming the fix, when no JDK 21+ is there)
        staging = Path(tempfile.mkdtemp(prefix="neo4j-install-", dir=self.home.parent
                                        if self.home.parent.exists() else None))
        try:
            self._copy_deps(staging / "lib", SERVER_DEPS, "neo4j-dist")
            (staging / "plugins").mkdir()
            if PLUGIN_DEPS:
                self._copy_deps(staging / "plugins", PLUGIN_DEPS, "apoc-dist")
            # APOC's own runtime dependencies that the server already has would clash: keep
            # only jars the server lib lacks.
            server_jars = {self._artifact_name(p.name) for p in (staging / "lib").glob("*.jar")}
            for jar in (staging / "plugins").glob("*.jar"):
                if self._artifact_name(jar.name) in server_jars:
                    jar.unlink()
            (staging / MARKER).write_text(NEO4J_VERSION + "\n")
            if (self.home / MARKER).exists():  # ours (a folder miko did not make is refused above)
                shutil.rmtree(self.home)
            elif self.home.exists():
                self.home.rmdir()  # empty
            self.home.parent.mkdir(parents=True, exist_ok=True)
            staging.rename(self.home)
        finally:
            if staging.exists():
                shutil.rmtree(staging, ignore_errors=True)
        return True

    @staticmethod
    def _artifact_name(jar: str) -> str:
        stem = jar[:-4]
        parts = stem.split("-")
        while len(parts) > 1 and parts[-1][:1].isdigit():
            parts.pop()
        return "-".join(parts)

    def _copy_deps(self, out: Path, deps: list[tuple[str, str, str]], artifact: str) -> None:
        out.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory() as tmp:
            pom = Path(tmp) / "pom.xml"
            pom.write_text(_POM.format(artifact=artifact, deps="\n".join(_dep(*d) for d in deps)))
            cmd = ["mvn", "-q", "-B", "-f", str(pom), "dependency:copy-dependencies",
                   "-DincludeScope=runtime", f"-DoutputDirectory={out}"]
            proc = subprocess.run(cmd, capture_output=True, text=True)
            if proc.returncode != 0:
                tail = (proc.stdout + proc.stderr)[-2000:]
                raise Neo4jServerError(
                    f"Maven could not fetch {', '.join(a for _, a, _ in deps)}: {tail}\n"
                    "Check that Maven Central is reachable (mvn -v; ~/.m2/settings.xml)"
                )

    # -- configuration -----------------------------------------------------------------------
    @property
    def memory(self) -> MemoryPlan:
        return plan_memory(self.settings.neo4j_heap, self.settings.neo4j_pagecache)

    def write_conf(self) -> Path:
        s = self.settings
        plan = self.memory
        for sub in ("conf", "data", "logs", "run", "import"):
            (self.data / sub).mkdir(parents=True, exist_ok=True)
        lines = [
            "# Written by `miko neo4j` from the MIKO_* settings; edits are overwritten.",
            f"server.default_listen_address={s.neo4j_listen_address}",
            f"server.bolt.listen_address={s.neo4j_listen_address}:{s.neo4j_bolt_port}",
            f"server.http.listen_address={s.neo4j_listen_address}:{s.neo4j_http_port}",
            "server.https.enabled=false",
            f"server.directories.data={self.data / 'data'}",
            f"server.directories.logs={self.data / 'logs'}",
            f"server.directories.run={self.data / 'run'}",
            f"server.directories.import={self.data / 'import'}",
            f"server.directories.plugins={self.home / 'plugins'}",
            f"server.directories.lib={self.home / 'lib'}",
            # The memory plan (kg_builder/graph/memory.py): heap, page cache for the store, and
            # the rest left to the OS cache that Lucene's vector indexes read through.
            f"# memory: {plan.describe()}",
            f"# java: {self.java.describe()}",
            f"server.memory.heap.initial_size={neo4j_size(plan.heap)}",
            f"server.memory.heap.max_size={neo4j_size(plan.heap)}",
            f"server.memory.pagecache.size={neo4j_size(plan.pagecache)}",
            "db.tx_log.rotation.retention_policy=2 files",
            # How a vector index is built: Lucene writes a segment per buffer full and merges
            # `merge_factor` segments of one size; every query searches every segment, so few
            # segments make fast searches (BENCHMARKS.md, HNSW at 1.36M). Internal settings of
            # Neo4j (LuceneSettings, 5.26 to 2026.09), checked by the server at start.
            "internal.dbms.index.vector.population_ram_buffer_size="
            f"{s.neo4j_vector_build_buffer_mb:g}",
            f"internal.dbms.index.vector.population_merge_factor={s.neo4j_vector_build_merge_factor}",
            "dbms.usage_report.enabled=false",
            # Neo4j Browser: no usage data, nothing fetched from the internet; on connect it
            # loads miko's style and guide from the API (`miko serve`, which serves both).
            "client.allow_telemetry=false",
            # (browser.allow_outgoing_connections is not a setting of Community, which
            # refuses it; without it the Browser makes no outgoing connections.)
            "browser.remote_content_hostname_whitelist=localhost,127.0.0.1",
            f"browser.post_connect_cmd=style {s.browser_guide_url}miko.grass; "
            f"play {s.browser_guide_url}guide.html",
            *(["dbms.security.procedures.unrestricted=apoc.*"] if PLUGIN_DEPS else []),
            # Lucene's HNSW scores vectors with the JDK's Vector API (SIMD) when it is there.
            *(["server.jvm.additional=--add-modules=jdk.incubator.vector"]
              if self.java.has_module("jdk.incubator.vector") else []),
            # The page cache reads the JDK's direct buffers without a fallback copy.
            "server.jvm.additional=--add-opens=java.base/java.nio=ALL-UNNAMED",
            "server.jvm.additional=-XX:+UseG1GC",
            "server.jvm.additional=-XX:+ExitOnOutOfMemoryError",
        ]
        conf = self.conf_dir / "neo4j.conf"
        conf.write_text("\n".join(lines) + "\n")
        return conf

    def _env(self) -> dict[str, str]:
        env = dict(os.environ)
        env["NEO4J_HOME"] = str(self.home)
        env["NEO4J_CONF"] = str(self.conf_dir)
        env["JAVA_HOME"] = str(self.java.home)  # the server's launcher starts the server with it
        env["PATH"] = f"{self.java.home / 'bin'}{os.pathsep}{env.get('PATH', '')}"
        env.setdefault("NEO4J_SHUTDOWN_TIMEOUT", "300")  # a busy server may need minutes to stop
        return env

    def _java(self, main: str, *args: str, timeout: float = 120.0) -> subprocess.CompletedProcess[str]:
        cmd = [str(self.java.java), "-cp", f"{self.home / 'lib'}/*",
               f"org.neo4j.server.startup.{main}", *args]
        return subprocess.run(cmd, env=self._env(), capture_output=True, text=True, timeout=timeout)

    # -- lifecycle ---------------------------------------------------------------------------
    def pid(self) -> int | None:
        pidfile = self.data / "run" / "neo4j.pid"
        try:
            pid = int(pidfile.read_text().strip())
        except (OSError, ValueError):
            return None
        try:
            os.kill(pid, 0)
        except OSError:
            return None
        return pid

    def bolt_open(self) -> bool:
        try:
            with socket.create_connection((self.settings.neo4j_host, self.settings.neo4j_bolt_port),
                                          timeout=1):
                return True
        except OSError:
            return False

    def status(self) -> ServerStatus:
        pid = self.pid()
        return ServerStatus(
            home=self.home, installed=self.installed, running=pid is not None, pid=pid,
            bolt_uri=self.settings.bolt_uri, browser_url=self.settings.browser_url,
        )

    def start(self) -> bool:
        """Start in the background and wait until Bolt answers. False if it already ran."""
        if not self.installed:
            raise Neo4jServerError(
                f"Neo4j {NEO4J_VERSION} is not installed in {self.home}: run `miko neo4j install`"
            )
        self.check_data_folder()  # also a 5.x server still running there: stop it first
        if self.pid() is not None:
            self._wait_ready()
            return False
        if self.bolt_open():
            raise Neo4jServerError(
                f"port {self.settings.neo4j_bolt_port} is taken by another process: stop it or set "
                "MIKO_NEO4J_BOLT_PORT (and MIKO_NEO4J_HTTP_PORT) to free ports"
            )
        self.write_conf()
        first_start = not (self.data / "data" / "dbms").exists()
        if first_start:  # marked first: a start that fails half-way leaves a folder of ours
            (self.data / DATA_MARKER).write_text(NEO4J_VERSION + "\n")
            proc = self._java("Neo4jAdminCommand", "dbms", "set-initial-password",
                              self.settings.neo4j_password.get_secret_value())
            if proc.returncode != 0:
                raise Neo4jServerError(f"could not set the initial password: {proc.stderr.strip()}")
        proc = self._java("Neo4jCommand", "start")
        if proc.returncode != 0:
            raise Neo4jServerError(
                f"Neo4j did not start (exit {proc.returncode}): {(proc.stdout + proc.stderr)[-1500:]}"
                f"\nSee {self.data / 'logs' / 'neo4j.log'}"
            )
        self._wait_ready()
        (self.data / DATA_MARKER).write_text(NEO4J_VERSION + "\n")
        return True

    def data_version(self) -> str | None:
        """The Neo4j version that wrote the data folder; None for a folder with no database."""
        marker = self.data / DATA_MARKER
        if marker.is_file():
            return marker.read_text(encoding="utf-8", errors="replace").strip()[:40]
        store = self.data / "data"
        return "5.26" if any((store / sub).exists() for sub in ("dbms", "databases", "transactions")
                             ) else None

    def check_data_folder(self) -> None:
        """Refuse a data folder of Neo4j 5.x: the new server would upgrade it in place, one way."""
        version = self.data_version()
        if version is None or not version.startswith(("4.", "5.")):
            return
        raise Neo4jServerError(
            f"the data folder {self.data} was made by Neo4j {version}; miko now runs Neo4j "
            f"{NEO4J_VERSION}, which would upgrade it in place on its first start (Neo4j "
            f"{version} could not open it again). Stop a server of it that still runs "
            "(`miko neo4j stop` of the earlier miko). Either start afresh: set MIKO_NEO4J_DATA_DIR "
            "to a new folder and load again (`miko load-release`, `miko load RUN`); or keep the "
            "graph: back the folder up while no server runs, then `miko neo4j migrate` lets "
            f"Neo4j {NEO4J_VERSION} upgrade it")

    def allow_migration(self) -> str | None:
        """Let the current server upgrade a Neo4j 5.x data folder at its next start.
        Returns the version the folder had (None when there was nothing to migrate)."""
        version = self.data_version()
        if version is None or not version.startswith(("4.", "5.")):
            return None
        if self.pid() is not None:
            raise Neo4jServerError("stop the server first (`miko neo4j stop`)")
        (self.data / DATA_MARKER).write_text(f"{NEO4J_VERSION} (migrated from {version})\n")
        return version

    def _wait_ready(self) -> None:
        from neo4j.exceptions import AuthError

        deadline = time.monotonic() + self.settings.neo4j_start_timeout_s
        last: Exception | None = None
        while time.monotonic() < deadline:
            if self.pid() is None:
                raise Neo4jServerError(
                    f"Neo4j exited while starting; see {self.data / 'logs' / 'neo4j.log'}"
                )
            if self.bolt_open():
                driver = make_driver(self.settings)
                try:
                    driver.execute_query(admin.ping(), database_=self.settings.neo4j_database)
                    return
                except AuthError as exc:
                    raise Neo4jServerError(
                        "the managed server rejects MIKO_NEO4J_PASSWORD: it was set when its data "
                        f"folder {self.data} was created. Use that password, or `miko neo4j stop` "
                        "and remove the data folder to start afresh"
                    ) from exc
                except Exception as exc:  # database still starting
                    last = exc
                finally:
                    driver.close()
            time.sleep(0.5)
        raise Neo4jServerError(
            f"Neo4j did not answer on {self.settings.bolt_uri} within "
            f"{self.settings.neo4j_start_timeout_s:.0f}s ({last}); see {self.data / 'logs'}"
        )

    def stop(self) -> bool:
        """Stop the server. False if it was not running."""
        if self.pid() is None:
            return False
        proc = self._java("Neo4jCommand", "stop", timeout=360)
        if proc.returncode != 0 and self.pid() is not None:
            raise Neo4jServerError(f"Neo4j did not stop: {(proc.stdout + proc.stderr)[-1500:]}")
        return True
