from rest_framework import serializers

from incidents.constants import Category, IncidentState, Severity
from incidents.models import AIFeature, Incident


class IncidentFilterSerializer(serializers.Serializer):
    state = serializers.ChoiceField(choices=IncidentState.choices, required=False)
    severity = serializers.ChoiceField(choices=Severity.choices, required=False)
    category = serializers.ChoiceField(choices=Category.choices, required=False)
    feature = serializers.SlugField(required=False, help_text="AI feature key")

    def validate_feature(self, value):
        if not AIFeature.objects.filter(key=value).exists():
            raise serializers.ValidationError(f"No AI feature with key {value!r}.")
        return value


class IncidentSerializer(serializers.ModelSerializer):
    reference = serializers.CharField(read_only=True)
    feature = serializers.SlugRelatedField(slug_field="key", read_only=True)
    commander = serializers.SlugRelatedField(slug_field="username", read_only=True)
    members = serializers.SlugRelatedField(slug_field="username", read_only=True, many=True)
    time_to_contain_seconds = serializers.SerializerMethodField()

    class Meta:
        model = Incident
        fields = [
            "id",
            "reference",
            "title",
            "summary",
            "state",
            "severity",
            "category",
            "detection_signal",
            "impact",
            "feature",
            "commander",
            "members",
            "is_restricted",
            "is_public",
            "involves_privacy",
            "users_affected",
            "requires_postmortem",
            "required_communications",
            "occurred_at",
            "detected_at",
            "triaged_at",
            "contained_at",
            "investigating_at",
            "fixed_at",
            "verified_at",
            "postmortem_at",
            "closed_at",
            "dismissed_at",
            "time_to_contain_seconds",
        ]
        read_only_fields = fields

    def get_time_to_contain_seconds(self, obj) -> int | None:
        delta = obj.time_to_contain()
        return int(delta.total_seconds()) if delta is not None else None
