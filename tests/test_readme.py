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
    skip = ("#", "set ", "cd ", "export ", "command -v ")  # the last: optional system packages
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


def _slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to '-'."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def test_readme_is_a_manual_and_its_links_and_the_docs_links_resolve():
    readme = REPO / "README.md"
    assert len(readme.read_text().splitlines()) <= 300  # studies live in docs/
    pages = [readme, *sorted((REPO / "docs").rglob("*.md"))]
    checked = 0
    for page in pages:
        text = page.read_text()
        for target in re.findall(r"\]\(([^)\s]+)\)", text):
            if re.match(r"[a-z]+://", target):
                continue
            path_part, _, anchor = target.partition("#")
            linked = (page.parent / path_part).resolve() if path_part else page
            assert linked.exists(), f"{page.relative_to(REPO)} links to missing {target}"
            if anchor and linked.suffix == ".md":
                slugs = {_slug(h) for h in re.findall(r"^#+ (.+)$", linked.read_text(), re.M)}
                assert anchor in slugs, f"{page.relative_to(REPO)}: no heading #{anchor}"
            checked += 1
    assert checked >= 5


def test_the_readme_package_table_matches_the_tree():
    text = (REPO / "README.md").read_text()
    named = set(re.findall(r"^\| `(wavedil\.[a-z_]+)` \|", text, re.M))
    tree = {f"wavedil.{p.stem if p.is_file() else p.name}"
            for p in (REPO / "wavedil").iterdir()
            if (p.is_dir() and (p / "__init__.py").exists())
            or (p.suffix == ".py" and p.stem not in ("__init__", "config", "spec", "plots"))}
    assert named == tree
