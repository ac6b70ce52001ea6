"""Saving the reference data edited in the admin (AI features, the triage matrix) with an audit trail."""

from __future__ import annotations

from django.db import models, transaction
from django_fsm import FSMFieldMixin

from audit import services as audit


@transaction.atomic
def record_save(*, instance: models.Model, actor, fields: list[str]) -> models.Model:
    is_new = instance.pk is None
    before = {} if is_new else audit.snapshot(type(instance).objects.get(pk=instance.pk), fields)
    # full_clean writes cleaned values back, which a protected state field refuses: leave it out.
    protected = [f.name for f in instance._meta.fields if isinstance(f, FSMFieldMixin) and f.protected]
    instance.full_clean(exclude=protected)
    instance.save()
    after = audit.snapshot(instance, fields)
    if is_new:
        audit.log_created(actor=actor, target=instance, values=after)
    else:
        audit.log_changed(actor=actor, target=instance, before=before, after=after)
    return instance
