"""The README's set-up commands are the ones CI runs, and the code is lint-clean."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def readme_command(tag: str) -> str:
    text = (REPO / "README.md").read_text()
    match = re.search(rf"<!-- setup:{tag} -->\s*```bash\n(.*?)\n```", text, re.S)
    assert match, f"README has no <!-- setup:{tag} --> block"
    lines = [line for line in match.group(1).splitlines() if line.strip()]
    assert len(lines) == 1, f"the {tag} set-up must be one command, found {lines}"
    return lines[0].strip()


def ci_commands() -> list[str]:
    lines = (REPO / ".ci" / "run").read_text().splitlines()
    skip = ("#", "set ", "cd ", "export ")
    return [line.strip() for line in lines if line.strip() and not line.startswith(skip)]


def test_readme_has_two_setup_commands_and_ci_runs_exactly_them():
    install_and_train = readme_command("train")
    test = readme_command("test")
    assert "pip install" in install_and_train and install_and_train.endswith("python train.py")
    assert "pytest" in test
    assert ci_commands() == [install_and_train, test]


def test_ruff_is_clean():
    result = subprocess.run([sys.executable, "-m", "ruff", "check", str(REPO)],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
