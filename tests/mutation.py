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
import ast
import builtins
import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Callable
from fnmatch import fnmatch
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / ".mutation"
PACKAGES = ["config", "escrow", "accounts", "legal_requests", "console"]
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
    "legal_requests/services/release/preconditions.py": ["tests/release/test_release_api.py"],
    "accounts/services.py": [
        "tests/test_auth_api.py",
        "tests/test_sign_in_limits.py",
        "tests/test_webhook_endpoints.py",
        "tests/test_credential_memory.py",
        "tests/console/test_administration.py",
        "tests/console/test_administration_pages.py",
    ],
}

# Mutants that cannot change behaviour, with the reason (docs/reliability.md lists them).
_BIG_ENDIAN = "int.to_bytes defaults to byteorder='big' since Python 3.11 (requires-python)"
_SAME_LENGTH = ("indexes and scalars are built from the same range, so zip's strict "
                "check can never fire")
_LOCKED_ROW = ("save() of every field instead of update_fields: the row was read under "
               "select_for_update in the same transaction, so the other fields are written "
               "back unchanged")
_UNDECIDED = ("approvals counted without the stage or decision filter: a request in review "
              "has decision-stage approvals only (a rejection ends it; retrospective reviews "
              "come after approval)")
_PREFETCH = ("select_related only joins ahead: the legal basis or agency loads lazily, the "
             "same row, when first read")
_SETTING_DEFINED = ("the getattr default for WEBHOOK_ALLOW_HTTP_LOOPBACK: config/settings.py "
                    "always defines the setting")
_LAST_LABEL = "rsplit with no or a larger maxsplit: [-1] is still the last label of the host"
EQUIVALENT: dict[str, str] = {
    "escrow.crypto.threshold.xǁEscrowPublicKeyǁcanonical_bytes__mutmut_18": _BIG_ENDIAN,
    "escrow.crypto.threshold.xǁEscrowPublicKeyǁcanonical_bytes__mutmut_25": _BIG_ENDIAN,
    "escrow.crypto.threshold.xǁEscrowPublicKeyǁcanonical_bytes__mutmut_32": _BIG_ENDIAN,
    "escrow.crypto.threshold.x_ceremony_run__mutmut_39": _SAME_LENGTH,
    "escrow.crypto.threshold.x_ceremony_run__mutmut_42": _SAME_LENGTH,
    "escrow.crypto.threshold.x_ceremony_run__mutmut_43": _SAME_LENGTH,
    "accounts.services.x_webhook_url_check__mutmut_39": _SETTING_DEFINED,
    "accounts.services.x_webhook_url_check__mutmut_42": _SETTING_DEFINED,
    "accounts.services.x_webhook_url_check__mutmut_45": _SETTING_DEFINED,
    "accounts.services.x_webhook_url_check__mutmut_71": _LAST_LABEL,
    "accounts.services.x_webhook_url_check__mutmut_74": _LAST_LABEL,
    "escrow.vault.services.holds.x_legal_hold_extend__mutmut_13": _LOCKED_ROW,
    "escrow.vault.services.holds.x_legal_hold_lift__mutmut_7": _LOCKED_ROW,
    "legal_requests.services.review.x_disclosure_retrospective_review__mutmut_57": (
        "`upheld` over every approval of the request, not only the retrospective ones: the "
        "decision-stage ones of an approved request are all approvals (a rejection ends it)"),
    "legal_requests.services.review.x__locked__mutmut_4": _PREFETCH,
    "legal_requests.services.review.x__locked__mutmut_5": _PREFETCH,
    "legal_requests.services.review.x_disclosure_approve__mutmut_32": _UNDECIDED,
    "legal_requests.services.review.x_disclosure_approve__mutmut_33": _UNDECIDED,
    "legal_requests.services.intake.x__refuse__mutmut_1": (
        "the default of legal_basis: its one caller, _admitted, always passes it"),
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


def _exception_classes(module: str) -> set[str]:
    """Names of the classes in `module` that derive (within it) from a built-in exception."""
    tree = ast.parse((ROOT / module).read_text())
    bases = {
        node.name: [b.id if isinstance(b, ast.Name) else getattr(b, "attr", "")
                    for b in node.bases]
        for node in ast.walk(tree) if isinstance(node, ast.ClassDef)
    }

    def is_exception(name: str, depth: int = 0) -> bool:
        builtin = getattr(builtins, name, None)
        if isinstance(builtin, type) and issubclass(builtin, BaseException):
            return True
        return depth < 10 and any(is_exception(b, depth + 1) for b in bases.get(name, ()))

    return {name for name in bases if is_exception(name)}


def _function_source(module: str, name: str) -> list[str] | None:
    """The source lines, dedented, of the function or method that mutant `name` changes."""
    found = re.search(r"\.x(?:\u01c1(\w+)\u01c1|_)(\w+?)__mutmut_\d+$", name)
    if found is None:
        return None
    owner, function = found.groups()
    tree = ast.parse((ROOT / module).read_text())
    scope: list[ast.stmt] = tree.body
    if owner is not None:
        classes = [n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == owner]
        scope = classes[0].body if classes else []
    for node in scope:
        if isinstance(node, ast.FunctionDef) and node.name == function:
            lines = (ROOT / module).read_text().splitlines()[node.lineno - 1:node.end_lineno]
            return textwrap.dedent("\n".join(lines)).splitlines()
    return None


def _within(source: list[str], line: int, spans: Callable[[ast.AST], list[ast.AST]]) -> bool:
    """True when 1-based `line` of `source` lies in one of the nodes `spans` picks out."""
    try:
        tree = ast.parse("\n".join(source))
    except SyntaxError:
        return False
    return any(
        part.lineno <= line <= (part.end_lineno or part.lineno)  # type: ignore[attr-defined]
        for node in ast.walk(tree) for part in spans(node)
    )


def _super_init_call(node: ast.AST) -> list[ast.AST]:
    """`super().__init__(...)`, whose only argument in an exception class is the message."""
    if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
            and node.func.attr == "__init__" and isinstance(node.func.value, ast.Call)
            and isinstance(node.func.value.func, ast.Name)
            and node.func.value.func.id == "super"):
        return [node]
    return []


