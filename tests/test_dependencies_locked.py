"""The lock file `make demo` and `make test` install from matches pyproject.toml.

Both commands install `requirements-dev.lock` with `--require-hashes`, so a dependency
added to pyproject.toml without `make lock` would be missing, and one whose range
moved past its pin would be installed at a version the project no longer accepts.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parent.parent


def _pins() -> dict[str, str]:
    pins: dict[str, str] = {}
    for line in (ROOT / "requirements-dev.lock").read_text().splitlines():
        if line and not line[0].isspace() and not line.startswith("#") and "==" in line:
            name, _, rest = line.partition("==")
            pins[canonicalize_name(name)] = rest.split()[0].rstrip("\\").strip()
    return pins


def _declared() -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    declared = [*project["dependencies"], *project["optional-dependencies"]["dev"]]
    return [Requirement(text) for text in declared]


def test_every_declared_dependency_is_pinned_within_its_range() -> None:
    pins = _pins()
    for requirement in _declared():
        name = canonicalize_name(requirement.name)
        assert name in pins, f"{requirement.name} is not in requirements-dev.lock: run make lock"
        assert requirement.specifier.contains(pins[name], prereleases=True), (
            f"{requirement.name}=={pins[name]} is outside {requirement.specifier}: run make lock"
        )


def test_every_pin_carries_hashes() -> None:
    text = (ROOT / "requirements-dev.lock").read_text()
    blocks = [b for b in text.split("\n") if b and not b[0].isspace() and "==" in b]
    assert blocks
    assert text.count("--hash=sha256:") >= len(blocks)
    for block in blocks:
        assert block.rstrip().endswith("\\"), f"{block.split()[0]} has no hash"
