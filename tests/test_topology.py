"""The production topology's files agree with each other and with the code.

No Docker engine is needed: the Procfile (`make serve`), compose.yaml and the Dockerfile
are parsed and held to one another, to the settings that read their variables, and to
the lock the image installs from.
"""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
import tomllib
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

REPO = Path(__file__).resolve().parents[1]
PROCFILE_PROCESSES = {"web", "worker", "beat", "sequencer"}
MIGRATE = "python manage.py migrate --no-input"


def procfile() -> dict[str, str]:
    """Each process's command, without the `exec` that only honcho's shell needs."""
    processes = {}
    for line in (REPO / "Procfile").read_text().splitlines():
        match = re.match(r"^([A-Za-z0-9_-]+):\s*(.+)$", line)
        if match:
            processes[match.group(1)] = match.group(2).removeprefix("exec ")
    return processes


def compose() -> dict[str, Any]:
    return dict(yaml.safe_load((REPO / "compose.yaml").read_text()))


def app_services() -> dict[str, Any]:
    """The services that run the project's image (the others are PostgreSQL and Redis)."""
    return {name: s for name, s in compose()["services"].items() if "build" in s}


def names_read_by_the_code() -> set[str]:
    """Environment variables config/settings.py and config/gunicorn.conf.py read."""
    settings = (REPO / "config" / "settings.py").read_text()
    gunicorn = (REPO / "config" / "gunicorn.conf.py").read_text()
    return (set(re.findall(r'env(?:\.\w+)?\(\s*"([A-Z0-9_]+)"', settings))
            | set(re.findall(r'_secret\("([A-Z0-9_]+)"\)', settings))
            | set(re.findall(r'os\.environ\.get\("([A-Z0-9_]+)"', gunicorn)))


def runtime_requirements() -> str:
    """What the Dockerfile's build stage installs (its own command line)."""
    return subprocess.run(
        [sys.executable, ".ci/runtime_requirements.py", "pyproject.toml",
         "requirements-dev.lock"],
        cwd=REPO, check=True, capture_output=True, text=True, timeout=60,
    ).stdout


def pinned_names(requirements: str) -> set[str]:
    return {canonicalize_name(line.split("==")[0]) for line in requirements.splitlines()
            if "==" in line}


def dockerfile_instructions() -> list[tuple[str, str]]:
    text = (REPO / "Dockerfile").read_text().replace("\\\n", " ")
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1])
            for line in text.splitlines() if line.strip() and not line.startswith("#")]


# --- Procfile, compose and make serve run the same processes -----------------------


def test_the_procfile_names_the_four_processes() -> None:
    assert set(procfile()) == PROCFILE_PROCESSES
    # The sequencer loops: `make serve` and compose keep it running beside beat.
    assert procfile()["sequencer"] == "python manage.py log_sequencer --loop"


def test_compose_runs_each_procfile_process_with_the_same_command() -> None:
    services = app_services()
    assert set(services) == PROCFILE_PROCESSES | {"migrate"}
    for name, command in procfile().items():
        assert services[name]["command"] == command, name


def test_migrations_run_once_before_the_processes_in_compose_and_in_make_serve() -> None:
    services = app_services()
    assert services["migrate"]["command"] == MIGRATE
    assert services["migrate"]["restart"] == "no"
    for name in PROCFILE_PROCESSES:
        depends = services[name]["depends_on"]
        assert depends["migrate"] == {"condition": "service_completed_successfully"}, name
        assert depends["db"] == depends["redis"] == {"condition": "service_healthy"}, name
    makefile = (REPO / "Makefile").read_text()
    recipe = re.search(r"^serve:.*?\n((?:\t.*\n)+)", makefile, re.MULTILINE)
    assert recipe is not None
    steps = recipe.group(1)
    assert MIGRATE in steps
    assert steps.index(MIGRATE) < steps.index("honcho start") < steps.index("-f Procfile")


def test_compose_sets_only_variables_the_settings_read() -> None:
    read = names_read_by_the_code()
    for name, service in app_services().items():
        unknown = set(service["environment"]) - read
        assert not unknown, f"{name} sets variables nothing reads: {sorted(unknown)}"


def test_compose_requires_every_mandatory_secret_and_production_mode() -> None:
    text = (REPO / "compose.yaml").read_text()
    settings = (REPO / "config" / "settings.py").read_text()
    mandatory = set(re.findall(r'_secret\("([A-Z0-9_]+)"\)', settings))
    assert mandatory >= {"SECRET_KEY", "ESCROW_SERVICE_SECRET", "ESCROW_LOG_SIGNING_KEY"}
    for name in mandatory | {"ALLOWED_HOSTS", "POSTGRES_PASSWORD"}:
        assert f"${{{name}:?" in text, name  # interpolation fails unless it is set
    for name, service in app_services().items():
        environment = service["environment"]
        assert environment["ESCROW_ENV"] == "production", name
        assert environment["DATABASE_URL"].startswith("postgres://"), name
        assert environment["REDIS_URL"].startswith("redis://"), name
        for variable in mandatory:
            assert variable in environment, (name, variable)


