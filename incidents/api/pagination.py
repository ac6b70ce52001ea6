"""Pages of the API's lists: `limit` and `offset`, both bounded, and a 400 naming either when it is not."""

import re

from rest_framework.exceptions import ValidationError
from rest_framework.pagination import LimitOffsetPagination

_WHOLE = re.compile(r"[0-9]{1,12}")


class BoundedLimitOffsetPagination(LimitOffsetPagination):
    """The REST framework's limit/offset pages, refusing what it would clamp or ignore.

    An unbounded `limit` (or `offset`) reaches the database as a number it may not hold (PostgreSQL's
    LIMIT is a bigint); the client is told the bounds instead of receiving a page it did not ask for.
    """

    default_limit = 50
    max_limit = 500
    max_offset = 1_000_000

    def _bounded(self, request, name: str, low: int, high: int, default: int) -> int:
        raw = request.query_params.get(name)
        if raw is None or raw == "":
            return default
        if not _WHOLE.fullmatch(raw) or not low <= int(raw) <= high:
            raise ValidationError({name: [f"A whole number from {low} to {high:,}."]})
        return int(raw)

    def get_limit(self, request):
        return self._bounded(request, self.limit_query_param, 1, self.max_limit, self.default_limit)

    def get_offset(self, request):
        return self._bounded(request, self.offset_query_param, 0, self.max_offset, 0)

    def get_schema_operation_parameters(self, view):
        parameters = super().get_schema_operation_parameters(view)
        bounds = {
            self.limit_query_param: {"minimum": 1, "maximum": self.max_limit, "default": self.default_limit},
            self.offset_query_param: {"minimum": 0, "maximum": self.max_offset, "default": 0},
        }
        for parameter in parameters:
            parameter["schema"].update(bounds.get(parameter["name"], {}))
        return parameters
