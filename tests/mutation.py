"""Mutation testing of the crypto core and the rule-enforcing services (`make mutation`).

For each module it runs mutmut (pinned in pyproject.toml) in its own scratch directory,
.mutation/<module>/, against only the fast tests that exercise that module, with the
small, derandomized hypothesis profile "mutation" (tests/conftest.py). The source tree is
never modified: mutmut mutates copies under .mutation/<module>/mutants/.

    .venv/bin/python tests/mutation.py                      # every module in MODULES
    .venv/bin/python tests/mutation.py escrow/crypto/threshold.py
    .venv/bin/python tests/mutation.py legal_requests/services/review.py \
        --only 'legal_requests.services.review.x_disclosure_withdraw__*'

Prints, per module: mutants tried, killed, survived, message-only survivors (the mutant
only rewrites the text of a raised exception's message: guard and exception type intact),
equivalent (listed in EQUIVALENT with the reason), timeouts and other outcomes; the score
killed / (tried - equivalent) and the guard score, which also leaves out message-only
mutants. Exit status 1 when a module has a surviving mutant that is neither.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
from fnmatch import fnmatch
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / ".mutation"
PACKAGES = ["config", "escrow", "accounts", "legal_requests"]
ALSO_LINK = ["tests", "manage.py"]

# Module -> the fast tests that exercise it (no slow marker; run per mutant).
MODULES: dict[str, list[str]] = {
    "escrow/crypto/threshold.py": [
        "tests/crypto/test_threshold.py",
        "tests/crypto/test_threshold_bounds.py",
    ],
    "legal_requests/services/review.py": [
        "tests/legal/test_review_rules.py",
        "tests/legal/test_workflow.py",
        "tests/legal/test_review_api.py",
        "tests/legal/test_emergency_and_deadlines.py",
    ],
    "legal_requests/services/intake.py": [
        "tests/legal/test_intake_api.py",
        "tests/legal/test_legal_bases.py",
        "tests/legal/test_workflow.py",
    ],
    "escrow/vault/services/holds.py": ["tests/legal/test_legal_holds_api.py"],
}

# Mutants that cannot change behaviour, with the reason (docs/reliability.md lists them).
_BIG_ENDIAN = "int.to_bytes defaults to byteorder='big' since Python 3.11 (requires-python)"
_SAME_LENGTH = ("indexes and scalars are built from the same range, so zip's strict "
                "check can never fire")
EQUIVALENT: dict[str, str] = {
    "escrow.crypto.threshold.xǁEscrowPublicKeyǁcanonical_bytes__mutmut_18": _BIG_ENDIAN,
    "escrow.crypto.threshold.xǁEscrowPublicKeyǁcanonical_bytes__mutmut_25": _BIG_ENDIAN,
    "escrow.crypto.threshold.xǁEscrowPublicKeyǁcanonical_bytes__mutmut_32": _BIG_ENDIAN,
    "escrow.crypto.threshold.x_ceremony_run__mutmut_39": _SAME_LENGTH,
    "escrow.crypto.threshold.x_ceremony_run__mutmut_42": _SAME_LENGTH,
    "escrow.crypto.threshold.x_ceremony_run__mutmut_43": _SAME_LENGTH,
}


def _pyproject(module: str, tests: list[str]) -> str:
    base = (ROOT / "pyproject.toml").read_text()
    start = base.find("[tool.mutmut]")
    if start != -1:  # never expected, but do not produce a duplicate table
        base = base[:start]
    quoted = ", ".join(json.dumps(t) for t in tests)
    return base + (
        "\n[tool.mutmut]\n"
        f"source_paths = {json.dumps(PACKAGES)}\n"
        f"only_mutate = [{json.dumps(module)}]\n"
        f"also_copy = {json.dumps(ALSO_LINK)}\n"
        f"pytest_add_cli_args_test_selection = [{quoted}]\n"
        'pytest_add_cli_args = ["-p", "no:cacheprovider", "-m", "not slow", '
        '"--hypothesis-profile=mutation", "--reuse-db", "-q"]\n'
        "use_git_change_detection = false\n"
    )


def _message_only(work: Path, name: str) -> bool:
    """True when the mutant only rewrites the text of a raised exception's message.

    Such a mutant keeps the guard and the exception type (what callers, the problem
    mapping and the tests rely on); it is counted apart, not as killed.
    """
    mutmut = Path(sys.executable).parent / "mutmut"
    diff = subprocess.run(  # noqa: S603 - fixed argv
        [str(mutmut), "show", name], cwd=work, capture_output=True, text=True, check=False,
    ).stdout.splitlines()
    removed = [line[1:] for line in diff if line.startswith("-") and not line.startswith("---")]
    added = [line[1:] for line in diff if line.startswith("+") and not line.startswith("+++")]
    if len(removed) != 1 or len(added) != 1:
        return False

    def skeleton(line: str) -> str:
        return re.sub(r'f?"[^"]*"|None', "MSG", line.strip())

    return "raise " in removed[0] and skeleton(removed[0]) == skeleton(added[0])


def run_module(module: str, max_children: int, only: list[str]) -> dict[str, object]:
    tests = MODULES.get(module)
    if tests is None:
        raise SystemExit(f"no test selection for {module}; add it to MODULES in {__file__}")
    slug = module.removesuffix(".py").replace("/", ".")
    work = WORK / slug
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    for name in PACKAGES + ALSO_LINK:
        (work / name).symlink_to(ROOT / name)
    (work / "pyproject.toml").write_text(_pyproject(module, tests))
    mutmut = Path(sys.executable).parent / "mutmut"
    env = dict(os.environ, MUTMUT_RUN="1")
    log = work / "run.log"
    with log.open("w") as out:
        subprocess.run(  # noqa: S603 - fixed argv
            [str(mutmut), "run", "--max-children", str(max_children), *only],
            cwd=work, env=env, stdout=out, stderr=subprocess.STDOUT, check=False,
        )
        listing = subprocess.run(  # noqa: S603 - fixed argv
            [str(mutmut), "results", "--all", "true"],
            cwd=work, env=env, capture_output=True, text=True, check=False,
        )
    by_status: dict[str, list[str]] = {}
    for line in listing.stdout.splitlines():
        name, sep, status = line.strip().rpartition(": ")
        if sep:
            by_status.setdefault(status, []).append(name)
    if only:
        by_status = {k: [m for m in v if any(fnmatch(m, p) for p in only)]
                     for k, v in by_status.items()}
    by_status = {k: v for k, v in by_status.items() if v}
    tried = sum(len(v) for v in by_status.values())
    if tried == 0:
        sys.stdout.write(log.read_text()[-4000:])
        raise SystemExit(f"{module}: mutmut produced no results (log: {log})")
    survived = by_status.get("survived", []) + by_status.get("no tests", [])
    equivalent = [m for m in survived if m in EQUIVALENT]
    message_only = [m for m in survived if m not in EQUIVALENT and _message_only(work, m)]
    surviving = [m for m in survived if m not in EQUIVALENT and m not in message_only]
    killed = len(by_status.get("killed", [])) + len(by_status.get("caught by type check", []))
    other = {k: len(v) for k, v in by_status.items()
             if k not in ("killed", "survived", "no tests", "caught by type check")}
    denominator = tried - len(equivalent)
    score = killed / denominator if denominator else 1.0
    guards = denominator - len(message_only)
    guard_score = killed / guards if guards else 1.0
    return {"module": module, "tried": tried, "killed": killed, "survived": len(surviving),
            "message": len(message_only), "equivalent": len(equivalent), "other": other,
            "score": score, "guard_score": guard_score,
            "surviving": surviving, "log": str(log)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("modules", nargs="*", default=list(MODULES))
    parser.add_argument("--max-children", type=int, default=1,
                        help="parallel mutant runs; keep 1 for modules whose tests use the "
                             "database (they share one test database)")
    parser.add_argument("--only", action="append", default=[], metavar="GLOB",
                        help="mutant names to run, e.g. "
                             "'legal_requests.services.review.x_disclosure_withdraw__*'")
    args = parser.parse_args()
    failed = False
    results = []
    for module in args.modules:
        result = run_module(module, args.max_children, args.only)
        results.append(result)
        for name in result["surviving"]:  # type: ignore[attr-defined]
            print(f"  survived: {name}   (.mutation/.../mutmut show {name})")
        failed = failed or bool(result["survived"])
    print(f"{'module':<36} {'tried':>6} {'killed':>7} {'survived':>9} {'message':>8} "
          f"{'equiv.':>7} {'score':>7} {'guards':>7}  other")
    for r in results:
        print(f"{r['module']:<36} {r['tried']:>6} {r['killed']:>7} {r['survived']:>9} "
              f"{r['message']:>8} {r['equivalent']:>7} {r['score']:>7.1%} "
              f"{r['guard_score']:>7.1%}  {r['other'] or ''}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
