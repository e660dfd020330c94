"""The release workflow: valid, pinned, linted; the scripts it runs exist and pass shellcheck."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import yaml

from tests.installers.common import INSTALLERS, ROOT, WORKFLOW, _tool

# -- the release workflow ------------------------------------------------------------------------------------


def _workflow() -> dict[object, object]:
    data = yaml.safe_load(WORKFLOW.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def test_workflow_builds_every_system_on_tags_and_by_hand() -> None:
    workflow = _workflow()
    triggers = workflow.get("on", workflow.get(True))  # YAML 1.1 reads the bare key `on` as true
    assert isinstance(triggers, dict)
    assert triggers["push"] == {"tags": ["v*"]}
    assert "workflow_dispatch" in triggers
    matrix = workflow["jobs"]["build"]["strategy"]["matrix"]["include"]
    by_platform = {entry["platform"]: entry for entry in matrix}
    assert {entry["os"] for entry in matrix} == {"windows-2022", "macos-14", "ubuntu-22.04"}
    windows = by_platform["windows"]["cmake_args"].split()
    for option in ("GGML_BACKEND_DL=ON", "GGML_CPU_ALL_VARIANTS=ON", "GGML_CUDA=ON", "GGML_VULKAN=ON"):
        assert f"-D{option}" in windows
    assert {"cuda", "vulkan"} <= set(by_platform["windows"]["backends"].split())
    assert "metal" in by_platform["macos"]["backends"].split()
    assert by_platform["linux"]["backends"].split() == ["cpu"]


def test_workflow_actions_are_pinned_to_commits() -> None:
    uses = re.findall(r"^\s*(?:-\s+)?uses:\s*(\S+)(.*)$", WORKFLOW.read_text(encoding="utf-8"), re.MULTILINE)
    assert len(uses) >= 6
    for action, comment in uses:
        assert re.fullmatch(r"[\w.-]+/[\w.-]+@[0-9a-f]{40}", action), f"{action} is not pinned to a commit"
        assert re.fullmatch(r"\s*# v[\d.]+", comment), f"{action} does not say which version it is"


def test_workflow_runs_only_scripts_that_exist() -> None:
    text = WORKFLOW.read_text(encoding="utf-8")
    scripts = set(re.findall(r"installers[/\\][\w/\\.-]+\.(?:sh|py|ps1|iss)", text))
    assert len(scripts) >= 6
    for script in scripts:
        path = ROOT / script.replace("\\", "/")
        assert path.is_file(), f"the workflow runs {script}, which does not exist"
        if path.suffix == ".sh" and sys.platform != "win32":
            assert os.access(path, os.X_OK), f"{script} is not executable"
    assert "python bootstrap.py test" in text
    assert "python bootstrap.py package" in text


def test_actionlint_finds_nothing_in_the_workflow(tmp_path: Path) -> None:
    actionlint, shellcheck = _tool("actionlint"), _tool("shellcheck")
    command = [actionlint, "-color=false", "-shellcheck", shellcheck, "-pyflakes", ""]
    result = subprocess.run([*command, str(WORKFLOW)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout == ""

    # The same command does see mistakes, shellcheck's included: a workflow with two of them is refused.
    bad = tmp_path / ".github" / "workflows" / "bad.yml"
    bad.parent.mkdir(parents=True)
    bad.write_text(
        "on: push\njobs:\n  a:\n    runs-on: ubuntu-22.04\n    steps:\n"
        "      - run: echo $UNQUOTED\n      - uses: actions/checkout@v4\n        with:\n          no-such-input: 1\n"
    )
    result = subprocess.run([*command, str(bad)], capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert result.returncode == 1
    assert "SC2086" in result.stdout
    assert "no-such-input" in result.stdout


def test_shell_scripts_pass_shellcheck() -> None:
    scripts = [*sorted(INSTALLERS.rglob("*.sh")), INSTALLERS / "linux" / "moss-open"]
    names = {path.name for path in scripts}
    assert {"make_tarball.sh", "install.sh", "make_dmg.sh", "sign_and_notarize.sh", "moss-open"} <= names
    result = subprocess.run([_tool("shellcheck"), *map(str, scripts)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
