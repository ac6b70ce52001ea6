"""Contact channels as rows, and the sender registry: a new channel is one registered Sender."""

import pytest
from django import forms
from django.core.exceptions import ImproperlyConfigured, ValidationError
from django.urls import reverse

from audit.models import ActionLogEntry
from incidents import channels
from incidents.admin.notifications import EscalationPolicyForm
from incidents.constants import ContactState, NotificationState, PageState, StakeholderRole
from incidents.models import ContactChannel, EscalationPolicy, Notification, Page, StakeholderContact
from incidents.services.notifications import notification_deliver
from tests.incidents.factories import make_contact

ADD_URL = "admin:incidents_stakeholdercontact_add"


@pytest.fixture
def pager():
    """A pager channel that exists in this test only: registered, recorded, then removed again."""
    calls = []

    class PagerSender(channels.Sender):
        kind = "pager"
        label = "Pager (SMS)"
        address_field = forms.RegexField(
            r"^\+[1-9][0-9]{6,14}$",
            error_messages={"invalid": "Enter a phone number in international form, such as +14155550100."},
        )

        def send(self, notification):
            calls.append((notification.recipient, notification.dedup_key, notification.subject))

    channels.register(PagerSender)
    yield calls
    channels.unregister("pager")


def contact_form(name="Pat Pager", role=StakeholderRole.ENGINEERING_ON_CALL, rows=(), initial=0, **fields):
    data = {
        "name": name,
        "role": role,
        "time_zone": "Europe/Dublin",
        "escalation_tier": 1,
        "channel_rows-TOTAL_FORMS": str(len(rows)),
        "channel_rows-INITIAL_FORMS": str(initial),
        **fields,
    }
    for i, row in enumerate(rows):
        for key, value in row.items():
            data[f"channel_rows-{i}-{key}"] = value
    return data


def test_a_channel_registered_by_a_test_pages_through_the_admin_exactly_once(
    pager, client, commander, open_incident, django_capture_on_commit_callbacks
):
    client.force_login(commander)
    form = client.get(reverse(ADD_URL)).content.decode()
    assert '<option value="pager">Pager (SMS)</option>' in form, "the admin offers the registered channel"

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse(ADD_URL), contact_form(rows=[{"kind": "pager", "address": "+14155550100"}]))
    assert response.status_code == 302
    contact = StakeholderContact.objects.get(name="Pat Pager")
    assert contact.channels() == ["pager"] and contact.address("pager") == "+14155550100"
    assert [call[1].startswith("verify:") for call in pager] == [True], "the verification link went by pager"

    policy = EscalationPolicy.objects.get(severity="SEV3")
    policy.channels = ["pager"]
    policy.full_clean()  # a registered channel is one a policy may name
    policy.save()
    with django_capture_on_commit_callbacks(execute=True):
        incident = open_incident()
    assert incident.severity == "SEV3"
    page = Page.objects.get(incident=incident, contact=contact)
    notification = Notification.objects.get(page=page)
    assert notification.channel == "pager" and notification.get_channel_display() == "Pager (SMS)"
    assert notification.state == NotificationState.SENT and notification.attempts == 1
    page.refresh_from_db()
    assert page.state == PageState.SENT

    # A duplicated task finds the row sent and does not send it again.
    assert notification_deliver(notification_id=notification.pk).status == "skipped"
    page_calls = [call for call in pager if call[1] == notification.dedup_key]
    assert page_calls == [("+14155550100", notification.dedup_key, notification.subject)]
    assert incident.reference in notification.subject


def test_a_channel_is_gone_when_unregistered(db):
    class Transient(channels.Sender):
        kind = "transient"
        label = "Transient"
        address_field = forms.CharField()

        def send(self, notification):
            pass

    channels.register(Transient)
    try:
        assert ("transient", "Transient") in channels.contact_channel_choices()
        assert "transient" in dict(EscalationPolicyForm().fields["channels"].choices)
    finally:
        channels.unregister("transient")
    assert "transient" not in dict(channels.channel_choices())
    assert "transient" not in dict(EscalationPolicyForm().fields["channels"].choices)
    policy = EscalationPolicy.objects.get(severity="SEV4")
    policy.channels = ["transient"]
    with pytest.raises(ValidationError, match="Unknown channels: transient"):
        policy.full_clean()


def test_a_kind_cannot_be_registered_twice_or_be_too_long():
    class AnotherEmail(channels.Sender):
        kind = "email"
        label = "Another email"

    with pytest.raises(ImproperlyConfigured, match="registered already by EmailSender"):
        channels.register(AnotherEmail)

    class TooLong(channels.Sender):
        kind = "a-very-long-channel-kind"
        label = "Too long"

    with pytest.raises(ImproperlyConfigured, match="1 to 16 characters"):
        channels.register(TooLong)
    assert channels.sender_for("email").__class__.__name__ == "EmailSender"


