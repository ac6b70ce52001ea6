"""User reports: the API, the public form, the admin inbox and its grouping, and the detection facts."""

import json
import uuid
from datetime import timedelta

import pytest
from django.contrib.messages import get_messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from audit.models import ActionLogEntry
from incidents import services
from incidents.constants import Category, DetectionSignal, IncidentState
from incidents.models import Incident, ReportSource, ReportState, UserReport
from incidents.services import api_token_create
from tests.conftest import fresh
from tests.incidents.factories import AIFeatureFactory, IncidentFactory, UserFactory

API_URL = "/api/v1/reports"
FORM_URL = "/report/"
INBOX_URL = "/admin/incidents/userreport/"
INCIDENTS_URL = "/admin/incidents/incident/"


@pytest.fixture(autouse=True)
def own_rate_limit_counters(settings):
    """Each test counts form posts afresh: in CI the cache is a Redis shared by the whole run."""
    settings.RATELIMIT_CACHE_PREFIX = f"rl-test-{uuid.uuid4().hex}:"


def make_report(feature, **kwargs) -> UserReport:
    kwargs.setdefault("what_user_saw", "Returns are accepted within 365 days.")
    kwargs.setdefault("what_was_wrong", "The policy is 30 days.")
    kwargs.setdefault("source", ReportSource.API)
    return services.report_submit(feature_key=feature.key, **kwargs)


