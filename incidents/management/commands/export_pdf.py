"""`export_pdf postmortem|regulator ID -o FILE.pdf [--regime CODE]`: the same PDFs as the download links.

`summary ID` (the incident summary) and `communication ID` (an approved or sent communication, by its own
id) too; `--variant public` and `--archive` (PDF/A-3b with the timeline as JSON) for postmortem and summary.
"""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from incidents.exports import (
    NoObligation,
    NotExportable,
    UnknownVariant,
    communication_pdf,
    parse_variant,
    postmortem_pdf,
    regulator_pdf,
    summary_pdf,
)
from incidents.models import Communication, Incident, PostMortem, Regime

NOT_YET: dict[str, str] = {}


class Command(BaseCommand):
    help = (
        "Export a PDF: postmortem ID, or regulator ID --regime CODE (ID is the incident's id). "
        "drill ID is the drill's id (DRILL-ID)."
    )

    def add_arguments(self, parser):
        parser.add_argument("kind", choices=["postmortem", "regulator", "drill", "summary", "communication"])
        parser.add_argument("id", type=int, help="The incident's id (communication: the communication's id).")
        parser.add_argument("-o", "--output", required=True, help="The PDF file to write.")
        parser.add_argument("--regime", help="regulator: the regime's code, e.g. gdpr-33.")
        parser.add_argument("--variant", default="internal", help="postmortem, summary: internal (default) or public.")
        parser.add_argument("--archive", action="store_true", help="postmortem, summary: PDF/A-3b, timeline as JSON.")

    def handle(self, *args, kind, id, output, regime=None, **options):
        if kind in NOT_YET:
            raise CommandError(NOT_YET[kind])
        try:
            self.variant, self.archive = parse_variant(options.get("variant")), options.get("archive", False)
        except UnknownVariant as exc:
            raise CommandError(str(exc)) from None
        if kind == "drill":
            data = self.drill(id)
            Path(output).write_bytes(data)
            self.stdout.write(f"Wrote {output} ({len(data)} bytes).")
            return
        if kind in ("summary", "communication"):
            data = self.summary(id) if kind == "summary" else self.communication(id)
            Path(output).write_bytes(data)
            self.stdout.write(f"Wrote {output} ({len(data)} bytes).")
            return
        data = self.regulator(id, regime) if kind == "regulator" else self.postmortem(id)
        Path(output).write_bytes(data)
        self.stdout.write(f"Wrote {output} ({len(data)} bytes).")

    def postmortem(self, id: int) -> bytes:
        postmortem = PostMortem.objects.select_related("incident", "approved_by").filter(incident_id=id).first()
        if postmortem is None:
            raise CommandError(f"Incident {id} has no post-mortem.")
        return postmortem_pdf(postmortem, variant=self.variant, archive=self.archive)

    def drill(self, id: int) -> bytes:
        from drills.models import Drill
        from drills.report import drill_report_pdf

        drill = Drill.objects.select_related("scenario", "feature", "incident__feature", "facilitator").filter(pk=id)
        if not drill.exists():
            raise CommandError(f"No drill {id}.")
        return drill_report_pdf(drill.get())

    def summary(self, id: int) -> bytes:
        incident = Incident.objects.select_related("feature", "commander").filter(pk=id).first()
        if incident is None:
            raise CommandError(f"No incident {id}.")
        return summary_pdf(incident, variant=self.variant, archive=self.archive)

    def communication(self, id: int) -> bytes:
        communication = Communication.objects.select_related("incident", "approved_by", "sent_by").filter(pk=id).first()
        if communication is None:
            raise CommandError(f"No communication {id}.")
        try:
            return communication_pdf(communication)
        except NotExportable as exc:
            raise CommandError(str(exc)) from None

    def regulator(self, id: int, code: str | None) -> bytes:
        if not code:
            raise CommandError("Give the regime with --regime CODE (e.g. gdpr-33).")
        incident = Incident.objects.select_related("feature").filter(pk=id).first()
        if incident is None:
            raise CommandError(f"No incident {id}.")
        regime = Regime.objects.filter(code=code).first()
        if regime is None:
            raise CommandError(f"No regime {code!r}.")
        try:
            return regulator_pdf(incident, regime)
        except NoObligation as exc:
            raise CommandError(str(exc)) from None
