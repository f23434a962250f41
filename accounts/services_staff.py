"""Administering staff accounts: creation, roles, resets, disabling; each a log event.

No one person acts as two (DESIGN.md guarantee 5). An administrator who could set an
approver's password or second factor alone could sign in as that approver and supply a
second approval; one who could grant a privileged role alone could make a second
approver, custodian or administrator they control. So those changes are *proposed* by
one administrator and made only when a second, different administrator approves
(`StaffChange`); neither may be the account's owner. Executing a reset revokes the
owner's API tokens and console sessions and tells them by email, so an unexpected
reset is noticed. Administrators never hold a role that acts on a disclosure
(accounts/roles.py), and the review and release services refuse them too.

A new password goes only to the account's owner, sealed in the outbox (StaffMail):
neither administrator ever sees it. A reset second factor is enrolled afresh by the
owner at their next sign-in.
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from django.conf import settings
from django.contrib.auth.hashers import make_password
from django.contrib.auth.models import User
from django.contrib.sessions.models import Session
from django.core.mail import EmailMessage
from django.db import IntegrityError, transaction
from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.models import StaffChange, StaffMail, StaffToken
from accounts.roles import PRIVILEGED_ROLES, Role, roles_check
from accounts.selectors import user_is_administrator
from accounts.services import staff_role_set
from escrow.crypto.sealing import BlobUnsealError, blob_seal, blob_unseal
from escrow.jobs import task_enqueue_on_commit
from escrow.keys import service_key
from escrow.log.events import Actor, event_record

logger = logging.getLogger("accounts.staff")

STAFF_CHANGE_TTL = timedelta(hours=24)
STAFF_MAIL_SEND_TASK = "accounts.staff_mail_send"
STAFF_MAIL_MAX_ATTEMPTS = 8
_SECRET_MARKER = "{temporary_password}"  # noqa: S105 - a placeholder
_SECRET_PURPOSE = "staff-mail-secret"  # noqa: S105 - a key label


class AdministratorRequired(Exception):
    """Only an administrator may change staff accounts."""


class SecondAdministratorRequired(Exception):
    """This change needs a proposal and a second administrator's approval."""


class StaffChangeRefused(Exception):
    """The proposal cannot be made or approved by this person, or not now."""


@dataclass(frozen=True)
class CredentialsRevoked:
    tokens: int
    sessions: int


def _admin_actor(user: User) -> Actor:
    if not user_is_administrator(user):
        raise AdministratorRequired("only an administrator may change staff accounts")
    return Actor.for_staff(user.pk, str(Role.ADMINISTRATOR))


def _event(event_type: str, actor: Actor, target: User, **details: Any) -> None:
    # Accounts by number only: the log is public, and a username can be a person's name.
    event_record(event_type=event_type, actor=actor, object_ref=f"staff:{target.pk}",
                 details=details)


# --- Accounts and roles --------------------------------------------------------------


@transaction.atomic
def staff_account_create(*, username: str, email: str, administrator: User) -> User:
    """An account with no role and no second factor; a temporary password is mailed to
    `email` only. Roles are granted afterwards (privileged ones by two administrators)."""
    actor = _admin_actor(administrator)
    user = User.objects.create_user(username=username, email=email, password=None)
    password = secrets.token_urlsafe(15)
    # Set directly: the password validator refuses nothing here, and set_password would
    # report a change made outside these services (accounts/passwords.py).
    user.password = make_password(password)
    user.save(update_fields=["password"])
    _event("staff.created", actor, user, roles=[], channel="console")
    _mail_queue(user, kind="account_created", subject="Your identity escrow staff account",
                body="An administrator created a staff account for you.\n\n"
                     f"Username: {username}\nTemporary password: {_SECRET_MARKER}\n\n"
                     "At your first sign-in you will set up an authenticator app.",
                secret=password)
    return user


def staff_role_grant(*, user: User, role: Role, administrator: User) -> None:
    """Grant an unprivileged role (intake officer, auditor) at once; a privileged one
    only through `staff_change_propose` and a second administrator."""
    actor = _admin_actor(administrator)
    if role in PRIVILEGED_ROLES:
        raise SecondAdministratorRequired(
            f"granting {role} needs a second administrator's approval: propose it")
    if user.pk == administrator.pk:
        raise StaffChangeRefused("you cannot change your own roles")
    staff_role_set(user=user, role=role, granted=True, actor=actor)


def staff_role_revoke(*, user: User, role: Role, administrator: User) -> None:
    """Taking a role away gives no one power, so one administrator may do it."""
    actor = _admin_actor(administrator)
    staff_role_set(user=user, role=role, granted=False, actor=actor)


def staff_credentials_revoke(*, user: User) -> CredentialsRevoked:
    """End every API token and console session of `user` (inside the caller's
    transaction)."""
    now = timezone.now()
    tokens = StaffToken.objects.filter(user=user, revoked_at__isnull=True).update(
        revoked_at=now)
    # Database sessions (settings: the default engine) hold the user id only encoded.
    ended = [
        session.pk for session in Session.objects.filter(expire_date__gt=now).iterator()
        if str(session.get_decoded().get("_auth_user_id")) == str(user.pk)
    ]
    Session.objects.filter(pk__in=ended).delete()
    return CredentialsRevoked(tokens=tokens, sessions=len(ended))