def said(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


def run_action(client, action, reports, query="", **data):
    return client.post(
        INBOX_URL + query, {"action": action, "_selected_action": [r.pk for r in reports], **data}, follow=False
    )


# --- the service ----------------------------------------------------------------------------------


def test_submit_stores_the_report_in_the_inbox(feature):
    report = make_report(
        feature,
        category=Category.FACTUAL_MISINFORMATION,
        request_id=" req-1 ",
        contact="ana@example.com",
        contact_consent=True,
    )
    report.refresh_from_db()
    assert report.state == ReportState.INBOX and report.feature == feature
    assert report.request_id == "req-1" and report.contact == "ana@example.com" and report.contact_consent


@pytest.mark.parametrize(
    "kwargs, field",
    [
        ({"feature_key": "no-such-feature"}, "feature"),
        ({"feature_key": ""}, "feature"),
        ({"what_user_saw": "   "}, "what_user_saw"),
        ({"what_was_wrong": "x" * 10_001}, "what_was_wrong"),
        ({"category": "boring"}, "category"),
        ({"request_id": "r" * 201}, "request_id"),
        ({"contact": "ana@example.com"}, "contact_consent"),
        ({"what_user_saw": "nul \x00 byte"}, "what_user_saw"),
    ],
)
def test_submit_names_the_bad_field_and_stores_nothing(feature, kwargs, field):
    data = {
        "feature_key": feature.key,
        "what_user_saw": "saw",
        "what_was_wrong": "wrong",
        "source": ReportSource.FORM,
        **kwargs,
    }
    with pytest.raises(ValidationError) as caught:
        services.report_submit(**data)
    assert field in caught.value.message_dict
    assert not UserReport.objects.exists()


def test_consent_without_contact_stores_no_consent(feature):
    report = make_report(feature, contact="  ", contact_consent=True)
    assert report.contact == "" and report.contact_consent is False


def test_open_incident_takes_feature_category_count_and_quotes(feature, responder):
    first = make_report(feature, category=Category.FACTUAL_MISINFORMATION, what_user_saw="Refunds for 365 days")
    second = make_report(feature, category=Category.FACTUAL_MISINFORMATION, what_user_saw="Free shipping on Mars")

    incident = services.report_open_incident(report_ids=[first.pk, second.pk], actor=responder)

    assert incident.detection_signal == DetectionSignal.USER_REPORT and incident.feature == feature
    assert incident.category == Category.FACTUAL_MISINFORMATION and incident.users_affected == 2
    assert "> Refunds for 365 days" in incident.summary and "> Free shipping on Mars" in incident.summary
    assert incident.detected_at == first.received_at  # when Fireline first heard of it
    assert set(incident.reports.values_list("state", flat=True)) == {ReportState.ATTACHED}
    assert incident.timeline.filter(text__startswith="2 user reports attached").exists()
    assert ActionLogEntry.objects.filter(verb="report_attached", incident=incident).count() == 2


def test_open_incident_leaves_category_empty_when_reports_disagree(feature, responder):
    reports = [make_report(feature, category=Category.HARMFUL_OUTPUT), make_report(feature)]
    incident = services.report_open_incident(report_ids=[r.pk for r in reports], actor=responder, title="Odd answers")
    assert incident.category == "" and incident.title == "Odd answers"


def test_open_incident_refuses_reports_of_different_features(feature, responder):
    other = AIFeatureFactory()
    reports = [make_report(feature), make_report(other)]
    with pytest.raises(ValidationError, match="different AI features"):
        services.report_open_incident(report_ids=[r.pk for r in reports], actor=responder)
    assert not Incident.objects.exists()
    assert set(UserReport.objects.values_list("state", flat=True)) == {ReportState.INBOX}


def test_a_data_leak_opened_from_reports_stays_visible_to_whoever_opened_it(feature, responder):
    report = make_report(feature, category=Category.DATA_LEAK)
    incident = services.report_open_incident(report_ids=[report.pk], actor=responder)
    assert incident.is_restricted and responder in incident.members.all()


def test_reports_that_left_the_inbox_are_refused_with_a_clear_message(feature, responder, open_incident):
    incident = open_incident()
    report = make_report(feature)
    services.report_dismiss(report_ids=[report.pk], actor=responder, reason="Spam")
    with pytest.raises(ValidationError, match=r"#\d+ \(dismissed\) left it already"):
        services.report_attach(report_ids=[report.pk], incident_id=incident.pk, actor=responder)
    with pytest.raises(ValidationError, match="left it already"):
        services.report_dismiss(report_ids=[report.pk], actor=responder, reason="again")


def test_dismiss_needs_a_reason_and_logs_it(feature, responder):
    report = make_report(feature, contact="ana@example.com", contact_consent=True)
    with pytest.raises(ValidationError):
        services.report_dismiss(report_ids=[report.pk], actor=responder, reason="  ")
    services.report_dismiss(report_ids=[report.pk], actor=responder, reason="Test report")
    report.refresh_from_db()
    assert report.state == ReportState.DISMISSED and report.handled_by == responder
    entry = ActionLogEntry.objects.get(verb="report_dismissed")
    assert entry.after["reason"] == "Test report"
    assert "ana@example.com" not in json.dumps([entry.before, entry.after, entry.target_label])


def test_attach_refuses_closed_and_drill_incidents(feature, responder):
    report = make_report(feature)
    closed = IncidentFactory(feature=feature, state=IncidentState.CLOSED)
    drill = IncidentFactory(feature=feature, is_drill=True)
    for incident in (closed, drill):
        with pytest.raises(ValidationError):
            services.report_attach(report_ids=[report.pk], incident_id=incident.pk, actor=responder)
    report.refresh_from_db()
    assert report.state == ReportState.INBOX


def test_triage_needs_the_permission(feature, viewer, legal, open_incident):
    report = make_report(feature)
    incident = open_incident()
    for user in (viewer, legal):
        with pytest.raises(PermissionDenied):
            services.report_attach(report_ids=[report.pk], incident_id=incident.pk, actor=user)
        with pytest.raises(PermissionDenied):
            services.report_open_incident(report_ids=[report.pk], actor=user)
        with pytest.raises(PermissionDenied):
            services.report_dismiss(report_ids=[report.pk], actor=user, reason="no")
    report.refresh_from_db()
    assert report.state == ReportState.INBOX


# --- restricted incidents stay invisible ------------------------------------------------------------


@pytest.fixture
def leak(open_incident):
    return open_incident(title="Leaked customer addresses", category=Category.DATA_LEAK)


def test_attaching_to_a_hidden_incident_fails_like_a_missing_one(feature, responder, leak):
    report = make_report(feature)
    with pytest.raises(Incident.DoesNotExist) as hidden:
        services.report_attach(report_ids=[report.pk], incident_id=leak.pk, actor=responder)
    with pytest.raises(Incident.DoesNotExist) as missing:
        services.report_attach(report_ids=[report.pk], incident_id=999_999, actor=responder)
    assert str(hidden.value) == str(missing.value)
    report.refresh_from_db()
    assert report.state == ReportState.INBOX


def test_admin_attach_page_offers_no_hidden_incident_and_refuses_one_posted(client, feature, responder, leak):
    report = make_report(feature)
    visible = IncidentFactory(feature=feature, title="Visible one")
    client.force_login(responder)

    page = run_action(client, "attach_to_incident", [report])
    html = page.content.decode()
    assert page.status_code == 200 and "Visible one" in html
    assert "Leaked customer addresses" not in html and f"INC-{leak.pk} " not in html

    refused = run_action(client, "attach_to_incident", [report], incident=leak.pk, apply="1")
    text = refused.content.decode()
    assert "Leaked" not in text
    assert "Select a valid choice" in text  # the same answer as for an id that does not exist
    report.refresh_from_db()
    assert report.state == ReportState.INBOX and visible.reports.count() == 0


def test_reports_attached_to_a_hidden_incident_are_hidden_with_it(client, feature, leak, commander, responder):
    report = make_report(feature, what_user_saw="It showed me my neighbour's address")
    services.report_attach(report_ids=[report.pk], incident_id=leak.pk, actor=commander)
    client.force_login(responder)
    html = client.get(INBOX_URL, {"state": "all"}).content.decode()
    assert "neighbour" not in html
    assert client.get(reverse("admin:incidents_userreport_change", args=[report.pk])).status_code in (302, 404)


# --- the API ---------------------------------------------------------------------------------------


@pytest.fixture
def token(db):
    return api_token_create(name="product", scopes=["reports"])[1]


def post_api(token, payload, **extra):
    headers = {"HTTP_AUTHORIZATION": f"Bearer {token}"} if token else {}
    body = payload if isinstance(payload, str | bytes) else json.dumps(payload)
    return Client().post(API_URL, data=body, content_type="application/json", **headers, **extra)


def valid_payload(ai_feature, **changes):
    return {"feature": ai_feature.key, "what_user_saw": "The bot said 2+2=5", "what_was_wrong": "It is 4", **changes}


def test_api_stores_a_report_and_answers_201(token, feature):
    response = post_api(
        token,
        valid_payload(
            feature,
            category="factual_misinformation",
            request_id="req_42",
            contact="ana@example.com",
            contact_consent=True,
        ),
    )
    assert response.status_code == 201
    body = response.json()
    assert body["state"] == "inbox"
    report = UserReport.objects.get(pk=body["id"])
    assert report.source == ReportSource.API and report.request_id == "req_42"
    assert report.contact == "ana@example.com" and report.category == "factual_misinformation"


@pytest.mark.parametrize(
    "changes, field",
    [
        ({"feature": None}, "feature"),
        ({"feature": "no-such-feature"}, "feature"),
        ({"what_user_saw": ""}, "what_user_saw"),
        ({"what_user_saw": "x" * 10_001}, "what_user_saw"),
        ({"what_was_wrong": None}, "what_was_wrong"),
        ({"what_was_wrong": "   "}, "what_was_wrong"),
        ({"category": "boring"}, "category"),
        ({"request_id": "r" * 201}, "request_id"),
        ({"contact": "c" * 255, "contact_consent": True}, "contact"),
        ({"contact": "ana@example.com"}, "contact_consent"),
        ({"contact": "ana@example.com", "contact_consent": False}, "contact_consent"),
        ({"contact_consent": "perhaps"}, "contact_consent"),
        ({"what_user_saw": {"nested": "object"}}, "what_user_saw"),
    ],
)
def test_api_bad_input_is_400_naming_the_field(token, feature, changes, field):
    payload = {k: v for k, v in valid_payload(feature, **changes).items() if v is not None}
    response = post_api(token, payload)
    assert response.status_code == 400
    body = response.json()
    assert body["detail"] == "Invalid input." and field in body["errors"], body
    assert not UserReport.objects.exists()


def test_api_says_how_long_a_text_may_be(token, feature):
    response = post_api(token, valid_payload(feature, what_user_saw="x" * 10_001))
    assert response.json()["errors"]["what_user_saw"] == ["At most 10,000 characters."]


def test_api_names_every_bad_field_at_once(token, feature):
    response = post_api(token, {"feature": feature.key})
    assert set(response.json()["errors"]) == {"what_user_saw", "what_was_wrong"}


@pytest.mark.parametrize("body", ["{not json", "[1, 2]", '"a string"'])
def test_api_malformed_or_non_object_json_is_400(token, body):
    response = post_api(token, body)
    assert response.status_code == 400 and response["Content-Type"].startswith("application/json")
    assert response.json()["detail"]


def test_api_missing_token_is_401(feature):
    response = post_api(None, valid_payload(feature))
    assert response.status_code == 401 and response.json()["detail"]
    assert not UserReport.objects.exists()


def test_api_token_without_reports_scope_is_403(feature):
    raw = api_token_create(name="alerts-only", scopes=["alerts", "incidents"])[1]
    response = post_api(raw, valid_payload(feature))
    assert response.status_code == 403 and "'reports'" in response.json()["detail"]
    assert not UserReport.objects.exists()


def test_openapi_schema_documents_the_report_endpoint(db):
    schema = Client().get("/api/schema/", {"format": "json"}).json()
    operation = schema["paths"]["/api/v1/reports"]["post"]
    assert {"201", "400", "401", "403"} <= set(operation["responses"])
    request_ref = operation["requestBody"]["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]
    request_schema = schema["components"]["schemas"][request_ref]
    assert set(request_schema["required"]) == {"feature", "what_user_saw", "what_was_wrong"}
    assert request_schema["properties"]["what_user_saw"]["maxLength"] == 10_000
    assert "contact_consent" in request_schema["properties"]
    response_ref = operation["responses"]["201"]["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]
    assert set(schema["components"]["schemas"][response_ref]["properties"]) == {"id", "state"}


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=40),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=10), children, max_size=3),
    max_leaves=12,
)
report_like = st.fixed_dictionaries(
    {},
    optional={
        "feature": st.sampled_from(["support-bot", "nope", ""]) | json_values,
        "what_user_saw": st.text() | json_values,
        "what_was_wrong": st.text() | json_values,
        "category": st.sampled_from([*Category.values, "", "x"]) | json_values,
        "request_id": st.text(max_size=250) | json_values,
        "contact": st.text(max_size=300) | json_values,
        "contact_consent": st.booleans() | json_values,
    },
)


