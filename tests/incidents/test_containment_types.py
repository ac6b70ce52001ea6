"""A containment type declared once, in incidents.containment_types, works everywhere.

The types here are registered by the tests only: what they prove is that a new type needs its declaration
and nothing else. The form, the incident page, the service's checks, the timeline, the kill switch, one
click, the API and the summary PDF all pick it up, and it is gone again once unregistered.
"""

import io

import pytest
from django.contrib.messages import get_messages
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.urls import reverse

from incidents import containment_types, services
from incidents.constants import Severity
from incidents.containment_types import HOLD_OFF, Kind, Parameter
from incidents.exports.summary import summary_html
from incidents.models import ContainmentAction, Incident, KillSwitchHold, TriageRule
from tests.incidents.api.test_incident_writes import LIST_URL, call, token_for


def _whole_percent(text: str) -> None:
    if not text.isdigit() or not 1 <= int(text) <= 100:
        raise ValidationError("Give a whole percentage from 1 to 100.")


SHADOW = Kind(
    value="shadow_traffic",
    label="Shadow traffic to the previous model",
    short="shadow traffic",
    parameters=(
        Parameter("percent", "Shadow traffic: the share of requests copied", max_length=3, check=_whole_percent),
    ),
)
PAUSE = Kind(value="pause_answers", label="Pause answers (kill switch)", short="pause answers", holds_switch=HOLD_OFF)
SAFE_MODE = Kind(
    value="safe_mode", label="Safe mode (canned answers)", short="safe mode", one_click_severities=frozenset({"SEV1"})
)


@pytest.fixture
def registered():
    """Register test-only types; whatever happens in the test, they are gone after it."""
    added = []

    def add(kind: Kind) -> Kind:
        containment_types.register(kind)
        added.append(kind.value)
        return kind

    yield add
    for value in added:
        containment_types.unregister(value)


@pytest.fixture
def logged_in(client, commander):
    client.force_login(commander)
    return client


def page(incident):
    return reverse("admin:incidents_incident_change", args=[incident.pk])


def said(response):
    return [str(m) for m in get_messages(response.wsgi_request)]


def record_in_admin(client, incident, **data):
    data.setdefault("is_reversible", "on")
    return client.post(reverse("admin:incidents_incident_containment", args=[incident.pk]), data)


def test_a_new_type_is_offered_recorded_checked_shown_and_lifted_in_the_admin(logged_in, open_incident, registered):
    registered(SHADOW)
    incident = open_incident()
    html = logged_in.get(page(incident)).content.decode()
    assert '<option value="shadow_traffic">Shadow traffic to the previous model</option>' in html
    assert '<label for="id_percent">Percent:</label> <input type="text" name="percent" maxlength="3"' in html

    missing = record_in_admin(logged_in, incident, action_type="shadow_traffic")
    assert "Percent: required for shadow traffic to the previous model." in " ".join(said(missing))
    wrong = record_in_admin(logged_in, incident, action_type="shadow_traffic", percent="250")
    assert "Percent: give a whole percentage from 1 to 100." in " ".join(said(wrong))
    stray = record_in_admin(logged_in, incident, action_type="shadow_traffic", percent="10", cohort="plan=free")
    assert "takes no cohort" in " ".join(said(stray))
    assert not incident.containment_actions.exists()

    made = record_in_admin(logged_in, incident, action_type="shadow_traffic", percent=" 10 ")
    assert "Containment action recorded." in said(made)
    action = incident.containment_actions.get()
    assert action.action_type == "shadow_traffic" and action.parameters == {"percent": "10"}
    assert not KillSwitchHold.objects.filter(containment=action).exists()  # it declares no hold
    assert incident.timeline.filter(
        kind="containment", text="Containment: Shadow traffic to the previous model (percent: 10)"
    ).exists()
    html = logged_in.get(page(incident)).content.decode()
    assert "<b>Shadow traffic to the previous model</b>" in html  # the ledger
    assert 'aria-label="Lift Shadow traffic to the previous model"' in html
    assert "Shadow traffic to the previous model" in summary_html(incident)  # the PDF's containment table

    lifted = logged_in.post(
        reverse("admin:incidents_incident_revert", args=[incident.pk, action.pk]), {"reason": "model fixed"}
    )
    assert "Containment lifted." in said(lifted)
    action.refresh_from_db()
    assert action.reverted_at is not None
    assert incident.timeline.filter(
        text="Containment lifted: Shadow traffic to the previous model: model fixed"
    ).exists()


def test_the_service_checks_a_new_types_parameters_and_names_the_field(open_incident, commander, registered):
    registered(SHADOW)
    incident = open_incident()
    with pytest.raises(ValidationError) as bad:
        services.containment_record(
            incident_id=incident.pk, action_type="shadow_traffic", parameters={"percent": "half"}, actor=commander
        )
    assert bad.value.message_dict == {"percent": ["Give a whole percentage from 1 to 100."]}
    assert not ContainmentAction.objects.exists() and not incident.timeline.filter(kind="containment").exists()
    action = services.containment_record(
        incident_id=incident.pk, action_type="shadow_traffic", parameters={"percent": 5}, actor=commander
    )
    assert action.parameters == {"percent": "5"} and action.get_action_type_display() == SHADOW.label


