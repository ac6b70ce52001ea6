"""Saving the reference data edited in the admin (AI features, the triage matrix) with an audit trail."""

from __future__ import annotations

from django.db import models, transaction

from audit import services as audit


@transaction.atomic
def record_save(*, instance: models.Model, actor, fields: list[str]) -> models.Model:
    is_new = instance.pk is None
    before = {} if is_new else audit.snapshot(type(instance).objects.get(pk=instance.pk), fields)
    instance.full_clean()
    instance.save()
    after = audit.snapshot(instance, fields)
    if is_new:
        audit.log_created(actor=actor, target=instance, values=after)
    else:
        audit.log_changed(actor=actor, target=instance, before=before, after=after)
    return instance
