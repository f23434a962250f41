"""The forms of the auditors' and the public pages: validation of what a person typed."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any, cast

from django import forms
from django.utils import timezone

FIRST_REPORT_YEAR = 2024
# The kinds of actor a log entry names (escrow/log/events.py, Actor).
ACTOR_KINDS = [("", "Any"), *((kind, kind) for kind in
                              ("staff", "agency", "platform", "system", "anonymous"))]


class EventFilterForm(forms.Form):
    event_type = forms.CharField(
        max_length=64, required=False, label="Event type",
        widget=forms.TextInput(attrs={"list": "event-types", "autocomplete": "off"}))
    object_ref = forms.CharField(max_length=100, required=False, label="Object",
                                 help_text="As the Object column shows it, e.g. staff:4")
    actor_kind = forms.ChoiceField(choices=ACTOR_KINDS, required=False, label="Actor")
    since = forms.DateField(required=False, label="From (UTC date)",
                            widget=forms.DateInput(attrs={"type": "date"}))
    until = forms.DateField(required=False, label="Until (UTC date, inclusive)",
                            widget=forms.DateInput(attrs={"type": "date"}))
    after = forms.IntegerField(min_value=0, required=False, widget=forms.HiddenInput)

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("since") and data.get("until") and data["until"] < data["since"]:
            raise forms.ValidationError("The end of the range is before its start.")
        return data

    def page_filters(self) -> dict[str, Any]:
        """The keyword arguments of `audit_event_page` for the cleaned form."""
        data = self.cleaned_data
        return {
            "event_type": data.get("event_type") or None,
            "object_ref": data.get("object_ref") or None,
            "actor_kind": data.get("actor_kind") or None,
            "occurred_after": _midnight(data.get("since")),
            "occurred_before": _midnight(data["until"] + timedelta(days=1))
            if data.get("until") else None,
            "after_id": data.get("after"),
        }


def _midnight(day: date | None) -> datetime | None:
    return datetime.combine(day, time.min, tzinfo=UTC) if day else None


class EarlierCheckpointForm(forms.Form):
    since = forms.IntegerField(
        min_value=1, required=False, label="Earlier tree size",
        help_text="A signed checkpoint to prove consistency from. Empty: the last "
                  "checkpoint this browser verified.")


class ReportPeriodForm(forms.Form):
    year = forms.TypedChoiceField(coerce=int, label="Year", choices=())
    half = forms.TypedChoiceField(
        coerce=int, label="Months", initial=0,
        choices=[(0, "The whole year"), (1, "January to June"), (2, "July to December")])

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        today = timezone.now().date()
        year = cast(forms.ChoiceField, self.fields["year"])
        year.choices = [(y, str(y)) for y in range(today.year, FIRST_REPORT_YEAR - 1, -1)]
        year.initial = today.year
        self.fields["half"].initial = 1 if today.month <= 6 else 2
