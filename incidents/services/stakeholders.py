"""Stakeholder contacts: verification by signed link, going stale after a quarter, retirement."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.core import signing
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from audit import services as audit
from incidents.constants import ContactState
from incidents.models import StakeholderContact

from .notifications import notification_enqueue
from .workflow import transition_run

VERIFY_SALT = "fireline.contact.verify"
VERIFY_LINK_MAX_AGE = timedelta(days=30)


def verification_url(contact: StakeholderContact) -> str:
    token = signing.dumps({"c": contact.pk, "at": contact.verification_sent_at.isoformat()}, salt=VERIFY_SALT)
    return settings.FIRELINE_BASE_URL.rstrip("/") + reverse("contact-verify", args=[token])


@transaction.atomic
def contact_request_verification(*, contact_id: int, actor=None) -> StakeholderContact:
    contact = StakeholderContact.objects.select_for_update().get(pk=contact_id)
    if contact.state == ContactState.RETIRED:
        raise ValidationError("A retired contact is not asked to verify.")
    channels = contact.channels()
    if not channels:
        raise ValidationError("The contact has no channel to send the verification link to.")
    contact.verification_sent_at = timezone.now()
    contact.save(update_fields=["verification_sent_at"])
    channel = channels[0]  # email first when there is one
    notification_enqueue(
        channel=channel,
        recipient=contact.address(channel),
        contact=contact,
        subject="Fireline: please confirm your incident contact details",
        body=(
            f"Hello {contact.name},\n\nYou are listed in Fireline as {contact.get_role_display()} "
            f"(tier {contact.escalation_tier}) for incidents in AI features. Open this link to confirm the "
            f"details are right:\n{verification_url(contact)}\n\nIf they are not, tell your incident commander."
        ),
        dedup_key=f"verify:{contact.pk}:{contact.verification_sent_at.isoformat()}",
    )
    audit.log_changed(
        actor=actor,
        target=contact,
        before={"verification_sent_at": None},
        after={"verification_sent_at": contact.verification_sent_at},
    )
    return contact


@transaction.atomic
def contact_verify_from_link(*, token: str) -> StakeholderContact:
    try:
        data = signing.loads(token, salt=VERIFY_SALT, max_age=VERIFY_LINK_MAX_AGE)
    except signing.SignatureExpired as exc:
        raise ValidationError("This verification link has expired; ask for a new one.") from exc
    except signing.BadSignature as exc:
        raise ValidationError("This verification link is not valid.") from exc
    contact = StakeholderContact.objects.select_for_update().get(pk=data["c"])
    if contact.state == ContactState.RETIRED:
        raise ValidationError("This contact was retired.")
    if contact.verification_sent_at is None or contact.verification_sent_at.isoformat() != data["at"]:
        raise ValidationError("A newer verification link was sent; use that one.")
    transition_run(contact, "verify", actor=None, noun="contact", lock=False, log_details={"via": "link"})
    # The person confirmed the details as listed: every address the contact has now.
    contact.channel_rows.update(verified_at=contact.verified_at)
    return contact


def contacts_mark_stale() -> int:
    """Verified contacts whose last verification is older than a quarter go stale and are asked again."""
    cutoff = timezone.now() - timedelta(days=settings.FIRELINE_CONTACT_STALE_DAYS)
    count = 0
    for pk in StakeholderContact.objects.filter(state=ContactState.VERIFIED, verified_at__lt=cutoff).values_list(
        "pk", flat=True
    ):
        with transaction.atomic():
            contact = StakeholderContact.objects.select_for_update().get(pk=pk)
            if contact.state != ContactState.VERIFIED or contact.verified_at >= cutoff:
                continue
            transition_run(contact, "mark_stale", actor=None, noun="contact", lock=False)
            contact_request_verification(contact_id=pk)
            count += 1
    return count


@transaction.atomic
def contact_retire(*, contact_id: int, actor) -> StakeholderContact:
    contact = StakeholderContact.objects.select_for_update().get(pk=contact_id)
    if not actor.has_perm("incidents.retire_stakeholdercontact"):
        raise PermissionDenied("You may not retire contacts.")
    if contact.state == ContactState.RETIRED:
        return contact
    return transition_run(
        contact, "retire", actor=actor, noun="contact", lock=False, permission_message="You may not retire contacts."
    )
