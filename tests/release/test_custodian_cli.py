"""The custodian tool, run as separate processes against a live server, as custodians would."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from escrow.log.keys import log_identity
from legal_requests.models import CustodianResponse, Release
from tests.release.conftest import (
    PASSWORD,
    RELEASE_TEST_APPS,
    SHARE_PASSPHRASE,
    World,
    approved_request,
    enrol,
    world_build,
)

pytestmark = pytest.mark.django_db(transaction=True, available_apps=RELEASE_TEST_APPS)


@pytest.fixture
def cli_world(live_server: Any, eager_tasks: Any, patient_log: None) -> World:
    return world_build(share_files=True)


def run_cli(
    *args: str, server: str, token: str | None = None, stdin: str = "", timeout: float = 120,
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ESCROW_CUSTODIAN")}
    if token is not None:
        env["ESCROW_CUSTODIAN_TOKEN"] = token
    return subprocess.run(  # noqa: S603 - our own tool, fixed arguments
        [sys.executable, "-m", "escrow.custodian.cli", "--server", server, *args],
        input=stdin, capture_output=True, text=True, env=env, timeout=timeout, check=False,
    )


def share_paths(world: World, tmp_path: Path, name: str) -> tuple[str, str]:
    share = tmp_path / f"{name}.share.json"
    share.write_bytes(world.share_files[name])
    passphrase = tmp_path / f"{name}.passphrase"
    passphrase.write_text(SHARE_PASSPHRASE + "\n")
    return str(share), str(passphrase)


def release_args(world: World, tmp_path: Path, name: str, request_id: str) -> list[str]:
    share, passphrase = share_paths(world, tmp_path, name)
    # No witness runs beside these tests (test_custodian_witnesses.py has them).
    return ["release", request_id, "--share", share, "--passphrase-file", passphrase,
            "--log-key", log_identity().verifier_key, "--no-witness", "--yes"]


def test_three_custodians_release_with_their_share_files(
    cli_world: World, live_server: Any, tmp_path: Path
) -> None:
    world = cli_world
    request = approved_request(world, [enrol(world, 1), enrol(world, 2)])
    outputs = []
    for name in ("frank", "grace", "heidi"):
        done = run_cli(*release_args(world, tmp_path, name, str(request.pk)),
                       server=live_server.url, token=world.staff_token(world.custodians[name]))
        assert done.returncode == 0, done.stderr
        outputs.append(done.stdout)
    assert "Fields:            given_name, family_name, email" in outputs[0]
    assert "Pseudonyms:        2" in outputs[0]
    assert f"Request:           {request.reference}" in outputs[0]
    assert "Partial accepted: 1 of 3" in outputs[0]
    assert "the release is being prepared" in outputs[2]
    request.refresh_from_db()
    assert request.state == "released"
    assert Release.objects.filter(request=request).exists()


def test_signs_in_with_password_and_one_time_code_and_asks_before_sending(
    cli_world: World, live_server: Any, tmp_path: Path
) -> None:
    from django_otp.oath import totp
    from django_otp.plugins.otp_totp.models import TOTPDevice

    world = cli_world
    request = approved_request(world, [enrol(world)])
    share, _ = share_paths(world, tmp_path, "ivan")
    code = f"{totp(TOTPDevice.objects.get(user=world.custodians['ivan']).bin_key):06d}"
    args = ["--username", "ivan", "release", str(request.pk), "--share", share,
            "--log-key", log_identity().verifier_key, "--no-witness"]
    done = run_cli(*args, server=live_server.url,
                   stdin=f"{PASSWORD}\n{code}\ny\n{SHARE_PASSPHRASE}\n")
    assert done.returncode == 0, done.stderr
    assert CustodianResponse.objects.get().custodian_index == 4


def test_declining_sends_nothing(cli_world: World, live_server: Any, tmp_path: Path) -> None:
    world = cli_world
    request = approved_request(world, [enrol(world)])
    share, _ = share_paths(world, tmp_path, "judy")
    declined = run_cli("release", str(request.pk), "--share", share,
                       "--log-key", log_identity().verifier_key, "--no-witness",
                       server=live_server.url,
                       token=world.staff_token(world.custodians["judy"]), stdin="n\n")
    assert declined.returncode == 3, declined.stderr
    assert "Nothing was sent." in declined.stdout
    assert not CustodianResponse.objects.exists()


def test_a_wrong_log_key_stops_the_tool_before_anything_is_sent(
    cli_world: World, live_server: Any, tmp_path: Path
) -> None:
    from escrow.crypto.note import signer_key_generate

    world = cli_world
    request = approved_request(world, [enrol(world)])
    _, impostor_key = signer_key_generate(name=log_identity().origin)
    args = release_args(world, tmp_path, "frank", str(request.pk))
    args[args.index("--log-key") + 1] = impostor_key
    token = world.staff_token(world.custodians["frank"])
    done = run_cli(*args, server=live_server.url, token=token)
    assert done.returncode == 1
    assert "does NOT verify against your log key" in done.stderr
    assert not CustodianResponse.objects.exists()


def test_a_wrong_passphrase_is_reported(cli_world: World, live_server: Any,
                                        tmp_path: Path) -> None:
    world = cli_world
    request = approved_request(world, [enrol(world)])
    args = release_args(world, tmp_path, "frank", str(request.pk))
    Path(args[args.index("--passphrase-file") + 1]).write_text("not the passphrase at all\n")
    token = world.staff_token(world.custodians["frank"])
    done = run_cli(*args, server=live_server.url, token=token)
    assert done.returncode == 1
    assert "passphrase does not open" in done.stderr
    assert not CustodianResponse.objects.exists()


def test_another_custodians_share_file_is_refused(
    cli_world: World, live_server: Any, tmp_path: Path
) -> None:
    world = cli_world
    request = approved_request(world, [enrol(world)])
    # grace signs in but uses frank's share file (index 1; she holds 2).
    done = run_cli(*release_args(world, tmp_path, "frank", str(request.pk)),
                   server=live_server.url, token=world.staff_token(world.custodians["grace"]))
    assert done.returncode == 1
    assert "your share is index 1" in done.stderr
    assert not CustodianResponse.objects.exists()


def test_an_approver_is_told_why_they_cannot_take_part(
    cli_world: World, live_server: Any, tmp_path: Path
) -> None:
    world = cli_world
    request = approved_request(world, [enrol(world)])
    done = run_cli(*release_args(world, tmp_path, "frank", str(request.pk)),
                   server=live_server.url, token=world.staff_token(world.bob))
    assert done.returncode == 1
    assert "403" in done.stderr


def test_refuse_with_a_reason(cli_world: World, live_server: Any) -> None:
    world = cli_world
    request = approved_request(world, [enrol(world)])
    done = run_cli("refuse", str(request.pk), "--reason", "The order is for another force.",
                   server=live_server.url, token=world.staff_token(world.custodians["judy"]))
    assert done.returncode == 0, done.stderr
    response = CustodianResponse.objects.get()
    assert response.partial is None
    assert "another force" in response.refusal_reason
    again = run_cli("refuse", str(request.pk), "--reason", "again", server=live_server.url,
                    token=world.staff_token(world.custodians["judy"]))
    assert again.returncode == 1
    assert "already_answered" in again.stderr


def test_show_verifies_and_uploads_nothing(cli_world: World, live_server: Any) -> None:
    world = cli_world
    request = approved_request(world, [enrol(world)], fields=["email"])
    done = run_cli("show", str(request.pk), "--log-key", log_identity().verifier_key,
                   "--no-witness", server=live_server.url,
                   token=world.staff_token(world.custodians["frank"]))
    assert done.returncode == 0, done.stderr
    assert "Fields:            email" in done.stdout
    assert "Checked: the approval is entry" in done.stdout
    assert not CustodianResponse.objects.exists()


def test_verify_share(cli_world: World, tmp_path: Path) -> None:
    world = cli_world
    share, passphrase = share_paths(world, tmp_path, "heidi")
    fingerprint = world.keypair.public_key.fingerprint().hex()
    done = run_cli("verify-share", share, "--passphrase-file", passphrase,
                   "--fingerprint", fingerprint, server="http://127.0.0.1:1")
    assert done.returncode == 0, done.stderr
    assert "Share 3 of 5 (threshold 3)" in done.stdout
    assert "Feldman check passed" in done.stdout
    wrong = run_cli("verify-share", share, "--passphrase-file", passphrase,
                    "--fingerprint", "00" * 32, server="http://127.0.0.1:1")
    assert wrong.returncode == 1
    assert "NOT the one" in wrong.stderr
    # A share file whose share was swapped fails the check (or the file's authentication).
    document = json.loads(world.share_files["heidi"])
    document["index"] = 4
    tampered = tmp_path / "tampered.json"
    tampered.write_text(json.dumps(document))
    bad = run_cli("verify-share", str(tampered), "--passphrase-file", passphrase,
                  server="http://127.0.0.1:1")
    assert bad.returncode == 1


def test_the_tool_answers_for_the_epoch_of_the_share_file_it_is_given(
    cli_world: World, live_server: Any, tmp_path: Path
) -> None:
    from escrow.crypto.sharefile import share_file_seal
    from tests.release.conftest import TEST_KDF
    from tests.release.test_epochs import Rotation

    world = cli_world
    old = enrol(world, 1)
    rotation = Rotation(world)  # grace holds share 2 of both epochs
    request = approved_request(world, [old, enrol(world, 2)])
    world.share_files["grace"] = share_file_seal(
        share=rotation.share("grace"), public_key=rotation.public_key,
        custodian_label="grace", passphrase=SHARE_PASSPHRASE, kdf_params=TEST_KDF,
    )
    # Unanswered, the server's default would be epoch 1; the epoch-2 file answers epoch 2.
    done = run_cli(*release_args(world, tmp_path, "grace", str(request.pk)),
                   server=live_server.url, token=world.staff_token(world.custodians["grace"]))
    assert done.returncode == 0, done.stderr
    assert "Partial accepted: 1 of 5" in done.stdout
    response = CustodianResponse.objects.get(request=request)
    assert (response.key_epoch, response.custodian_index) == (rotation.row.epoch, 2)
