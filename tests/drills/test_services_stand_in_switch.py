"""A drill acts on its own stand-in switch: nothing a drill does changes what real users get.

Flag values are read through the OFREP endpoint, as the product reads them.
"""

import pytest
from django.core.exceptions import ValidationError

from drills import services as drill_services
from incidents import services
from incidents.constants import IncidentState, PageState
from incidents.models import KillSwitch, KillSwitchHold
from incidents.services.flags import killswitch_for, stand_in_key
from tests.incidents.services.test_containment import clear_cache, flag_off, restrict, timeline_texts  # noqa: F401

S = IncidentState


def test_a_whole_drill_never_changes_the_production_flag(
    running_drill, open_incident, commander, facilitator, feature, committed, read_flag
):
    real = open_incident(title="Real SEV1 on the same feature", is_public=True)
    committed(flag_off, real, commander)
    production = read_flag(feature.kill_switch_key)
    assert production[0] is False

    drill = running_drill()
    incident = drill.incident
    key = stand_in_key(incident)
    assert key != feature.kill_switch_key and read_flag(key)[0] is True  # served from the start
    services.incident_update(incident_id=incident.pk, changes={"commander": commander}, actor=commander)
    services.incident_triage(incident_id=incident.pk, actor=commander)
    action = committed(flag_off, incident, commander)
    committed(restrict, incident, commander)
    assert read_flag(key)[0] is False
    assert read_flag(feature.kill_switch_key) == production
    assert any("the drill's stand-in, not production" in text for text in timeline_texts(incident))

    committed(services.containment_revert, action_id=action.pk, reason="drill: practise the lift", actor=commander)
    assert read_flag(key)[0] is True
    assert read_flag(feature.kill_switch_key) == production  # the real SEV1 still has it off

    committed(drill_services.drill_end_exercise, drill_id=drill.pk, actor=facilitator)
    committed(drill_services.drill_complete, drill_id=drill.pk, actor=facilitator)
    incident.refresh_from_db()
    assert incident.state == S.CLOSED
    assert not KillSwitchHold.objects.filter(incident=incident, released_at__isnull=True).exists()
    assert read_flag(key, {"plan": "free"})[0] is True
    assert read_flag(feature.kill_switch_key) == production
    assert KillSwitch.objects.get(feature=feature).holds.filter(released_at__isnull=True).count() == 1


def test_a_drill_cannot_hold_the_production_switch(running_drill, commander, feature):
    drill = running_drill()
    with pytest.raises(ValidationError, match="stand-in"):
        services.flags.killswitch_hold(
            switch_id=killswitch_for(feature).pk,
            kind="off",
            reason="drill",
            actor=commander,
            incident=drill.incident,
        )


def test_a_cancelled_drill_closes_its_incident_and_lifts_its_holds(
    running_drill, commander, facilitator, committed, read_flag
):
    drill = running_drill()
    services.incident_update(incident_id=drill.incident_id, changes={"commander": commander}, actor=commander)
    committed(flag_off, drill.incident, commander)
    committed(drill_services.drill_cancel, drill_id=drill.pk, reason="fire alarm in the office", actor=facilitator)
    drill.incident.refresh_from_db()
    assert drill.incident.state == S.CLOSED
    assert read_flag(stand_in_key(drill.incident))[0] is True
    assert not drill.incident.pages.filter(state__in=[PageState.PENDING, PageState.SENT]).exists()


def test_the_drill_page_shows_its_stand_in_key(running_drill, client, facilitator, feature):
    drill = running_drill()
    client.force_login(facilitator)
    html = client.get(f"/admin/drills/drill/{drill.pk}/change/").content.decode()
    assert 'id="drill-stand-in"' in html and stand_in_key(drill.incident) in html