def test_no_payload_makes_the_report_api_fail(client, token, feature):
    @hypothesis_settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(payload=report_like | json_values)
    def run(payload):
        response = client.post(
            API_URL, data=json.dumps(payload), content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {token}"
        )
        assert response.status_code in (201, 400), (response.status_code, payload, response.content[:300])
        assert response["Content-Type"] == "application/json"

    run()


# --- the public form -------------------------------------------------------------------------------


def form_data(ai_feature, **changes):
    return {
        "feature": ai_feature.key,
        "what_user_saw": "It told me to mix bleach and ammonia",
        "category": Category.HARMFUL_OUTPUT,
        "what_was_wrong": "That makes a toxic gas",
        "request_id": "",
        "contact": "",
        "website": "",
        **changes,
    }


def test_form_page_lists_features_by_name_with_csrf_and_a_hidden_honeypot(client, feature):
    response = client.get(FORM_URL)
    html = response.content.decode()
    assert response.status_code == 200
    assert f'<option value="{feature.key}">Support assistant</option>' in html
    assert "csrfmiddlewaretoken" in html
    assert '<div class="hp" aria-hidden="true">' in html and 'tabindex="-1"' in html
    assert "It refused, failed or did not answer" in html  # categories in a reporter's words


def test_form_can_be_prefilled_by_the_product(client, feature):
    html = client.get(FORM_URL, {"feature": feature.key, "request_id": "req_9"}).content.decode()
    assert f'<option value="{feature.key}" selected>' in html and 'value="req_9"' in html