@transaction.atomic
def staff_account_disable(*, user: User, administrator: User) -> User:
    """Stop an account signing in and end its tokens and sessions (one administrator:
    disabling gives no one power)."""
    actor = _admin_actor(administrator)
    if user.pk == administrator.pk:
        raise StaffChangeRefused("you cannot disable your own account")
    locked = User.objects.select_for_update().get(pk=user.pk)
    if not locked.is_active:
        return locked
    locked.is_active = False
    locked.save(update_fields=["is_active"])
    revoked = staff_credentials_revoke(user=locked)
    _event("staff.disabled", actor, locked, tokens_revoked=revoked.tokens,
           sessions_ended=revoked.sessions)
    _mail_queue(locked, kind="account_disabled", subject="Your staff account was disabled",
                body="An administrator disabled your identity escrow staff account. "
                     "If you did not expect this, tell your security team.")
    return locked


# --- Two-administrator changes --------------------------------------------------------


@transaction.atomic
def staff_change_propose(
    *, kind: StaffChange.Kind, target: User, administrator: User, role: Role | None = None
) -> StaffChange:
    actor = _admin_actor(administrator)
    if target.pk == administrator.pk:
        raise StaffChangeRefused("a change to your own account is proposed by another "
                                 "administrator")
    if (kind == StaffChange.Kind.ROLE_GRANT) != (role is not None):
        raise ValueError("a role grant names its role, and only a role grant does")
    if role is not None:
        held = set(target.groups.values_list("name", flat=True)) | {str(role)}
        roles_check(held, superuser=target.is_superuser)
    try:
        with transaction.atomic():
            change = StaffChange.objects.create(
                kind=kind, target=target, role=str(role or ""), proposed_by=administrator,
                expires_at=timezone.now() + STAFF_CHANGE_TTL)
    except IntegrityError:
        raise StaffChangeRefused("the same change is already waiting for approval") from None
    _event("staff.change_proposed", actor, target, change=str(change.pk), kind=str(kind),
           role=change.role)
    return change


def _locked_open_change(change: StaffChange, now: datetime) -> StaffChange:
    locked = StaffChange.objects.select_for_update().get(pk=change.pk)
    if locked.state != StaffChange.State.PROPOSED:
        raise StaffChangeRefused(f"this change is already {locked.state}")
    if locked.expires_at <= now:
        raise StaffChangeRefused("this proposal has expired; propose it again")
    return locked


@transaction.atomic
def staff_change_approve(*, change: StaffChange, administrator: User) -> StaffChange:
    """The second administrator's approval; the change is made in the same transaction."""
    actor = _admin_actor(administrator)
    now = timezone.now()
    locked = _locked_open_change(change, now)
    if locked.proposed_by_id == administrator.pk:
        raise StaffChangeRefused("a second administrator must approve your proposal")
    if locked.target_id == administrator.pk:
        raise StaffChangeRefused("you cannot approve a change to your own account")
    target = User.objects.select_for_update().get(pk=locked.target_id)
    _event("staff.change_approved", actor, target, change=str(locked.pk),
           kind=locked.kind, role=locked.role, proposed_by=f"staff:{locked.proposed_by_id}")
    _execute(locked, target, actor)
    locked.state = StaffChange.State.EXECUTED
    locked.decided_by = administrator
    locked.decided_at = now
    locked.save(update_fields=["state", "decided_by", "decided_at"])
    return locked


@transaction.atomic
def staff_change_cancel(*, change: StaffChange, administrator: User) -> StaffChange:
    actor = _admin_actor(administrator)
    locked = StaffChange.objects.select_for_update().get(pk=change.pk)
    if locked.state != StaffChange.State.PROPOSED:
        raise StaffChangeRefused(f"this change is already {locked.state}")
    locked.state = StaffChange.State.CANCELLED
    locked.decided_by = administrator
    locked.decided_at = timezone.now()
    locked.save(update_fields=["state", "decided_by", "decided_at"])
    _event("staff.change_cancelled", actor, locked.target, change=str(locked.pk),
           kind=locked.kind)
    return locked


