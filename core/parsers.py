import json
from decimal import Decimal

from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser


class DecimalJSONParser(JSONParser):
    """JSON numbers with a fraction become Decimal, never float: `12.5` stays exact."""

    def parse(self, stream, media_type=None, parser_context=None):
        try:
            return json.loads(stream.read(), parse_float=Decimal, parse_constant=_refuse_constant)
        except (ValueError, UnicodeDecodeError) as exc:
            raise ParseError(f"The body is not valid JSON: {exc}") from exc


def _refuse_constant(name: str):
    raise ValueError(f"{name} is not a number")