def test_form_stores_a_report_and_thanks(client, feature):
    response = client.post(FORM_URL, form_data(feature, contact="ana@example.com", contact_consent="on"))
    assert response.status_code == 302 and response.url == reverse("report-thanks")
    report = UserReport.objects.get()
    assert report.source == ReportSource.FORM and report.category == Category.HARMFUL_OUTPUT
    assert report.contact == "ana@example.com" and report.contact_consent
    assert b"Thank you" in client.get(response.url).content


def test_form_contact_without_consent_is_an_error_on_the_consent_box(client, feature):
    response = client.post(FORM_URL, form_data(feature, contact="ana@example.com"))
    assert response.status_code == 200
    assert "contact_consent" in response.context["form"].errors
    html = response.content.decode()
    assert 'id="id_contact_consent_error"' in html and 'aria-invalid="true"' in html
    assert not UserReport.objects.exists()


def test_form_missing_fields_are_listed(client, feature):
    response = client.post(FORM_URL, form_data(feature, feature="", what_was_wrong=""))
    assert {"feature", "what_was_wrong"} <= set(response.context["form"].errors)
    assert "Please check the form" in response.content.decode()
    assert not UserReport.objects.exists()


def test_filled_honeypot_pretends_success_and_stores_nothing(client, feature):
    response = client.post(FORM_URL, form_data(feature, website="http://spam.example"))
    assert response.status_code == 302 and response.url == reverse("report-thanks")
    assert not UserReport.objects.exists()