def _execute(change: StaffChange, target: User, actor: Actor) -> None:
    if change.kind == StaffChange.Kind.ROLE_GRANT:
        staff_role_set(user=target, role=Role(change.role), granted=True, actor=actor)
        return
    revoked = staff_credentials_revoke(user=target)
    if change.kind == StaffChange.Kind.PASSWORD_RESET:
        password = secrets.token_urlsafe(15)
        target.password = make_password(password)
        target.save(update_fields=["password"])
        _event("staff.password_reset", actor, target, change=str(change.pk),
               tokens_revoked=revoked.tokens, sessions_ended=revoked.sessions)
        _mail_queue(target, kind="password_reset", subject="Your staff password was reset",
                    body="Two administrators reset your identity escrow password; your "
                         "sessions and API tokens were ended.\n\n"
                         f"Temporary password: {_SECRET_MARKER}\n\n"
                         "If you did not ask for this, tell your security team now.",
                    secret=password)
        return
    devices = TOTPDevice.objects.filter(user=target).delete()[0]
    _event("staff.second_factor_reset", actor, target, change=str(change.pk),
           devices_removed=devices, tokens_revoked=revoked.tokens,
           sessions_ended=revoked.sessions)
    _mail_queue(target, kind="second_factor_reset",
                subject="Your staff second factor was reset",
                body="Two administrators reset your identity escrow second factor; your "
                     "sessions and API tokens were ended. At your next sign-in you will "
                     "set up your authenticator app again.\n\n"
                     "If you did not ask for this, tell your security team now.")


# --- Outbox ---------------------------------------------------------------------------


def _secret_aad(mail_id: UUID) -> bytes:
    return f"staff-mail:{mail_id}".encode()


def _mail_queue(user: User, *, kind: str, subject: str, body: str,
                secret: str | None = None) -> StaffMail:
    mail = StaffMail(user=user, kind=kind, recipient=user.email, subject=subject, body=body,
                     next_attempt_at=timezone.now())
    if secret is not None:
        mail.secret_sealed = blob_seal(key=service_key(_SECRET_PURPOSE),
                                       plaintext=secret.encode(),
                                       associated_data=_secret_aad(mail.pk))
    mail.save(force_insert=True)
    task_enqueue_on_commit(STAFF_MAIL_SEND_TASK, str(mail.pk))
    return mail


def _finish(mail: StaffMail, *, state: str, error: str = "") -> None:
    StaffMail.objects.filter(pk=mail.pk, state=StaffMail.State.PENDING).update(
        state=state, secret_sealed=None, finished_at=timezone.now(), last_error=error)


def _claim(mail_id: UUID, now: datetime) -> StaffMail | None:
    with transaction.atomic():
        mail = (StaffMail.objects.select_for_update(skip_locked=True)
                .filter(pk=mail_id, state=StaffMail.State.PENDING, next_attempt_at__lte=now)
                .first())
        if mail is None:
            return None
        mail.attempts += 1
        # A lease: a worker lost mid-send frees the message after two minutes.
        mail.next_attempt_at = now + timedelta(minutes=2)
        mail.save(update_fields=["attempts", "next_attempt_at"])
    return mail


def staff_mail_deliver(*, mail_id: UUID) -> str | None:
    """Try one message now; its state afterwards, or None if it was not due."""
    now = timezone.now()
    mail = _claim(mail_id, now)
    if mail is None:
        return None
    body = mail.body
    try:
        if mail.secret_sealed is not None:
            secret = blob_unseal(key=service_key(_SECRET_PURPOSE),
                                 sealed=bytes(mail.secret_sealed),
                                 associated_data=_secret_aad(mail.pk))
            body = body.replace(_SECRET_MARKER, secret.decode())
        EmailMessage(subject=mail.subject, body=body, from_email=settings.DEFAULT_FROM_EMAIL,
                     to=[mail.recipient]).send(fail_silently=False)
    except Exception as exc:  # retried, then given up; named by class only (no address)
        error = type(exc).__name__
        if isinstance(exc, BlobUnsealError) or mail.attempts >= STAFF_MAIL_MAX_ATTEMPTS:
            _finish(mail, state=StaffMail.State.DEAD, error=error)
            logger.error("staff mail %s (%s) given up: %s", mail.pk, mail.kind, error)
            return StaffMail.State.DEAD
        delay = timedelta(seconds=min(30 * 2 ** (mail.attempts - 1), 3600))
        StaffMail.objects.filter(pk=mail.pk, state=StaffMail.State.PENDING).update(
            next_attempt_at=now + delay, last_error=error)
        return StaffMail.State.PENDING
    finally:
        del body
    _finish(mail, state=StaffMail.State.SENT)
    return StaffMail.State.SENT


def staff_mails_send_due(*, limit: int = 200) -> int:
    """Try every pending message that is due (beat); how many went out."""
    due = list(StaffMail.objects.filter(state=StaffMail.State.PENDING,
                                        next_attempt_at__lte=timezone.now())
               .order_by("next_attempt_at").values_list("pk", flat=True)[:limit])
    return sum(staff_mail_deliver(mail_id=mail_id) == StaffMail.State.SENT for mail_id in due)


@transaction.atomic
def staff_password_changed_elsewhere(*, user: User) -> None:
    """A password set outside these services (Django's `changepassword`, a shell): logged,
    and the account's tokens and sessions end as after a reset."""
    revoked = staff_credentials_revoke(user=user)
    _event("staff.password_changed", Actor.system("operator"), user, channel="outside",
           tokens_revoked=revoked.tokens, sessions_ended=revoked.sessions)
