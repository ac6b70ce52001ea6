from django import forms
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError

from incidents.constants import Audience, ContainmentType, DismissReason, StakeholderRole
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


def staff_users():
    return get_user_model().objects.filter(is_active=True, is_staff=True).order_by("username")


class TriageRuleForm(forms.ModelForm):
    default_containment = forms.MultipleChoiceField(
        choices=ContainmentType.choices, widget=forms.CheckboxSelectMultiple, required=False
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
    action_type = forms.ChoiceField(choices=ContainmentType.choices)
    from_version = forms.CharField(required=False, max_length=120, help_text="Rollback: the bad version")
    to_version = forms.CharField(required=False, max_length=120, help_text="Rollback: the version restored")
    fallback = forms.CharField(required=False, max_length=200, help_text="Fallback: what users get now")
    cohort = forms.CharField(required=False, max_length=200, help_text="Cohort: who loses the feature, e.g. plan=free")
    pattern = forms.CharField(required=False, max_length=300, help_text="Moderation: the pattern blocked")
    description = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))
    approved_by = forms.ModelChoiceField(queryset=staff_users(), required=False)
    is_reversible = forms.BooleanField(required=False, initial=True)

    PARAMETER_FIELDS = ("from_version", "to_version", "fallback", "cohort", "pattern")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["approved_by"].queryset = staff_users()

    def parameters(self) -> dict:
        return {name: self.cleaned_data.get(name, "") for name in self.PARAMETER_FIELDS if self.cleaned_data.get(name)}


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