def _raised_call_arguments(node: ast.AST) -> list[ast.AST]:
    """The positional arguments of `raise SomeError(...)`.

    A class (CapWords, PEP 8) is called, not a function that builds the exception.
    """
    if isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call):
        called = node.exc.func
        called_name = called.id if isinstance(called, ast.Name) else getattr(called, "attr", "")
        if called_name[:1].isupper():
            return list(node.exc.args)
    return []


def _message_only(work: Path, module: str, name: str) -> bool:
    """True when the mutant only rewrites the text of a raised exception's message.

    That is, the one changed line has an unchanged skeleton (strings and None blanked) and
    is a `raise` or an argument line of a multi-line `raise X(...)`; or it lies in the
    `super().__init__(...)` call of an exception class's own `__init__`, whose only
    argument is the message. Such a mutant keeps the guard, the exception type and its
    structured fields (what callers, the problem mapping and the tests rely on); it is
    counted apart, not as killed.
    """
    mutmut = Path(sys.executable).parent / "mutmut"
    diff = subprocess.run(  # noqa: S603 - fixed argv
        [str(mutmut), "show", name], cwd=work, capture_output=True, text=True, check=False,
    ).stdout.splitlines()
    removed = [line[1:] for line in diff if line.startswith("-") and not line.startswith("---")]
    added = [line[1:] for line in diff if line.startswith("+") and not line.startswith("+++")]
    if not removed or not added:
        return False

    def skeleton(lines: list[str]) -> str:
        # Adjacent literals are one message split over lines (implicit concatenation).
        blanked = re.sub(r'f?"[^"]*"|None', "MSG", " ".join(line.strip() for line in lines))
        return re.sub(r"MSG(\s+MSG)+", "MSG", blanked)

    same_skeleton = skeleton(removed) == skeleton(added)
    if same_skeleton and "raise " in removed[0]:
        return True
    # Where the changed line sits in the function: the hunk's start, then its lines.
    hunk = next((re.match(r"@@ -(\d+)", line) for line in diff if line.startswith("@@")), None)
    source = _function_source(module, name)
    if hunk is None or source is None:
        return False
    changed = int(hunk.group(1))
    for line in diff[diff.index(hunk.string) + 1:]:
        if line.startswith("-"):
            break
        changed += 1
    end = changed - 1 + len(removed)
    if [line.strip() for line in source[changed - 1:end]] != [r.strip() for r in removed]:
        return False
    mutated = [*source[:changed - 1], *added, *source[end:]]
    if same_skeleton and all(_within(source, changed + i, _raised_call_arguments)
                             for i in range(len(removed))):
        return True
    owner = re.search(r"x\u01c1(\w+)\u01c1__init____mutmut_\d+$", name)
    return (owner is not None and owner.group(1) in _exception_classes(module)
            and all(_within(source, changed + i, _super_init_call)
                    for i in range(len(removed)))
            and all(_within(mutated, changed + i, _super_init_call)
                    for i in range(len(added))))


def run_module(module: str, max_children: int, only: list[str],
               report_only: bool = False) -> dict[str, object]:
    tests = MODULES.get(module)
    if tests is None:
        raise SystemExit(f"no test selection for {module}; add it to MODULES in {__file__}")
    slug = module.removesuffix(".py").replace("/", ".")
    work = WORK / slug
    mutmut = Path(sys.executable).parent / "mutmut"
    env = dict(os.environ, MUTMUT_RUN="1")
    log = work / "run.log"
    if not report_only:
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir(parents=True)
        for name in PACKAGES + ALSO_LINK:
            (work / name).symlink_to(ROOT / name)
        (work / "pyproject.toml").write_text(_pyproject(module, tests))
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
    message_only = [m for m in survived if m not in EQUIVALENT and _message_only(work, module, m)]
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
    parser.add_argument("--report-only", action="store_true",
                        help="classify and score the last run again, without running mutmut")
    args = parser.parse_args()
    failed = False
    results = []
    for module in args.modules:
        result = run_module(module, args.max_children, args.only, args.report_only)
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
