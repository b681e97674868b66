"""Which JDK runs the managed server: the first of version 21 or newer, or an error with the fix."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from kg_builder.core.errors import Neo4jServerError
from kg_builder.graph import java
from kg_builder.graph.java import find_java, java_major


def fake_jdk(root: Path, name: str, version: str, modules: str = "java.base@21") -> Path:
    home = root / name
    (home / "bin").mkdir(parents=True)
    launcher = home / "bin" / "java"
    launcher.write_text(
        "#!/bin/sh\n"
        f'if [ "$1" = "--list-modules" ]; then printf "{modules}\\n"; exit 0; fi\n'
        f'echo \'openjdk version "{version}" 2026-01-01\' >&2\n')
    launcher.chmod(0o755)
    return home


@pytest.fixture
def no_java(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    monkeypatch.delenv("JAVA_HOME", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))
    jvm = tmp_path / "jvm"
    jvm.mkdir()
    monkeypatch.setattr(java, "JVM_DIRS", (jvm,))
    return jvm


def test_versions_are_read_old_and_new_style(tmp_path: Path) -> None:
    assert java_major(fake_jdk(tmp_path, "a", "17.0.15") / "bin" / "java") == 17
    assert java_major(fake_jdk(tmp_path, "b", "1.8.0_402") / "bin" / "java") == 8
    assert java_major(fake_jdk(tmp_path, "c", "25.0.3") / "bin" / "java") == 25
    assert java_major(tmp_path / "missing" / "java") is None


def test_an_older_java_on_the_path_is_passed_over_for_a_newer_jdk(
    no_java: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    old = fake_jdk(tmp_path, "old", "17.0.15")
    monkeypatch.setenv("PATH", f"{old / 'bin'}{os.pathsep}{os.environ['PATH']}")
    fake_jdk(no_java, "temurin-25-jdk-amd64", "25.0.3", "jdk.incubator.vector@25")
    runtime = find_java()
    assert runtime.major == 25 and runtime.home.name == "temurin-25-jdk-amd64"
    assert runtime.has_module("jdk.incubator.vector")
    assert not runtime.has_module("jdk.incubator")


def test_no_new_enough_java_names_what_was_found_and_the_fix(
    no_java: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    old = fake_jdk(no_java, "java-17-openjdk-amd64", "17.0.15")
    with pytest.raises(Neo4jServerError, match=r"needs Java 21 or newer; found only Java 17 .*"
                       r"java-17-openjdk.*MIKO_JAVA_HOME"):
        find_java()
    monkeypatch.setenv("JAVA_HOME", str(old))
    with pytest.raises(Neo4jServerError, match="JAVA_HOME"):
        find_java()


def test_miko_java_home_is_obeyed_or_refused(no_java: Path, tmp_path: Path) -> None:
    fake_jdk(no_java, "temurin-25", "25.0.3")
    pinned = fake_jdk(tmp_path, "pinned", "21.0.8")
    assert find_java(pinned).home == pinned.resolve()
    with pytest.raises(Neo4jServerError, match=r"MIKO_JAVA_HOME=.* is Java 17"):
        find_java(fake_jdk(tmp_path, "too-old", "17.0.1"))
    with pytest.raises(Neo4jServerError, match="has no bin/java"):
        find_java(tmp_path / "nowhere")


def test_a_broken_miko_java_home_is_refused_and_java_home_comes_from_the_runtime(
    no_java: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    broken = tmp_path / "broken"
    (broken / "bin").mkdir(parents=True)
    (broken / "bin" / "java").write_text("#!/bin/sh\nexit 1\n")
    (broken / "bin" / "java").chmod(0o755)
    fake_jdk(no_java, "temurin-25", "25.0.3")
    with pytest.raises(Neo4jServerError, match="does not run"):
        find_java(broken)
    real = fake_jdk(tmp_path, "real-jdk", "21.0.8")
    shim = tmp_path / "shims"
    shim.mkdir()
    (shim / "java").write_text(  # a version manager's shim: java.home says where the JDK is
        "#!/bin/sh\n"
        f"echo '    java.home = {real}' >&2\n"
        "echo 'openjdk version \"21.0.8\" 2026-01-01' >&2\n")
    (shim / "java").chmod(0o755)
    from kg_builder.graph.java import probe

    assert probe(shim / "java") == (21, real)
    monkeypatch.setenv("PATH", str(shim))
    runtime = find_java()
    assert runtime.home == real and runtime.java == real / "bin" / "java"
