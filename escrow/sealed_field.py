"""A text column sealed at rest under a service key and bound to its row.

The column holds `nonce || AES-256-GCM(text)` with the model, field and primary key as
associated data, so a dump shows no text and a value copied onto another row or column
fails to open. Code reading the attribute gets the text back, so serializers, forms and
templates are unchanged; `values()` and lookups see only ciphertext, and nothing may
filter on these columns. The primary key must exist before the first save (a UUID
default), since it is part of the associated data.
"""

from __future__ import annotations

from typing import Any

from django.db import models
from django.db.models.query_utils import DeferredAttribute

from escrow.crypto.kdf import context_info
from escrow.crypto.sealing import blob_seal, blob_unseal
from escrow.keys import service_key

KEY_PURPOSE = "sealed-column"


def text_seal(*, label: str, field: str, pk: object, text: str) -> bytes:
    """Seal one column's text for the row `pk` of model `label` ("app.Model")."""
    return blob_seal(key=service_key(KEY_PURPOSE), plaintext=text.encode("utf-8"),
                     associated_data=context_info(KEY_PURPOSE, label, field, str(pk)))


def text_open(*, label: str, field: str, pk: object, sealed: bytes) -> str:
    return blob_unseal(key=service_key(KEY_PURPOSE), sealed=sealed,
                       associated_data=context_info(KEY_PURPOSE, label, field, str(pk))).decode()


class _SealedText(DeferredAttribute):
    # A data descriptor (it has __set__), so reads always pass through __get__.
    def __set__(self, instance: Any, value: Any) -> None:
        instance.__dict__[self.field.attname] = value

    def __get__(self, instance: Any, cls: Any = None) -> Any:
        value = super().__get__(instance, cls)
        if instance is None or not isinstance(value, bytes | memoryview):
            return value
        text = text_open(label=instance._meta.label, field=self.field.name, pk=instance.pk,
                         sealed=bytes(value))
        instance.__dict__[self.field.attname] = text  # opened once per instance
        return text


class SealedTextField(models.BinaryField):
    """Text stored sealed; reads and writes through the model attribute are plain text."""

    descriptor_class = _SealedText

    def get_default(self) -> Any:
        # Text, not BinaryField's b"": an unset attribute reads as "" before a save.
        return super(models.BinaryField, self).get_default()

    def pre_save(self, model_instance: models.Model, add: bool) -> Any:
        return text_seal(label=model_instance._meta.label, field=self.name,
                         pk=model_instance.pk, text=getattr(model_instance, self.attname))

    def to_python(self, value: Any) -> Any:
        return value

    def value_to_string(self, obj: models.Model) -> str:
        return str(getattr(obj, self.attname))


def column_sealing_operations(app_label: str, model_name: str, fields: dict[str, bool]
                              ) -> list[Any]:
    """Migration operations turning text columns into sealed ones, keeping every row.

    `fields` maps each column to its `blank`. Each column is copied, sealed, into a new
    binary column that then takes its name; the reverse opens the rows back into text.
    """
    from django.db import migrations

    names = list(fields)
    sealed_names = [f"{name}_sealed" for name in names]

    def seal_rows(apps: Any, schema_editor: Any) -> None:
        model = apps.get_model(app_label, model_name)
        label = f"{app_label}.{model.__name__}"
        for pk, *texts in model.objects.values_list("pk", *names).iterator():
            model.objects.filter(pk=pk).update(**{
                sealed: text_seal(label=label, field=name, pk=pk, text=text)
                for name, sealed, text in zip(names, sealed_names, texts, strict=True)
            })

    def open_rows(apps: Any, schema_editor: Any) -> None:
        model = apps.get_model(app_label, model_name)
        label = f"{app_label}.{model.__name__}"
        for pk, *values in model.objects.values_list("pk", *sealed_names).iterator():
            model.objects.filter(pk=pk).update(**{
                name: text_open(label=label, field=name, pk=pk, sealed=bytes(value))
                for name, value in zip(names, values, strict=True)
            })

    ops: list[Any] = [migrations.AddField(model_name, sealed, models.BinaryField(null=True))
                      for sealed in sealed_names]
    ops.append(migrations.RunPython(seal_rows, open_rows))
    for name, blank in fields.items():
        ops += [
            # A default lets the reverse re-add the text column to a table with rows.
            migrations.AlterField(model_name, name, models.TextField(default="")),
            migrations.RemoveField(model_name, name),
            migrations.RenameField(model_name, f"{name}_sealed", name),
            migrations.AlterField(model_name, name, SealedTextField(blank=blank)),
        ]
    return ops
