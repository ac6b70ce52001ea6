"""The public report form at /report/: no login, rate limited per client address, a honeypot for bots.

The product can link to it with the feature and request id filled in:
/report/?feature=support-bot&request_id=req_123.

The client address is REMOTE_ADDR. Behind a reverse proxy, set RATELIMIT_IP_META_KEY (django-ratelimit)
to the header the proxy puts the client's address in, or every reporter shares the proxy's limit.
"""

from django import forms
from django.conf import settings
from django.core.exceptions import ValidationError
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods
from django_ratelimit.decorators import ratelimit

from incidents.constants import Category
from incidents.models import AIFeature, ReportSource
from incidents.services.reports import CONTACT_MAX, REPORT_TEXT_MAX, REQUEST_ID_MAX, report_submit

# The categories in the words of someone who just got a bad answer, not in the playbook's.
PUBLIC_CATEGORY_LABELS = {
    Category.HARMFUL_OUTPUT: "It was harmful, offensive or dangerous",
    Category.DATA_LEAK: "It showed private or personal information",
    Category.FACTUAL_MISINFORMATION: "It stated something false",
    Category.UNAUTHORIZED_ACTION: "It did something it should not have done",
    Category.SCALE_DEGRADATION: "Its answers have got worse in general",
    Category.CAPABILITY_LOSS: "It refused, failed or did not answer",
}
HONEYPOT_FIELD = "website"


def form_rate(group, request) -> str:
    """POSTs per client address; a setting so a deployment (or a test) can change it."""
    return getattr(settings, "FIRELINE_REPORT_FORM_RATE", "5/m")


class FeatureChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj):
        return obj.name


class PublicReportForm(forms.Form):
    feature = FeatureChoiceField(
        queryset=AIFeature.objects.order_by("name", "pk"),
        to_field_name="key",
        empty_label="Choose the feature…",
        label="Which feature was it?",
        error_messages={
            "required": "Choose the feature that gave the answer.",
            "invalid_choice": "Choose one of the features in the list.",
        },
    )
    what_user_saw = forms.CharField(
        label="What did you see?",
        help_text="Paste the answer if you can, or describe it.",
        max_length=REPORT_TEXT_MAX,
        widget=forms.Textarea(attrs={"rows": 6}),
        error_messages={"required": "Tell us what you saw."},
    )
    category = forms.ChoiceField(
        label="What was wrong with it?",
        required=False,
        choices=[("", "Not sure / something else")] + [(value, PUBLIC_CATEGORY_LABELS[value]) for value in Category],
    )
    what_was_wrong = forms.CharField(
        label="Tell us why it was wrong",
        max_length=REPORT_TEXT_MAX,
        widget=forms.Textarea(attrs={"rows": 4}),
        error_messages={"required": "Tell us why the answer was wrong."},
    )
    request_id = forms.CharField(
        label="Request ID (optional)",
        help_text="If the product showed an ID with the answer, paste it here.",
        required=False,
        max_length=REQUEST_ID_MAX,
    )
    contact = forms.CharField(
        label="Your email or phone",
        help_text="Only if you are happy for us to ask you about this report.",
        required=False,
        max_length=CONTACT_MAX,
        widget=forms.TextInput(attrs={"autocomplete": "email"}),
    )
    contact_consent = forms.BooleanField(
        label="You may keep my contact details to ask me about this report.",
        required=False,
    )
    # The honeypot: people never see it (CSS) and screen readers skip it (aria-hidden); bots fill it.
    website = forms.CharField(
        label="Leave this empty",
        required=False,
        widget=forms.TextInput(attrs={"tabindex": "-1", "autocomplete": "off"}),
    )

    def clean(self):
        data = super().clean()
        if data.get("contact", "").strip() and not data.get("contact_consent"):
            self.add_error(
                "contact_consent", "Tick this box so we may keep your contact, or leave the contact field empty."
            )
        return data

    # What the error summary at the top calls each field (the consent box's label is a sentence).
    SHORT_LABELS = {
        "feature": "Feature",
        "what_user_saw": "What you saw",
        "category": "What was wrong",
        "what_was_wrong": "Why it was wrong",
        "request_id": "Request ID",
        "contact": "Contact",
        "contact_consent": "Consent",
    }

    @property
    def error_summary(self) -> list[tuple[str, str, str]]:
        """(field id, short label, message) for each error, in the order of the form."""
        return [
            (field.id_for_label, self.SHORT_LABELS.get(field.name, field.label), error)
            for field in self.visible_fields_but_honeypot
            for error in field.errors
        ]

    @property
    def is_bot(self) -> bool:
        return bool(self.cleaned_data.get(HONEYPOT_FIELD, "").strip())

    @property
    def visible_fields_but_honeypot(self):
        return [field for field in self.visible_fields() if field.name != HONEYPOT_FIELD]


@require_http_methods(["GET", "POST"])
# Counted in the "ratelimit" cache (RATELIMIT_USE_CACHE): Redis, shared by every process; while Redis is
# lost, each process counts on its own (config.cache local_fallback): limited, neither a 500 nor open.
@ratelimit(key="ip", rate=form_rate, method="POST", block=False)
def report_form(request):
    if request.method == "POST" and getattr(request, "limited", False):
        # Nothing is stored; the form comes back with what they wrote, so waiting costs them no retyping.
        typed = {name: value for name, value in request.POST.items() if name in PublicReportForm.base_fields}
        typed.pop(HONEYPOT_FIELD, None)
        form = PublicReportForm(initial=typed)
        response = render(request, "incidents/report_form.html", {"form": form, "limited": True}, status=429)
        response["Retry-After"] = "60"
        return response
    if request.method == "POST":
        form = PublicReportForm(request.POST)
        if form.is_valid():
            if form.is_bot:
                # Pretend it worked: a bot told it failed tries again, differently.
                return redirect("report-thanks")
            data = form.cleaned_data
            try:
                report_submit(
                    feature_key=data["feature"].key,
                    what_user_saw=data["what_user_saw"],
                    what_was_wrong=data["what_was_wrong"],
                    category=data["category"],
                    request_id=data["request_id"],
                    contact=data["contact"],
                    contact_consent=data["contact_consent"],
                    source=ReportSource.FORM,
                )
            except ValidationError as exc:
                for name, messages in exc.message_dict.items():
                    form.add_error(name if name in form.fields else None, messages)
            else:
                return redirect("report-thanks")
    else:
        initial = {
            name: request.GET[name][:200] for name in ("feature", "request_id") if request.GET.get(name, "").strip()
        }
        form = PublicReportForm(initial=initial)
    return render(request, "incidents/report_form.html", {"form": form})


@require_http_methods(["GET"])
def report_thanks(request):
    return render(request, "incidents/report_thanks.html")
