"""Every API error is JSON: {"detail": "...", "errors": {"field": ["reason", ...]}}."""

from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import exceptions, serializers
from rest_framework.views import exception_handler as drf_exception_handler


def exception_handler(exc, context):
    if isinstance(exc, DjangoValidationError):
        exc = exceptions.ValidationError(detail=exc.message_dict if hasattr(exc, "error_dict") else exc.messages)
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, exceptions.ValidationError):
        errors = exc.detail if isinstance(exc.detail, dict) else {"non_field_errors": exc.detail}
        response.data = {"detail": "Invalid input.", "errors": errors}
    elif isinstance(exc, exceptions.NotFound):
        response.data = {"detail": "Not found."}
    return response


# The error bodies, for the OpenAPI schema.
class ErrorBody(serializers.Serializer):
    detail = serializers.CharField()


class ValidationErrorBody(serializers.Serializer):
    detail = serializers.CharField()
    errors = serializers.DictField(
        help_text="What is wrong, by field, nested as the input is: {field: [reason]}, {runs: [{case: [reason]}]}"
    )
