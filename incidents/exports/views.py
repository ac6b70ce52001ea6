"""PDF downloads: login and visibility required; an incident the user may not see is a 404."""

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponse
from django.views.decorators.http import require_GET

from incidents.models import Incident, PostMortem, Regime
from incidents.selectors import incident_get

from .pdf import postmortem_pdf
from .regulator import NoObligation, regulator_pdf


@require_GET
@login_required
def postmortem_pdf_view(request, pk: int):
    try:
        incident = incident_get(user=request.user, pk=pk)
    except Incident.DoesNotExist:
        raise Http404("No such incident.") from None
    postmortem = PostMortem.objects.filter(incident=incident).select_related("incident", "approved_by").first()
    if postmortem is None:
        raise Http404("This incident has no post-mortem yet.")
    if not request.user.has_perm("incidents.view_postmortem"):
        raise PermissionDenied
    response = HttpResponse(postmortem_pdf(postmortem), content_type="application/pdf")
    response["Content-Disposition"] = f'inline; filename="{incident.reference}-postmortem.pdf"'
    return response


@require_GET
@login_required
def regulator_pdf_view(request, pk: int, code: str):
    try:
        incident = incident_get(user=request.user, pk=pk)
    except Incident.DoesNotExist:
        raise Http404("No such incident.") from None
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
    response = HttpResponse(data, content_type="application/pdf")
    response["Content-Disposition"] = f'inline; filename="{incident.reference}-{regime.code}.pdf"'
    return response
