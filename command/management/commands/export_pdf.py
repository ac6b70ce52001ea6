"""`export_pdf postmortem|regulator ID -o FILE.pdf [--regime CODE]`: the same PDFs as the download links.

`summary ID` (the incident summary) and `communication ID` (an approved or sent communication, by its own
id) too; `--variant public` for postmortem and summary (a variant a document does not have is refused, as
the download link refuses it); `--archive` for a PDF/A-3b; `--revision N` for a post-mortem's published
revision; `--step ID` for one report of a regulator's chain.
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
from incidents.exports.audience import Variant
from incidents.exports.pdf import NoSuchRevision
from incidents.models import Communication, Incident, PostMortem, Regime, RegulatoryObligation

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
        parser.add_argument("--variant", default=None, help="postmortem, summary: internal (default) or public.")
        parser.add_argument("--archive", action="store_true", help="PDF/A-3b (postmortem, summary: timeline as JSON).")
        parser.add_argument("--revision", type=int, help="postmortem: a published revision (default: the latest).")
        parser.add_argument("--step", type=int, help="regulator: one report of the chain (the obligation's id).")

    def handle(self, *args, kind, id, output, regime=None, **options):
        if kind in NOT_YET:
            raise CommandError(NOT_YET[kind])
        supported = {
            "regulator": [Variant.REGULATOR],
            "postmortem": [Variant.INTERNAL, Variant.PUBLIC],
            "summary": [Variant.INTERNAL, Variant.PUBLIC],
        }.get(kind, [Variant.INTERNAL])
        self.revision, self.step = options.get("revision"), options.get("step")
        try:
            self.variant = parse_variant(options.get("variant"), supported=supported, default=supported[0])
        except UnknownVariant as exc:
            raise CommandError(str(exc)) from None
        self.archive = options.get("archive", False)
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
        try:
            return postmortem_pdf(postmortem, variant=self.variant, archive=self.archive, revision=self.revision)
        except NoSuchRevision as exc:
            raise CommandError(str(exc)) from None

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
        step = None
        if self.step is not None:
            step = RegulatoryObligation.objects.filter(pk=self.step, incident=incident, rule__regime=regime).first()
            if step is None:
                raise CommandError(f"No report {self.step} under {code} for incident {id}.")
        try:
            return regulator_pdf(incident, regime, step=step, archive=self.archive)
        except NoObligation as exc:
            raise CommandError(str(exc)) from None