def test_form_escapes_what_people_type(client, feature):
    evil = '<script>alert("x")</script><img src=x onerror=alert(1)>'
    response = client.post(FORM_URL, form_data(feature, what_user_saw=evil, request_id=evil, what_was_wrong=""))
    html = response.content.decode()
    assert "<script>alert" not in html and "<img src=x" not in html
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in html
    prefilled = client.get(FORM_URL, {"request_id": evil}).content.decode()
    assert "<script>alert" not in prefilled


def test_form_is_csrf_protected(feature):
    client = Client(enforce_csrf_checks=True)
    assert client.post(FORM_URL, form_data(feature)).status_code == 403
    assert not UserReport.objects.exists()


def test_form_is_rate_limited_per_client_address(feature):
    client = Client()
    for _ in range(5):
        assert client.post(FORM_URL, form_data(feature), REMOTE_ADDR="203.0.113.7").status_code == 302
    limited = client.post(FORM_URL, form_data(feature, what_user_saw="my sixth one"), REMOTE_ADDR="203.0.113.7")
    assert limited.status_code == 429 and limited["Retry-After"] == "60"
    html = limited.content.decode()
    assert "try again later" in html and "my sixth one" in html  # nothing lost but the wait
    assert UserReport.objects.count() == 5
    assert client.post(FORM_URL, form_data(feature), REMOTE_ADDR="198.51.100.2").status_code == 302
    assert client.get(FORM_URL, REMOTE_ADDR="203.0.113.7").status_code == 200  # reading is never limited
    assert UserReport.objects.count() == 6


# --- the admin inbox -------------------------------------------------------------------------------


@pytest.fixture
def as_responder(client, responder):
    client.force_login(responder)
    return client


