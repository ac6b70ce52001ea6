"""Admin for redaction rules and deletion orders."""

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Count, Q
from django.template.response import TemplateResponse
from django.urls import NoReverseMatch, path, reverse
from django.utils.html import format_html, format_html_join

from incidents.selectors import visible_incidents

from .models import DeletionOrder, RedactionRule
from .redaction import (
    RULE_FIELDS,
    RedactionRuleError,
    compile_rule,
    redact_text,
    redaction_pattern_problem,
    redaction_rule_create,
    redaction_rule_update,
    redaction_rules_compiled,
)
from .retention import deletion_order_carry_out

SAMPLE_TEXT = (
    "Hi, I'm Jane (jane.doe@example.com, +44 20 7946 0958). "
    "My card 4111 1111 1111 1111 was charged twice on order 20261129."
)
TRY_TEXT_MAX = 20_000


class RedactionRuleForm(forms.ModelForm):
    class Meta:
        model = RedactionRule
        fields = list(RULE_FIELDS)

    def clean_pattern(self):
        pattern = self.cleaned_data["pattern"]
        problem = redaction_pattern_problem(pattern)
        if problem:
            raise ValidationError(problem)
        return pattern


class TryRulesForm(forms.Form):
    text = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 6, "cols": 90}),
        max_length=TRY_TEXT_MAX,
        initial=SAMPLE_TEXT,
        help_text="Sample text. Nothing here is stored or logged.",
    )
    pattern = forms.CharField(
        required=False,
        max_length=500,
        widget=forms.TextInput(attrs={"size": 90}),
        help_text="Try this pattern alone (before saving it). Leave empty to run every active rule in order, "
        "as ingest does.",
    )
    replacement = forms.CharField(required=False, max_length=80, initial="[redacted]")

    def clean_pattern(self):
        pattern = self.cleaned_data["pattern"]
        if pattern:
            problem = redaction_pattern_problem(pattern)
            if problem:
                raise ValidationError(problem)
        return pattern


@admin.register(RedactionRule)
class RedactionRuleAdmin(admin.ModelAdmin):
    """Personal-data patterns replaced before audit records are stored, in `position` order.

    Changes apply to records received from then on. Rules are switched off, not deleted, so the names
    in stored records' redaction counts keep meaning something.
    """

    form = RedactionRuleForm
    list_display = ["name", "pattern_shown", "replacement", "is_active", "position"]
    list_editable = ["is_active", "position"]
    list_display_links = ["name"]
    ordering = ["position", "pk"]
    search_fields = ["name", "pattern"]
    change_list_template = "admin/audit/redactionrule/change_list.html"
    change_form_template = "admin/audit/redactionrule/change_form.html"

    @admin.display(description="pattern")
    def pattern_shown(self, obj):
        return format_html("<code>{}</code>", obj.pattern)

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        if change:
            changes = {name: form.cleaned_data[name] for name in form.changed_data if name in RULE_FIELDS}
            redaction_rule_update(rule_id=obj.pk, changes=changes, actor=request.user)
        else:
            values = {name: form.cleaned_data[name] for name in RULE_FIELDS if name in form.cleaned_data}
            obj.pk = redaction_rule_create(values=values, actor=request.user).pk

    def get_urls(self):
        own = [
            path("try/", self.admin_site.admin_view(self.try_view), name="audit_redactionrule_try"),
        ]
        return own + super().get_urls()

    def try_view(self, request):
        """Run a pattern, or all active rules, on sample text and show what ingest would store."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        initial = {}
        rule_id = request.GET.get("rule", "")
        if rule_id.isdigit():
            rule = RedactionRule.objects.filter(pk=rule_id).first()
            if rule is not None:
                initial = {"pattern": rule.pattern, "replacement": rule.replacement}
        form = TryRulesForm(request.POST or None, initial=initial)
        result = None
        if request.method == "POST" and form.is_valid():
            data = form.cleaned_data
            if data["pattern"]:
                rules = [compile_rule(name="this pattern", pattern=data["pattern"], replacement=data["replacement"])]
            else:
                try:
                    rules = redaction_rules_compiled()
                except RedactionRuleError as exc:  # a broken stored rule: say which, as ingest would
                    self.message_user(request, str(exc), messages.ERROR)
                    rules = []
            text, counts = redact_text(data["text"], rules)
            result = {"text": text, "counts": sorted(counts.items()), "rules": [r.name for r in rules]}
        context = {
            **self.admin_site.each_context(request),
            "title": "Try redaction rules",
            "opts": self.model._meta,
            "form": form,
            "result": result,
            "media": self.media + form.media,
        }
        return TemplateResponse(request, "admin/audit/redactionrule/try.html", context)


@admin.register(DeletionOrder)
class DeletionOrderAdmin(admin.ModelAdmin):
    """Orders to remove audit record content. Placed from the audit record list (select records, then
    "Order content deleted"); carried out by a beat task within a minute. Read-only here."""

    list_display = ["__str__", "state", "ordered_by", "ordered_at", "record_count", "incident_link", "done_at"]
    list_filter = ["state"]
    list_select_related = ["ordered_by", "incident"]
    search_fields = ["reason"]
    date_hierarchy = "ordered_at"
    fields = ["state", "reason", "incident_link", "ordered_by", "ordered_at", "done_at", "record_list"]
    readonly_fields = fields
    actions = ["carry_out_now"]

    def get_queryset(self, request):
        qs = super().get_queryset(request).annotate(record_total=Count("records"))
        # An order about a restricted incident is as hidden as the incident.
        return qs.filter(Q(incident__isnull=True) | Q(incident__in=visible_incidents(user=request.user).values("pk")))

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description="records", ordering="record_total")
    def record_count(self, obj):
        return obj.record_total

    @admin.display(description="incident")
    def incident_link(self, obj):
        if not obj.incident_id:
            return "—"
        url = reverse("admin:incidents_incident_change", args=[obj.incident_id])
        return format_html('<a href="{}">{}</a>', url, obj.incident)

    @admin.display(description="records")
    def record_list(self, obj):
        shown = 200
        records = list(obj.records.order_by("pk").values("pk", "request_id", "content_deleted_at")[: shown + 1])
        try:
            reverse("admin:audit_auditrecord_change", args=[0])
            link = True
        except NoReverseMatch:  # the record admin is not registered (yet)
            link = False
        rows = []
        for r in records[:shown]:
            state = "content deleted" if r["content_deleted_at"] else "content still stored"
            if link:
                url = reverse("admin:audit_auditrecord_change", args=[r["pk"]])
                rows.append(format_html('<a href="{}">#{} {}</a> ({})', url, r["pk"], r["request_id"], state))
            else:
                rows.append(format_html("#{} {} ({})", r["pk"], r["request_id"], state))
        more = obj.record_total - shown if len(records) > shown else 0
        html = format_html_join("", "<li>{}</li>", ((row,) for row in rows))
        if more:
            html += format_html("<li>… and {} more</li>", more)
        return format_html("<ul>{}</ul>", html)

    @admin.action(description="Carry out now (instead of within the minute)", permissions=["order_deletion"])
    def carry_out_now(self, request, queryset):
        done = 0
        for order_id in queryset.filter(state=DeletionOrder.State.PENDING).values_list("pk", flat=True):
            deletion_order_carry_out(order_id=order_id)
            done += 1
        self.message_user(request, f"{done} order(s) carried out.", messages.SUCCESS if done else messages.INFO)

    def has_order_deletion_permission(self, request):
        return request.user.has_perm("audit.order_deletion")
