"""PDF downloads: login and visibility required; an incident the user may not see is a 404.

Each document has the variants its audiences need, and a variant it does not have is a 400 that says
which exist: the post-mortem and the summary are `internal` (the default) or `public`; a regulator
report is only `regulator`; a communication is the variant of its audience. `?archive=1` gives a
PDF/A-3b (with the timeline attached as JSON where the document has one); `?revision=N` a published
post-mortem's earlier revision; `?step=ID` one report of a regulator's chain.
"""

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponse, HttpResponseBadRequest
from django.views.decorators.http import require_GET

from incidents.models import Communication, Incident, PostMortem, Regime, RegulatoryObligation
from incidents.selectors import incident_get

from .audience import UnknownVariant, Variant, parse_variant
from .communication import NotExportable, communication_pdf, communication_variant
from .pdf import NoSuchRevision, postmortem_pdf
from .regulator import NoObligation, regulator_pdf
from .summary import summary_pdf


def _visible_incident(request, pk: int) -> Incident:
    try:
        return incident_get(user=request.user, pk=pk)
    except Incident.DoesNotExist:
        raise Http404("No such incident.") from None


def _pdf_response(data: bytes, filename: str) -> HttpResponse:
    response = HttpResponse(data, content_type="application/pdf")
    response["Content-Disposition"] = f'inline; filename="{filename}"'
    return response


def _options(request, **variant_kwargs) -> tuple[Variant, bool]:
    """The variant and archive flags from the query string; UnknownVariant for a variant it does not have."""
    variant = parse_variant(request.GET.get("variant"), **variant_kwargs)
    archive = request.GET.get("archive", "") in ("1", "true", "yes")
    return variant, archive


def _suffix(variant: Variant, archive: bool) -> str:
    return ("-public" if variant == Variant.PUBLIC else "") + ("-pdfa" if archive else "")


def _positive_int(request, name: str) -> int | None:
    """An optional positive integer parameter; ValueError when it is there and is not one."""
    value = request.GET.get(name)
    if value in (None, ""):
        return None
    if not value.isdigit() or int(value) < 1:
        raise ValueError(f"{name} must be a positive whole number.")
    return int(value)


@require_GET
@login_required
def postmortem_pdf_view(request, pk: int):
    incident = _visible_incident(request, pk)
    postmortem = PostMortem.objects.filter(incident=incident).select_related("incident", "approved_by").first()
    if postmortem is None:
        raise Http404("This incident has no post-mortem yet.")
    if not request.user.has_perm("incidents.view_postmortem"):
        raise PermissionDenied
    try:
        variant, archive = _options(request, document="the post-mortem")
        revision = _positive_int(request, "revision")
    except (UnknownVariant, ValueError) as exc:
        return HttpResponseBadRequest(str(exc))
    try:
        data = postmortem_pdf(postmortem, variant=variant, archive=archive, revision=revision)
    except NoSuchRevision as exc:
        raise Http404(str(exc)) from None
    suffix = f"-r{revision}" if revision else ""
    return _pdf_response(data, f"{incident.reference}-postmortem{suffix}{_suffix(variant, archive)}.pdf")


@require_GET
@login_required
def summary_pdf_view(request, pk: int):
    incident = _visible_incident(request, pk)
    try:
        variant, archive = _options(request, document="the incident summary")
    except UnknownVariant as exc:
        return HttpResponseBadRequest(str(exc))
    data = summary_pdf(
        incident,
        variant=variant,
        archive=archive,
        include_evidence=request.user.has_perm("audit.view_evidence"),
    )
    return _pdf_response(data, f"{incident.reference}-summary{_suffix(variant, archive)}.pdf")


@require_GET
@login_required
def communication_pdf_view(request, pk: int, comm_id: int):
    incident = _visible_incident(request, pk)
    communication = (
        Communication.objects.filter(incident=incident, pk=comm_id)
        .select_related("incident", "approved_by", "sent_by")
        .first()
    )
    if communication is None:
        raise Http404("No such communication on this incident.")
    if not request.user.has_perm("incidents.view_communication"):
        raise PermissionDenied
    own = communication_variant(communication)
    try:
        _options(request, supported=[own], default=own, document=f"a {communication.get_audience_display()} message")
    except UnknownVariant as exc:
        return HttpResponseBadRequest(str(exc))
    try:
        data = communication_pdf(communication)
    except NotExportable as exc:
        raise Http404(str(exc)) from None
    filename = f"{incident.reference}-{communication.audience}-{communication.pk}.pdf"
    return _pdf_response(data, filename)


@require_GET
@login_required
def regulator_pdf_view(request, pk: int, code: str):
    incident = _visible_incident(request, pk)
    regime = Regime.objects.filter(code=code).first()
    if regime is None:
        raise Http404("No such regime.")
    if not (
        request.user.has_perm("incidents.view_postmortem")
        or request.user.has_perm("incidents.view_regulatoryobligation")
    ):
        raise PermissionDenied
    try:
        _, archive = _options(
            request, supported=[Variant.REGULATOR], default=Variant.REGULATOR, document="a regulator report"
        )
        step_id = _positive_int(request, "step")
    except (UnknownVariant, ValueError) as exc:
        return HttpResponseBadRequest(str(exc))
    step = None
    if step_id is not None:
        step = RegulatoryObligation.objects.filter(pk=step_id, incident=incident, rule__regime=regime).first()
        if step is None:
            raise Http404("No such report under that regime.")
    try:
        data = regulator_pdf(incident, regime, step=step, archive=archive)
    except NoObligation:
        raise Http404("This incident has no obligation under that regime.") from None
    name = f"{incident.reference}-{regime.code}" + (f"-{step.rule.code}-{step.sequence}" if step else "")
    return _pdf_response(data, f"{name}{'-pdfa' if archive else ''}.pdf")