def test_inbox_shows_open_reports_by_default(as_responder, feature, responder):
    waiting = make_report(feature, what_user_saw="still waiting")
    done = make_report(feature, what_user_saw="already handled")
    services.report_dismiss(report_ids=[done.pk], actor=responder, reason="Spam")
    html = as_responder.get(INBOX_URL).content.decode()
    assert "still waiting" in html and "already handled" not in html
    assert "User report inbox" in html
    everything = as_responder.get(INBOX_URL, {"state": "all"}).content.decode()
    assert "still waiting" in everything and "already handled" in everything
    assert waiting.state == ReportState.INBOX


def test_inbox_search_finds_the_words_users_wrote(as_responder, feature):
    make_report(feature, what_user_saw="bleach and ammonia")
    make_report(feature, what_user_saw="the weather")
    html = as_responder.get(INBOX_URL, {"q": "ammonia"}).content.decode()
    assert "bleach and ammonia" in html and "the weather" not in html


def test_admin_attach_action_asks_which_incident_then_attaches(as_responder, feature, open_incident, responder):
    incident = open_incident(title="Refund bot invents policies")
    reports = [make_report(feature), make_report(feature)]

    page = run_action(as_responder, "attach_to_incident", reports)
    assert page.status_code == 200 and "Refund bot invents policies" in page.content.decode()

    done = run_action(as_responder, "attach_to_incident", reports, incident=incident.pk, apply="1")
    assert done.status_code == 302
    assert any(f"attached to {incident.reference}" in m for m in said(done))
    assert set(incident.reports.values_list("pk", flat=True)) == {r.pk for r in reports}
    assert incident.timeline.filter(text__startswith="2 user reports attached").exists()
    assert ActionLogEntry.objects.filter(verb="report_attached", actor=responder).count() == 2


def test_admin_open_incident_action_lands_on_the_new_incident(as_responder, feature):
    reports = [make_report(feature, category=Category.HARMFUL_OUTPUT) for _ in range(3)]
    response = run_action(as_responder, "open_incident", reports)
    incident = Incident.objects.get()
    assert response.status_code == 302
    assert response.url == reverse("admin:incidents_incident_change", args=[incident.pk])
    assert incident.users_affected == 3 and incident.detection_signal == DetectionSignal.USER_REPORT


def test_admin_open_incident_across_features_says_why(as_responder, feature):
    reports = [make_report(feature), make_report(AIFeatureFactory())]
    response = run_action(as_responder, "open_incident", reports)
    assert any("different AI features" in m for m in said(response))
    assert not Incident.objects.exists()


def test_admin_dismiss_action_asks_for_a_reason(as_responder, feature):
    report = make_report(feature)
    page = run_action(as_responder, "dismiss", [report])
    assert page.status_code == 200 and "Why are these reports dismissed?" in page.content.decode()
    blank = run_action(as_responder, "dismiss", [report], reason="", apply="1")
    assert blank.status_code == 200
    report.refresh_from_db()
    assert report.state == ReportState.INBOX
    done = run_action(as_responder, "dismiss", [report], reason="Spam or abuse of the form", apply="1")
    assert any("1 report(s) dismissed" in m for m in said(done))
    report.refresh_from_db()
    assert report.state == ReportState.DISMISSED


def test_viewer_cannot_see_the_inbox_or_act(client, viewer, feature, open_incident):
    report = make_report(feature)
    client.force_login(viewer)
    assert client.get(INBOX_URL).status_code == 403
    for action in ("dismiss", "open_incident", "attach_to_incident"):
        response = run_action(client, action, [report], reason="x", incident=open_incident().pk, apply="1")
        assert response.status_code == 403
    report.refresh_from_db()
    assert report.state == ReportState.INBOX and not Incident.objects.filter(reports=report).exists()


def test_legal_reads_the_inbox_but_gets_no_triage_actions(client, legal, feature):
    report = make_report(feature, what_user_saw="read only please")
    client.force_login(legal)
    html = client.get(INBOX_URL).content.decode()
    assert "read only please" in html and 'name="action"' not in html
    response = run_action(client, "dismiss", [report], reason="x", apply="1")
    assert response.status_code in (200, 302)
    report.refresh_from_db()
    assert report.state == ReportState.INBOX


