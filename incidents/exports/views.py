"""PDF downloads: login and visibility required; an incident the user may not see is a 404.

`?variant=public` gives the public version of the post-mortem and the summary; `?archive=1` a
PDF/A-3b with the timeline attached as JSON. An unknown variant is a 400 that says which exist.
"""

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponse, HttpResponseBadRequest
from django.views.decorators.http import require_GET

from incidents.models import Communication, Incident, PostMortem, Regime
from incidents.selectors import incident_get

from .audience import UnknownVariant, Variant, parse_variant
from .communication import NotExportable, communication_pdf
from .pdf import postmortem_pdf
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


def _options(request) -> tuple[Variant, bool]:
    """The variant and archive flags from the query string; UnknownVariant for a bad variant."""
    variant = parse_variant(request.GET.get("variant"))
    archive = request.GET.get("archive", "") in ("1", "true", "yes")
    return variant, archive


def _suffix(variant: Variant, archive: bool) -> str:
    return ("-public" if variant == Variant.PUBLIC else "") + ("-pdfa" if archive else "")


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
        variant, archive = _options(request)
    except UnknownVariant as exc:
        return HttpResponseBadRequest(str(exc))
    data = postmortem_pdf(postmortem, variant=variant, archive=archive)
    return _pdf_response(data, f"{incident.reference}-postmortem{_suffix(variant, archive)}.pdf")


@require_GET
@login_required
def summary_pdf_view(request, pk: int):
    incident = _visible_incident(request, pk)
    try:
        variant, archive = _options(request)
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
        data = regulator_pdf(incident, regime)
    except NoObligation:
        raise Http404("This incident has no obligation under that regime.") from None
    return _pdf_response(data, f"{incident.reference}-{regime.code}.pdf")
