"""Forms of the administrators' pages: what a person typed, checked for shape only.

The rules (who may grant what, E.164 contacts, two administrators for a reset) are the
services' (accounts/services.py, accounts/services_staff.py).
"""

from __future__ import annotations

from django import forms

from accounts.models import StaffChange
from accounts.roles import Role
from console.forms import OneTimeCodeField


def _step_up(help_text: str) -> OneTimeCodeField:
    return OneTimeCodeField(help_text=help_text)


class _Form(forms.Form):
    """Several of these share a page: each form's field ids get its own prefix, so every
    label points at its own field."""

    id_prefix = "id"

    def __init__(self, *args: object, **kwargs: object) -> None:
        kwargs.setdefault("auto_id", f"{self.id_prefix}_%s")
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]


class StaffCreateForm(_Form):
    id_prefix = "create"

    username = forms.RegexField(regex=r"^[\w.@+-]{2,150}$", max_length=150, label="Username",
                                help_text="Letters, digits and @ . + - _ only.")
    email = forms.EmailField(label="Email address",
                             help_text="The temporary password is sent here, and only here.")


class RoleForm(_Form):
    id_prefix = "role"

    role = forms.ChoiceField(label="Role", choices=[(r.value, r.value.replace("_", " "))
                                                    for r in Role])
    action = forms.ChoiceField(label="Action", widget=forms.RadioSelect,
                               choices=[("grant", "Grant"), ("revoke", "Revoke")])
    otp_code = _step_up("Approver, custodian and administrator grants wait for a second "
                        "administrator.")


class ResetForm(_Form):
    id_prefix = "reset"

    kind = forms.ChoiceField(
        label="What to reset", widget=forms.RadioSelect,
        choices=[(StaffChange.Kind.PASSWORD_RESET, "Password (a new one is mailed to them)"),
                 (StaffChange.Kind.SECOND_FACTOR_RESET,
                  "Second factor (they set up their app again)")])
    otp_code = _step_up("A second administrator must approve before anything changes.")


class DisableForm(_Form):
    id_prefix = "disable"

    otp_code = _step_up("Ends their sessions and API tokens at once.")


class ChangeDecisionForm(_Form):
    id_prefix = "change"

    decision = forms.ChoiceField(label="Decision", widget=forms.RadioSelect,
                                 choices=[("approve", "Approve and make the change"),
                                          ("cancel", "Cancel the proposal")])
    otp_code = _step_up("Confirm with a new code: each code works once.")


class PlatformForm(_Form):
    id_prefix = "platform"

    name = forms.CharField(label="Platform name", max_length=200)


class KeyIssueForm(_Form):
    id_prefix = "key"

    label = forms.CharField(label="Label", max_length=100, required=False,
                            help_text="What the key is for, e.g. 'signup service'.")
    otp_code = _step_up("The key is shown once, on the next page.")


class KeyRevokeForm(_Form):
    id_prefix = "revoke"

    otp_code = _step_up("Calls with this key fail at once.")


class AgencyForm(_Form):
    id_prefix = "agency"

    name = forms.CharField(label="Agency name", max_length=200)
    jurisdiction = forms.ChoiceField(label="Jurisdiction")
    callback_phone = forms.CharField(
        label="Call-back telephone", max_length=40,
        help_text="International form, e.g. +442079460000: emergency requests are "
                  "verified by calling this number.",
        widget=forms.TextInput(attrs={"autocomplete": "off", "inputmode": "tel"}))
    callback_email = forms.EmailField(label="Call-back email address")

    def __init__(self, *args: object, jurisdictions: list[tuple[str, str]],
                 **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        field = self.fields["jurisdiction"]
        assert isinstance(field, forms.ChoiceField)  # noqa: S101  (declared above)
        field.choices = jurisdictions