def test_report_page_is_read_only_and_shows_the_consented_contact(as_responder, feature):
    report = make_report(feature, contact="ana@example.com", contact_consent=True)
    html = as_responder.get(reverse("admin:incidents_userreport_change", args=[report.pk])).content.decode()
    assert "ana@example.com" in html and 'name="_save"' not in html


# --- grouping ---------------------------------------------------------------------------------------


def test_similar_open_reports_are_counted_and_grouped(as_responder, feature, responder):
    other = AIFeatureFactory(name="Search answers")
    wrong_facts = [make_report(feature, category=Category.FACTUAL_MISINFORMATION) for _ in range(5)]
    same_request = [
        make_report(other, category=Category.HARMFUL_OUTPUT, request_id="req-7"),
        make_report(other, category=Category.CAPABILITY_LOSS, request_id="req-7"),
    ]
    loner = make_report(other, category=Category.DATA_LEAK)
    handled = make_report(feature, category=Category.FACTUAL_MISINFORMATION)
    services.report_dismiss(report_ids=[handled.pk], actor=responder, reason="Duplicate")

    response = as_responder.get(INBOX_URL)
    counts = {r.pk: r.similar_open for r in response.context["cl"].result_list}
    assert all(counts[r.pk] == 5 for r in wrong_facts)
    assert all(counts[r.pk] == 2 for r in same_request)
    assert counts[loner.pk] == 1

    groups = response.context["report_groups"]
    assert [(g["label"], g["count"]) for g in groups] == [
        ("Support assistant · Factual misinformation", 5),
        ("Request req-7", 2),
    ]
    html = response.content.decode()
    assert 'id="report-groups"' in html and "Show these 5" in html and "fl-systemic" in html

    similar = as_responder.get(INBOX_URL, {"similar_to": wrong_facts[0].pk})
    assert {r.pk for r in similar.context["cl"].result_list} == {r.pk for r in wrong_facts}
    by_request = as_responder.get(INBOX_URL, {"request_id": "req-7"})
    assert {r.pk for r in by_request.context["cl"].result_list} == {r.pk for r in same_request}
    group_link = as_responder.get(INBOX_URL + "?" + groups[0]["query"])
    assert {r.pk for r in group_link.context["cl"].result_list} == {r.pk for r in wrong_facts}


def test_group_of_reports_without_category_links_to_them(as_responder, feature):
    reports = [make_report(feature) for _ in range(2)]
    make_report(feature, category=Category.HARMFUL_OUTPUT)
    group = as_responder.get(INBOX_URL).context["report_groups"][0]
    assert group["label"] == "Support assistant · no category given" and group["count"] == 2
    listed = as_responder.get(INBOX_URL + "?" + group["query"]).context["cl"].result_list
    assert {r.pk for r in listed} == {r.pk for r in reports}


@pytest.mark.parametrize("count", [10, 200])
def test_inbox_query_count_does_not_grow(as_responder, feature, count, django_assert_max_num_queries):
    features = [feature, AIFeatureFactory()]
    categories = [Category.HARMFUL_OUTPUT, Category.FACTUAL_MISINFORMATION, ""]
    for i in range(count):
        make_report(features[i % 2], category=categories[i % 3], request_id=f"req-{i % 7}")
    with django_assert_max_num_queries(10):
        response = as_responder.get(INBOX_URL, {"state": "all"})
    assert response.status_code == 200 and len(response.context["cl"].result_list) == min(count, 100)


# --- detection facts on the incident list ---------------------------------------------------------