def test_the_api_takes_a_new_type_and_refuses_it_once_unregistered(commander, open_incident, registered):
    registered(SHADOW)
    incident = open_incident()
    token = token_for(commander)
    url = f"{LIST_URL}/{incident.pk}/containment"
    bad = call("post", url, token, {"action_type": "shadow_traffic", "parameters": {"percent": "0"}})
    assert bad.status_code == 400 and "percent" in bad.json()["errors"]
    made = call("post", url, token, {"action_type": "shadow_traffic", "parameters": {"percent": "20"}})
    assert made.status_code == 201, made.content
    assert made.json()["action_type"] == "shadow_traffic" and made.json()["parameters"] == {"percent": "20"}
    lifted = call("post", f"{url}/{made.json()['id']}/lift", token, {"reason": "done"})
    assert lifted.status_code == 200 and lifted.json()["is_active"] is False

    containment_types.unregister("shadow_traffic")
    gone = call("post", url, token, {"action_type": "shadow_traffic", "parameters": {"percent": "20"}})
    assert gone.status_code == 400 and "action_type" in gone.json()["errors"]


def test_a_new_type_that_holds_the_switch_turns_the_feature_off_until_lifted(
    open_incident, commander, feature, committed, read_flag, registered
):
    registered(PAUSE)
    incident = open_incident()
    action = committed(
        services.containment_record, incident_id=incident.pk, action_type="pause_answers", actor=commander
    )
    assert read_flag(feature.kill_switch_key)[0] is False
    assert KillSwitchHold.objects.get(containment=action).kind == "off"
    committed(services.containment_revert, action_id=action.pk, reason="fixed", actor=commander)
    assert read_flag(feature.kill_switch_key)[0] is True


def test_one_click_records_a_new_type_only_on_the_severities_it_declares(logged_in, open_incident, registered):
    registered(SAFE_MODE)
    severe = open_incident(is_public=True)  # SEV1 harmful output
    minor = open_incident(title="A minor one")  # SEV3
    assert (severe.severity, minor.severity) == ("SEV1", "SEV3")
    TriageRule.objects.filter(pk__in=[severe.triage_rule_id, minor.triage_rule_id]).update(
        default_containment=["safe_mode"]
    )
    html = logged_in.get(page(minor)).content.decode()
    assert 'id="contain-now"' not in html and "Triage matrix default:\n        <b>safe mode</b>" in html
    html = logged_in.get(page(severe)).content.decode()
    assert 'id="contain-now"' in html and ">Safe mode (canned answers)</button>" in html

    response = logged_in.post(reverse("admin:incidents_incident_contain_now", args=[severe.pk]))
    assert f"Contained: Safe mode (canned answers). {severe.reference} is now Contained." in said(response)
    assert Incident.objects.get(pk=severe.pk).state == "contained"
    assert list(severe.containment_actions.values_list("action_type", flat=True)) == ["safe_mode"]
    refused = logged_in.post(reverse("admin:incidents_incident_contain_now", args=[minor.pk]))
    # the built-in types still name the severities one click is for
    assert "One-click containment is for triaged SEV1 and SEV2 incidents with a matrix default." in said(refused)
    assert not minor.containment_actions.exists()


def test_a_type_declared_for_real_gets_its_choices_migration(db, registered):
    call_command("makemigrations", "incidents", "--check", "--dry-run", stdout=io.StringIO())  # clean today
    registered(SHADOW)
    out = io.StringIO()
    with pytest.raises(SystemExit):
        call_command("makemigrations", "incidents", "--check", "--dry-run", stdout=out)
    assert "Alter field action_type on containmentaction" in out.getvalue()


def test_declarations_are_checked_when_registered(registered):
    assert all(s in Severity.values for kind in containment_types.kinds() for s in kind.one_click_severities)
    with pytest.raises(ValueError, match="already registered"):
        registered(Kind(value="rollback", label="Again", short="again"))
    with pytest.raises(ValueError, match="one click cannot ask a person"):
        registered(
            Kind(
                value="x", label="X", short="x", parameters=SHADOW.parameters, one_click_severities=frozenset({"SEV1"})
            )
        )
    with pytest.raises(ValueError, match="declared differently"):
        registered(Kind(value="y", label="Y", short="y", parameters=(Parameter("cohort", "Another meaning"),)))
    with pytest.raises(ValueError, match="built in"):
        containment_types.unregister("fallback")
    assert [k.value for k in containment_types.kinds()] == [k.value for k in containment_types.BUILT_IN]