def test_built_in_channels_keep_their_values_and_labels():
    assert channels.channel_choices()[:3] == [
        ("email", "Email"),
        ("chat", "Chat webhook (Slack-compatible)"),
        ("webhook", "JSON webhook (HMAC-signed)"),
    ]
    # Kill-switch and lifecycle-event webhooks are addressed by Fireline, never typed in for a contact.
    assert [kind for kind, _ in channels.contact_channel_choices()] == ["email", "chat", "webhook"]
    assert {"flag", "event"} <= {kind for kind, _ in channels.channel_choices()}


@pytest.mark.parametrize(
    ("kind", "address", "message"),
    [
        ("email", "not-an-address", "Enter a valid email address."),
        ("chat", "ftp://chat.example.com/hook", "Enter an http:// or https:// URL."),
        ("webhook", "https://", "Enter a valid URL."),
        ("pager", "555-0100", "Enter a phone number in international form"),
    ],
)
def test_a_bad_address_is_refused_with_the_field_named(pager, client, commander, kind, address, message):
    client.force_login(commander)
    response = client.post(reverse(ADD_URL), contact_form(rows=[{"kind": kind, "address": address}]))
    assert response.status_code == 200
    errors = response.context["inline_admin_formsets"][0].formset.errors
    assert message in " ".join(errors[0]["address"])
    assert not StakeholderContact.objects.exists() and not ContactChannel.objects.exists()
    with pytest.raises(ValidationError) as exc:
        make_contact(name="Direct", role=StakeholderRole.LEGAL).add_address(kind, address)
    assert list(exc.value.message_dict) == ["address"]


def test_a_contact_fireline_cannot_reach_is_refused(client, commander):
    client.force_login(commander)
    empty = client.post(reverse(ADD_URL), contact_form(rows=[]))
    deleted = client.post(
        reverse(ADD_URL), contact_form(rows=[{"kind": "email", "address": "a@example.com", "DELETE": "on"}])
    )
    for response in (empty, deleted):
        assert response.status_code == 200
        assert (
            "Give at least one channel Fireline can reach: Email, Chat webhook or JSON webhook."
            in response.content.decode()
        )
    assert not StakeholderContact.objects.exists()


def test_the_same_address_twice_is_refused(client, commander):
    client.force_login(commander)
    row = {"kind": "email", "address": "twice@example.com"}
    response = client.post(reverse(ADD_URL), contact_form(rows=[row, row]))
    assert response.status_code == 200
    assert "Please correct the duplicate data" in response.content.decode()
    assert not StakeholderContact.objects.exists()


def test_editing_an_address_unconfirms_only_that_address_and_is_logged(client, commander):
    contact = make_contact(
        name="Vera",
        role=StakeholderRole.LEGAL,
        email="vera@example.com",
        chat="https://chat.example.com/v",
        verified=True,
    )
    email_row, chat_row = contact.channel_rows.order_by("pk")
    assert email_row.verified_at == contact.verified_at == chat_row.verified_at
    client.force_login(commander)
    data = contact_form(
        name="Vera",
        role=StakeholderRole.LEGAL,
        initial=2,
        rows=[
            {"id": email_row.pk, "contact": contact.pk, "kind": "email", "address": "vera@new.example.com"},
            {"id": chat_row.pk, "contact": contact.pk, "kind": "chat", "address": "https://chat.example.com/v"},
        ],
    )
    response = client.post(reverse("admin:incidents_stakeholdercontact_change", args=[contact.pk]), data)
    assert response.status_code == 302
    email_row.refresh_from_db()
    chat_row.refresh_from_db()
    assert email_row.address == "vera@new.example.com" and email_row.verified_at is None
    assert chat_row.verified_at == contact.verified_at
    contact.refresh_from_db()
    assert contact.state == ContactState.VERIFIED and contact.address("email") == "vera@new.example.com"
    entry = ActionLogEntry.objects.filter(verb="changed", target_id=str(contact.pk)).latest("pk")
    assert "vera@new.example.com" in str(entry.after) and "vera@example.com" in str(entry.before)


def test_following_the_verification_link_confirms_the_addresses(db, client):
    from incidents.services.stakeholders import contact_request_verification

    contact = make_contact(name="Lee", role=StakeholderRole.LEGAL, email="lee@example.com")
    assert contact.channel_rows.get().verified_at is None
    contact_request_verification(contact_id=contact.pk)
    body = Notification.objects.get(contact=contact).body
    token = body.split("/contacts/verify/", 1)[1].split()[0]
    assert client.get("/contacts/verify/" + token).status_code == 200
    contact.refresh_from_db()
    assert contact.channel_rows.get().verified_at == contact.verified_at is not None


def test_the_changelist_lists_channels_in_a_fixed_number_of_queries(client, commander, django_assert_max_num_queries):
    for n in range(5):
        make_contact(name=f"C{n}", role=StakeholderRole.PR, email=f"c{n}@example.com", webhook=f"https://h.example/{n}")
    client.force_login(commander)
    with django_assert_max_num_queries(12):
        html = client.get(reverse("admin:incidents_stakeholdercontact_changelist")).content.decode()
    assert html.count("Email, JSON") == 5
    found = client.get(reverse("admin:incidents_stakeholdercontact_changelist"), {"q": "c3@example.com"})
    assert found.context["cl"].result_count == 1
