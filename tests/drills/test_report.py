"""The drill report PDF: read back with pypdf; login, permission and visibility at the URL; export_pdf."""

import io

import pytest
from django.core.management import CommandError, call_command
from pypdf import PdfReader

from drills import services
from drills.models import Scenario
from incidents.constants import Category
from tests.incidents.factories import UserFactory


def text_of(data: bytes) -> str:
    return " ".join(" ".join(page.extract_text() for page in PdfReader(io.BytesIO(data)).pages).split())


@pytest.fixture
def debriefed(running_drill, facilitator, commander, contacts, stale_contact):
    drill = running_drill()
    services.drill_end_exercise(drill_id=drill.pk, actor=facilitator)
    services.drill_tick(drill_id=drill.pk, item_id=drill.checklist.first().pk, is_done=True, actor=facilitator)
    services.drill_add_gap(
        drill_id=drill.pk,
        title="Nobody knew the press office number",
        kind="process",
        owner=commander,
        due_date=drill.started_at.date(),
        actor=facilitator,
    )
    return services.drill_complete(drill_id=drill.pk, actor=facilitator)


def test_pdf_has_scenario_steps_score_and_gaps(debriefed, client, facilitator):
    client.force_login(facilitator)
    response = client.get(f"/drills/{debriefed.pk}/report.pdf")
    assert response.status_code == 200 and response["Content-Type"] == "application/pdf"
    text = text_of(response.content)
    assert debriefed.scenario.name in text
    assert "Step times against targets" in text
    for step in ("Detect", "Triage", "Contain", "Investigate", "Fix", "Communicate"):
        assert step in text
    assert f"{debriefed.score} / 100" in text
    assert "Nobody knew the press office number" in text
    assert "Re-verify stale contact Jo Stale" in text
    assert f"{debriefed.reference}" in text and "Page 1 of" in text


def test_pdf_needs_login_and_permission(debriefed, client, db):
    assert client.get(f"/drills/{debriefed.pk}/report.pdf").status_code == 302
    client.force_login(UserFactory(username="nobody"))  # no role: no drills.view_drill
    assert client.get(f"/drills/{debriefed.pk}/report.pdf").status_code == 403


def test_pdf_of_a_restricted_drill_incident_is_404_for_non_members(running_drill, client, viewer, facilitator):
    drill = running_drill(scenario=Scenario.objects.get(category=Category.DATA_LEAK))
    client.force_login(viewer)
    assert client.get(f"/drills/{drill.pk}/report.pdf").status_code == 404
    client.force_login(facilitator)  # the facilitator is on the drill incident
    assert client.get(f"/drills/{drill.pk}/report.pdf").status_code == 200


def test_export_pdf_command_writes_the_same_report(debriefed, tmp_path):
    out = tmp_path / "drill.pdf"
    call_command("export_pdf", "drill", str(debriefed.pk), "-o", str(out), stdout=io.StringIO())
    assert "Step times against targets" in text_of(out.read_bytes())
    with pytest.raises(CommandError, match="No drill 999"):
        call_command("export_pdf", "drill", "999", "-o", str(out))


def test_report_escapes_what_users_typed(running_drill, facilitator, commander):
    drill = running_drill()
    services.drill_add_gap(
        drill_id=drill.pk,
        title='<img src="file:///etc/passwd"> gap',
        kind="process",
        owner=commander,
        due_date=drill.started_at.date(),
        actor=facilitator,
    )
    from drills.report import drill_report_html

    html = drill_report_html(drill)
    assert '<img src="file:///etc/passwd">' not in html