def test_incident_list_shows_how_incidents_were_found(client, commander, feature):
    signals = (
        [DetectionSignal.MONITORING_ALERT] * 4
        + [DetectionSignal.USER_REPORT] * 3
        + [DetectionSignal.INTERNAL_DISCOVERY] * 2
        + [DetectionSignal.EXTERNAL_ATTENTION]
    )
    now = timezone.now()
    for signal in signals:
        IncidentFactory(feature=feature, detection_signal=signal, occurred_at=now - timedelta(hours=2), detected_at=now)
    IncidentFactory(feature=feature, detection_signal=DetectionSignal.EXTERNAL_ATTENTION, is_drill=True)
    outsider_only = IncidentFactory(feature=feature, detection_signal=DetectionSignal.EXTERNAL_ATTENTION)
    Incident.objects.filter(pk=outsider_only.pk).update(is_restricted=True)

    client.force_login(commander)
    html = client.get(INCIDENTS_URL).content.decode()
    line = html[html.index('id="detection-shares"') :][:1200]
    for text in (
        "monitoring <b>40%</b>",
        "user reports <b>30%</b>",
        "internal <b>20%</b>",
        "external attention <b>10%",
    ):
        assert text in line, line
    assert "of 10 incidents you can see, drills excluded" in line
    assert "Average time to detect" in line and "monitoring 2h 00m" in line


def test_incident_list_without_incidents_shows_no_share_line(client, commander):
    client.force_login(commander)
    assert 'id="detection-shares"' not in client.get(INCIDENTS_URL).content.decode()


# --- external attention on the incident form ------------------------------------------------------


def test_public_link_makes_the_incident_public_and_dates_it(open_incident):
    incident = open_incident(
        detection_signal=DetectionSignal.EXTERNAL_ATTENTION, public_link="https://news.example/bot-gone-wild"
    )
    assert incident.is_public and incident.went_public_at == incident.detected_at


def test_external_attention_without_a_link_is_allowed(open_incident):
    incident = open_incident(detection_signal=DetectionSignal.EXTERNAL_ATTENTION)
    assert incident.public_link == "" and incident.went_public_at is None


def test_public_link_can_be_added_later_and_is_logged(open_incident, commander):
    incident = open_incident(detection_signal=DetectionSignal.INTERNAL_DISCOVERY)
    went_public = timezone.now() - timedelta(minutes=30)
    services.incident_update(
        incident_id=incident.pk,
        changes={"public_link": "https://social.example/post/1", "went_public_at": went_public},
        actor=commander,
    )
    incident.refresh_from_db()
    assert incident.went_public_at == went_public and incident.is_public
    entry = ActionLogEntry.objects.filter(verb="changed", target_id=str(incident.pk)).latest("id")
    assert entry.after["public_link"] == "https://social.example/post/1"


def test_incident_forms_ask_for_the_public_link(client, commander, open_incident):
    client.force_login(commander)
    add = client.get(reverse("admin:incidents_incident_add")).content.decode()
    change = client.get(reverse("admin:incidents_incident_change", args=[open_incident().pk])).content.decode()
    for html in (add, change):
        assert 'name="public_link"' in html and 'name="went_public_at_0"' in html


def test_add_form_records_external_attention(client, commander, feature):
    client.force_login(commander)
    response = client.post(
        reverse("admin:incidents_incident_add"),
        {
            "title": "Screenshot of the bot on social media",
            "feature": feature.pk,
            "detection_signal": DetectionSignal.EXTERNAL_ATTENTION,
            "category": Category.HARMFUL_OUTPUT,
            "users_affected": "1",
            "detected_at_0": timezone.now().strftime("%Y-%m-%d"),
            "detected_at_1": "00:00:00",
            "public_link": "https://social.example/post/2",
            "commander": commander.pk,
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    incident = Incident.objects.get()
    assert incident.public_link == "https://social.example/post/2"
    assert incident.went_public_at == incident.detected_at and incident.is_public


def test_share_line_counts_only_incidents_the_user_can_see(client, feature, leak, commander):
    # the share line counts only what the user can see: a restricted incident adds nothing for others
    outsider = fresh(UserFactory(username="other-cmdr", role="Incident Commander"))
    client.force_login(outsider)
    html = client.get(INCIDENTS_URL).content.decode()
    assert 'id="detection-shares"' not in html
