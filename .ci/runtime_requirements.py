"""Print the runtime part of requirements-dev.lock: what the service needs to run.

The lock pins every dependency, development tools included, with its hashes. The image
(Dockerfile) must install only what `[project].dependencies` in pyproject.toml needs,
at the same versions and hashes: the packages named there and, following the lock's
`# via` notes, everything they pull in. The output keeps the lock's own lines, hashes
and all, so `pip install --require-hashes --no-deps -r` installs exactly those.

    python .ci/runtime_requirements.py pyproject.toml requirements-dev.lock
"""

from __future__ import annotations

import re
import sys
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*")


def normalise(name: str) -> str:
    # PEP 503 normalised project names.
    return re.sub(r"[-_.]+", "-", name).lower()


@dataclass
class Pin:
    name: str
    lines: list[str] = field(default_factory=list)
    parents: set[str] = field(default_factory=set)


def pins_read(lock_text: str) -> dict[str, Pin]:
    """Each pinned package: its requirement and hash lines, and what it is there `via`."""
    pins: dict[str, Pin] = {}
    current: Pin | None = None
    for line in lock_text.splitlines():
        if line and not line[0].isspace() and not line.startswith("#"):
            match = _NAME.match(line)
            if match is None:
                raise ValueError(f"unexpected lock line: {line!r}")
            current = pins[normalise(match.group())] = Pin(name=normalise(match.group()))
            current.lines.append(line)
        elif current is None or not line.strip():
            current = None if not line.strip() else current
        elif line.lstrip().startswith("--hash="):
            current.lines.append(line)
        else:
            # "# via a" on one line, or "# via" then "#   a" lines.
            note = line.strip().lstrip("#").strip()
            note = note.removeprefix("via").strip()
            if note and not note.startswith("-r "):
                current.parents.add(normalise(note.split(" (")[0]))
    return pins


def runtime_names(pyproject_text: str) -> set[str]:
    dependencies = tomllib.loads(pyproject_text)["project"]["dependencies"]
    names = set()
    for requirement in dependencies:
        match = _NAME.match(requirement)
        if match is None:
            raise ValueError(f"unexpected dependency: {requirement!r}")
        names.add(normalise(match.group()))
    return names


def runtime_requirements(pyproject_text: str, lock_text: str) -> str:
    pins = pins_read(lock_text)
    needed = runtime_names(pyproject_text)
    missing = needed - pins.keys()
    if missing:
        raise ValueError(f"not in the lock (run make lock): {', '.join(sorted(missing))}")
    grew = True
    while grew:
        more = {name for name, pin in pins.items() if name not in needed and pin.parents & needed}
        needed |= more
        grew = bool(more)
    return "".join("\n".join(pins[name].lines) + "\n" for name in sorted(needed))


if __name__ == "__main__":
    pyproject, lock = (Path(arg).read_text() for arg in sys.argv[1:3])
    sys.stdout.write(runtime_requirements(pyproject, lock))