def test_compose_health_checks_are_valid_commands() -> None:
    services = compose()["services"]
    for name in ("web", "worker", "db", "redis"):
        assert services[name]["healthcheck"]["test"][0] in {"CMD", "CMD-SHELL"}, name
    web = services["web"]["healthcheck"]["test"]
    assert web[1:3] == ["python", "-c"]
    compile(web[3], "web healthcheck", "exec")
    assert "/healthz/live" in web[3]
    # The web port is published on the host's loopback unless the operator says otherwise.
    assert services["web"]["ports"] == ["${ESCROW_HTTP_BIND:-127.0.0.1:8000}:8000"]


# --- the Dockerfile -------------------------------------------------------------------


def test_the_image_runs_the_procfile_web_command_as_an_unprivileged_user() -> None:
    instructions = dockerfile_instructions()
    cmd = [args for op, args in instructions if op == "CMD"]
    assert len(cmd) == 1
    assert yaml.safe_load(cmd[0]) == shlex.split(procfile()["web"])
    users = [(i, args.split(":")[0]) for i, (op, args) in enumerate(instructions)
             if op == "USER"]
    assert users
    assert users[-1][1] not in {"root", "0"}
    last_run = max(i for i, (op, _) in enumerate(instructions) if op == "RUN")
    assert users[-1][0] > last_run  # nothing runs as root after the switch
    assert sum(op == "FROM" for op, _ in instructions) == 2  # build stage, then runtime


def test_the_image_installs_the_locked_runtime_set_and_collects_static_files() -> None:
    runs = " ".join(args for op, args in dockerfile_instructions() if op == "RUN")
    assert "runtime_requirements.py pyproject.toml requirements-dev.lock > runtime.lock" in runs
    assert "pip install --require-hashes --no-deps -r runtime.lock" in runs
    assert "pip check" in runs
    assert "ESCROW_ENV=production" in runs
    assert "manage.py collectstatic --no-input" in runs
    for op, args in dockerfile_instructions():
        if op == "COPY" and not args.startswith("--from"):
            for source in args.split()[:-1]:
                assert (REPO / source).exists(), source
    ignored = (REPO / ".dockerignore").read_text().splitlines()
    assert {".git", ".venv", ".demo", ".env"} <= set(ignored)


# --- the image's dependencies ---------------------------------------------------------


def installed_closure() -> set[str]:
    """pyproject's runtime dependencies and everything they require, from the installed
    packages' own metadata (extras followed, markers evaluated)."""
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    todo = [Requirement(text) for text in project["dependencies"]]
    extras_seen: dict[str, set[str]] = {}
    while todo:
        requirement = todo.pop()
        name = canonicalize_name(requirement.name)
        if name in extras_seen and set(requirement.extras) <= extras_seen[name]:
            continue
        extras = extras_seen.setdefault(name, set())
        extras |= set(requirement.extras)
        for text in metadata.requires(requirement.name) or []:
            sub = Requirement(text)
            if sub.marker is None or any(sub.marker.evaluate({"extra": extra})
                                         for extra in extras | {""}):
                todo.append(sub)
    return set(extras_seen)


def test_the_runtime_subset_of_the_lock_is_exactly_what_the_service_requires() -> None:
    requirements = runtime_requirements()
    assert pinned_names(requirements) == installed_closure()
    assert not pinned_names(requirements) & {"pytest", "honcho", "mypy", "ruff", "playwright"}
    blocks = re.split(r"\n(?=\S)", requirements.strip())
    assert all("--hash=sha256:" in block for block in blocks)


# Blocks every installed distribution outside the image's set, then loads the service
# the way each process does.
_ONLY_RUNTIME = """
import importlib.abc, importlib.metadata, sys
allowed = set(sys.argv[1].split())
owners = importlib.metadata.packages_distributions()
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        dists = {d.lower().replace("_", "-") for d in owners.get(name.split(".")[0], [])}
        if dists and not dists & allowed:
            raise ModuleNotFoundError(f"{name} is not in the image ({sorted(dists)})")
sys.meta_path.insert(0, Block())
import os
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
import django
django.setup()
import config.urls, config.wsgi, config.celery
from django.core.management import call_command
call_command("check")
import runpy
runpy.run_path("config/gunicorn.conf.py")
print("runtime imports ok")
"""


@pytest.mark.slow
def test_the_service_loads_with_only_the_runtime_packages() -> None:
    allowed = pinned_names(runtime_requirements()) | {"identity-escrow"}
    result = subprocess.run(  # noqa: S603 - the project's own interpreter
        [sys.executable, "-c", _ONLY_RUNTIME, " ".join(sorted(allowed))],
        cwd=REPO, capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "runtime imports ok" in result.stdout
