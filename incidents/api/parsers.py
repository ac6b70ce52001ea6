"""The API's JSON parser: bad JSON is a 400 that names the place, as every other input error is."""

from rest_framework import parsers
from rest_framework.exceptions import ValidationError

from config import json_input


class JSONParser(parsers.JSONParser):
    """The REST framework's JSON parser, reading through `config.json_input`.

    Deep nesting, huge integers, NaN and Infinity, and text that cannot be stored (NUL, lone surrogates)
    are field errors in the API's usual 400 body ({"detail": ..., "errors": {field: [reason]}}) instead
    of a RecursionError or a database error later.
    """

    def parse(self, stream, media_type=None, parser_context=None):
        body = stream.read() if stream is not None else b""
        try:
            return json_input.loads(body)
        except json_input.JSONInputError as exc:
            raise ValidationError(exc.errors) from exc
