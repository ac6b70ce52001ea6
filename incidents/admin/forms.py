from django import forms
from django.conf import settings
from django.contrib.admin import widgets as admin_widgets
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.utils.text import capfirst

from incidents import containment_types
from incidents.constants import (
    Audience,
    Category,
    DetectionSignal,
    DismissReason,
    Impact,
    Severity,
    StakeholderRole,
)
from incidents.models import TriageRule


def error_text(exc: ValidationError) -> str:
    """One readable sentence per problem: "To version: required for roll back prompt/model version."."""
    if hasattr(exc, "error_dict"):
        parts = []
        for name, errors in exc.message_dict.items():
            text = " ".join(e.rstrip(".") + "." for e in errors)
            if name != "__all__":
                text = f"{name.replace('_', ' ').capitalize()}: {text[:1].lower()}{text[1:]}"
            parts.append(text)
        return " ".join(parts)
    return " ".join(m.rstrip(".") + "." for m in exc.messages)


class LabelledSplitDateTime(admin_widgets.AdminSplitDateTime):
    """The admin's date and time inputs, each with a name a screen reader says: "Occurred at: date".

    Django labels the pair but neither input (a split widget's label points at no single input). The
    name comes from the field's name the way Django makes a verbose name, which is what the page shows
    for a field without one.
    """

    def get_context(self, name, value, attrs):
        context = super().get_context(name, value, attrs)
        label = capfirst(name.rsplit("-", 1)[-1].replace("_", " "))  # without a formset prefix
        for subwidget, part in zip(context["widget"]["subwidgets"], ("date", "time"), strict=False):
            subwidget["attrs"]["aria-label"] = f"{label}: {part}"
        return context


def staff_users():
    return get_user_model().objects.filter(is_active=True, is_staff=True).order_by("username")


class TriageRuleForm(forms.ModelForm):
    default_containment = forms.MultipleChoiceField(
        choices=containment_types.choices, widget=forms.CheckboxSelectMultiple, required=False
    )
    required_stakeholders = forms.MultipleChoiceField(
        choices=StakeholderRole.choices, widget=forms.CheckboxSelectMultiple, required=False
    )
    required_communications = forms.MultipleChoiceField(
        choices=Audience.choices, widget=forms.CheckboxSelectMultiple, required=False
    )

    class Meta:
        model = TriageRule
        fields = [
            "severity",
            "default_containment",
            "required_stakeholders",
            "requires_postmortem",
            "required_communications",
            "page_within_minutes",
            "notes",
        ]


class ContainmentForm(forms.Form):
    """Record a containment action: the type, then one input per parameter any registered type takes."""

    action_type = forms.ChoiceField(choices=containment_types.choices)
    description = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))
    approved_by = forms.ModelChoiceField(queryset=staff_users(), required=False)
    is_reversible = forms.BooleanField(required=False, initial=True)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["approved_by"].queryset = staff_users()
        # The parameters come from the registry when the form is made, so a type registered since the
        # module was imported has its inputs; they sit between the type and the description.
        fields = {"action_type": self.fields.pop("action_type")}
        fields.update((p.name, p.form_field()) for p in containment_types.all_parameters())
        fields.update(self.fields)
        self.fields = fields

    def parameters(self) -> dict:
        """Every parameter input filled in; the service refuses one the chosen type does not take."""
        names = [p.name for p in containment_types.all_parameters()]
        return {name: self.cleaned_data[name] for name in names if self.cleaned_data.get(name)}


class TimelineNoteForm(forms.Form):
    text = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), max_length=5000)
    occurred_at = forms.DateTimeField(required=False, help_text="When it happened (UTC); empty for now")


class TransitionForm(forms.Form):
    expected_state = forms.CharField()
    reason = forms.CharField(required=False, max_length=2000)
    dismiss_reason = forms.ChoiceField(choices=[("", "—")] + DismissReason.choices, required=False)
    duplicate_of = forms.IntegerField(required=False, min_value=1)


class RevertForm(forms.Form):
    reason = forms.CharField(max_length=2000)


class DeclareIncidentForm(forms.Form):
    """The one-screen "Declare incident" form: what the triage matrix needs, nothing more."""

    title = forms.CharField(max_length=200, widget=forms.TextInput(attrs={"autofocus": True, "size": 60}))
    feature = forms.ModelChoiceField(queryset=None, label="AI feature", empty_label="— choose the AI feature —")
    category = forms.ChoiceField(choices=[("", "— choose a category —"), *Category.choices])
    impact = forms.ChoiceField(
        choices=Impact.choices,
        initial=Impact.LIMITED,
        widget=forms.RadioSelect,
        help_text="With the category, this gives the severity from the triage matrix.",
    )
    users_affected = forms.IntegerField(min_value=0, required=False, label="Users affected")
    public_link = forms.URLField(
        required=False, assume_scheme="https", label="Public link", help_text="Where it went public, if it did."
    )
    detection_signal = forms.ChoiceField(
        choices=DetectionSignal.choices, initial=DetectionSignal.INTERNAL_DISCOVERY, label="How we found out"
    )
    commander = forms.ModelChoiceField(queryset=None, empty_label="— nobody yet —", required=False)
    severity_override = forms.ChoiceField(
        choices=[("", "— as the triage matrix says —"), *Severity.choices], required=False, label="Severity override"
    )
    severity_override_reason = forms.CharField(required=False, label="Reason for the override")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        from incidents.models import AIFeature

        self.fields["feature"].queryset = AIFeature.objects.order_by("name")
        self.fields["commander"].queryset = staff_users()
        self.fields["category"].help_text = "What the model did wrong; the category's meaning is in the list below."

    def clean(self):
        data = super().clean()
        if data.get("severity_override") and not (data.get("severity_override_reason") or "").strip():
            self.add_error("severity_override_reason", "Say why the triage matrix's severity is wrong.")
        if data.get("severity_override_reason") and not data.get("severity_override"):
            self.add_error("severity_override", "Choose the severity the reason argues for, or clear the reason.")
        impact = data.get("impact")
        users = data.get("users_affected") or 0
        if impact == Impact.WIDESPREAD and users < settings.FIRELINE_WIDESPREAD_USERS:
            self.add_error(
                "users_affected",
                f"Widespread means at least {settings.FIRELINE_WIDESPREAD_USERS} users: say how many are affected.",
            )
        if data.get("public_link") and impact in (Impact.LIMITED, Impact.WIDESPREAD):
            self.add_error("impact", "A public link makes it public: choose Public (or Regulatory).")
        return data

    def service_kwargs(self) -> dict:
        """The keyword arguments for incidents.services.incident_open."""
        data = self.cleaned_data
        impact = data["impact"]
        return {
            "title": data["title"],
            "feature": data["feature"],
            "category": data["category"],
            "detection_signal": data["detection_signal"],
            "users_affected": data.get("users_affected") or 0,
            "is_public": impact == Impact.PUBLIC,
            "involves_privacy": impact == Impact.REGULATORY,
            "public_link": data.get("public_link") or "",
            "commander": data.get("commander"),
            "severity_override": data.get("severity_override") or "",
            "severity_override_reason": (data.get("severity_override_reason") or "").strip(),
        }
