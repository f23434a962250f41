"""The console's forms: validation of what a person typed, nothing more."""

from __future__ import annotations

from django import forms

from legal_requests.models import DisclosureRequest

UNDECIDED = "undecided"
ANY_STATE = "any"


class OneTimeCodeField(forms.RegexField):
    def __init__(self, **kwargs: object) -> None:
        super().__init__(
            regex=r"^\s*[0-9]{6,8}\s*$", max_length=16, label="One-time code",
            error_messages={"invalid": "Enter the 6-digit code from your authenticator app."},
            widget=forms.TextInput(attrs={
                "autocomplete": "one-time-code", "inputmode": "numeric",
                "pattern": "[0-9 ]*", "size": "8",
            }),
            **kwargs,  # type: ignore[arg-type]
        )


class SignInForm(forms.Form):
    username = forms.CharField(max_length=150, label="Username",
                               widget=forms.TextInput(attrs={"autocomplete": "username"}))
    password = forms.CharField(max_length=256, strip=False, label="Password",
                               widget=forms.PasswordInput(
                                   attrs={"autocomplete": "current-password"}))
    otp_code = OneTimeCodeField(
        required=False,
        help_text="From your authenticator app. Leave it empty at your first sign-in: "
                  "you will set the app up next.",
    )


class EnrolmentForm(forms.Form):
    otp_code = OneTimeCodeField(help_text="The code your authenticator app shows now.")


class DecisionForm(forms.Form):
    decision = forms.ChoiceField(
        label="Decision", widget=forms.RadioSelect,
        choices=[("approve", "Approve"), ("reject", "Reject")],
    )
    reason = forms.CharField(
        label="Reason", max_length=4000,
        help_text="Recorded with your decision (sealed in the audit log).",
        widget=forms.Textarea(attrs={"rows": 4}),
    )
    otp_code = OneTimeCodeField(
        help_text="Confirm this decision with a new code: each code works once.",
    )


class CallbackForm(forms.Form):
    method = forms.ChoiceField(
        label="How you called back", widget=forms.RadioSelect,
        choices=[("phone", "Telephone, on the number on file"),
                 ("email", "Email, to the address on file")],
    )
    notes = forms.CharField(
        label="Notes", max_length=4000, required=False,
        help_text="Who answered and what they confirmed (sealed in the audit log).",
        widget=forms.Textarea(attrs={"rows": 3}),
    )


class InformationRequestForm(forms.Form):
    question = forms.CharField(
        label="What the agency must add or clarify", max_length=4000,
        help_text="Sent to the agency; the request waits for its answer.",
        widget=forms.Textarea(attrs={"rows": 3}),
    )


class InformationAnswerForm(forms.Form):
    channel = forms.ChoiceField(
        label="How the agency answered", widget=forms.RadioSelect,
        choices=[("paper", "On paper"), ("email", "By email")],
    )
    answer = forms.CharField(
        label="The agency's answer", max_length=20000,
        help_text="As received (sealed in the audit log); the request returns to review.",
        widget=forms.Textarea(attrs={"rows": 4}),
    )


def _state_choices() -> list[tuple[str, str]]:
    return [(UNDECIDED, "Awaiting a decision"), (ANY_STATE, "Any state"),
            *DisclosureRequest.State.choices]


# The queue's due-date filter: (value, label, days ahead; 0 means already past).
DUE_WITHIN = [("overdue", "Overdue", 0), ("2d", "Due within 48 hours", 2),
              ("7d", "Due within 7 days", 7), ("30d", "Due within 30 days", 30)]


class QueueFilterForm(forms.Form):
    state = forms.ChoiceField(label="State", required=False, choices=_state_choices)
    legal_basis = forms.ChoiceField(label="Legal basis", required=False)
    agency = forms.ChoiceField(label="Agency", required=False)
    due = forms.ChoiceField(
        label="Due", required=False,
        choices=[("", "Any due date"), *((value, label) for value, label, _ in DUE_WITHIN)],
    )
    page = forms.IntegerField(required=False, min_value=1, widget=forms.HiddenInput)

    def __init__(self, *args: object, legal_bases: list[tuple[str, str]],
                 agencies: list[tuple[str, str]], **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        for name, any_label, choices in (("legal_basis", "Any legal basis", legal_bases),
                                         ("agency", "Any agency", agencies)):
            field = self.fields[name]
            assert isinstance(field, forms.ChoiceField)  # noqa: S101  (declared above)
            field.choices = [("", any_label), *choices]
