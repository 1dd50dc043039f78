"""DRF fields for Tally's wire formats: credits as 6-place strings, RFC 3339 times with Z."""

import decimal
import math
import re

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from core.attribution import ATTRIBUTION_PATTERN, HYPHENATED_UUID, normalize_attribution_id
from core.errors import ApplicationError
from core.money import CREDITS_MAX_DIGITS, CREDITS_PLACES, to_credits
from core.timeutils import TIME_PATTERN, format_rfc3339, parse_rfc3339

# A credits string as the schema states it: up to 18 digits, up to 6 places, nothing else
# (no spaces, exponents, "+" or full-width digits, which Decimal would read).
CREDITS_PATTERN = rf"^-?[0-9]{{1,{CREDITS_MAX_DIGITS - CREDITS_PLACES}}}(\.[0-9]{{1,{CREDITS_PLACES}}})?$"
_CREDITS_STRING = re.compile(CREDITS_PATTERN.removesuffix("$") + r"\Z")


class CreditsSerializerField(serializers.DecimalField):
    """Credits in JSON: rendered as "12.500000"; accepted as a string matching CREDITS_PATTERN,
    an int or an exact decimal number (parsed as Decimal by DecimalJSONParser), never a float.
    (core.schema.CreditsSerializerFieldExtension documents exactly that.)"""

    def __init__(self, **kwargs):
        kwargs.setdefault("max_digits", CREDITS_MAX_DIGITS)
        kwargs.setdefault("decimal_places", CREDITS_PLACES)
        kwargs.setdefault("coerce_to_string", True)
        super().__init__(**kwargs)

    def to_internal_value(self, data):
        if isinstance(data, bool | float) or (isinstance(data, str) and not _CREDITS_STRING.match(data)):
            self.fail("invalid")
        try:
            to_credits(data)
        except TypeError:
            self.fail("invalid")
        except decimal.InvalidOperation:  # too many digits to quantize (e.g. 1e999999999)
            self.fail("max_digits", max_digits=self.max_digits)
        except ValueError:
            pass  # the parent names the exact problem (places, digits)
        return super().to_internal_value(data)


@extend_schema_field({"type": "string", "format": "date-time", "pattern": TIME_PATTERN})
class TimeField(serializers.Field):
    """RFC 3339 in, RFC 3339 with Z out; a time without a zone, with spaces around it or outside
    1900..9000 is refused."""

    default_error_messages = {"invalid": "Must be an RFC 3339 time with a zone, e.g. 2026-11-23T12:00:00Z."}

    def to_internal_value(self, data):
        if isinstance(data, str) and data != data.strip():
            self.fail("invalid")
        try:
            return parse_rfc3339(data, field=self.field_name or "time")
        except ApplicationError as exc:
            raise serializers.ValidationError(exc.message) from None

    def to_representation(self, value):
        return format_rfc3339(value)


@extend_schema_field({"type": "string", "pattern": ATTRIBUTION_PATTERN})
class AttributionIdField(serializers.CharField):
    def __init__(self, **kwargs):
        kwargs.setdefault("trim_whitespace", False)  # " team:…" is not the documented pattern
        super().__init__(**kwargs)

    def to_internal_value(self, data):
        value = super().to_internal_value(data)
        try:
            return normalize_attribution_id(value, field=self.field_name or "attribution_id")
        except ApplicationError as exc:
            raise serializers.ValidationError(exc.message, code="invalid_attribution_id") from None


@extend_schema_field({"type": "object", "additionalProperties": {}})
class JSONObjectField(serializers.JSONField):
    """A JSON object (metadata, filters): the schema says `object`, and anything else is a 400."""

    default_error_messages = {
        "not_an_object": "{name} must be a JSON object.",
        "bad_number": "{name} holds a number out of range.",
    }

    def to_internal_value(self, data):
        if not isinstance(data, dict):
            self.fail("not_an_object", name=self.field_name)
        return super().to_internal_value(self._plain_numbers(data))

    def _plain_numbers(self, value):
        """The request parser reads every JSON number as a Decimal (money stays exact); free-form
        metadata is stored as JSON, so its numbers go back to what JSON holds: an int, or a
        float for a fraction (never money: metadata is only labels and filters)."""
        if isinstance(value, dict):
            return {key: self._plain_numbers(inner) for key, inner in value.items()}
        if isinstance(value, list):
            return [self._plain_numbers(inner) for inner in value]
        if isinstance(value, decimal.Decimal):
            if not value.is_finite() or value.adjusted() > 4000:  # no JSON number is that large
                self.fail("bad_number", name=self.field_name)
            if value == value.to_integral_value():
                return int(value)
            as_float = float(value)  # a tiny fraction becomes 0.0 or a subnormal, as JSON readers do
            if math.isinf(as_float):
                self.fail("bad_number", name=self.field_name)
            return as_float
        return value


class UUIDField(serializers.UUIDField):
    """A hyphenated UUID string only: DRF's own field also turns integers (and `false`) into UUIDs."""

    def to_internal_value(self, data):
        if not isinstance(data, str) or not HYPHENATED_UUID.match(data):
            self.fail("invalid", value=data)
        return super().to_internal_value(data)


# Base of the APIs' input serializers: a string field takes a JSON string only (DRF's CharField
# would turn 0 into "0", which the schema, saying `string`, does not allow). A comment, not a
# docstring: drf-spectacular would copy a docstring into every input component's description.
class StrictInputSerializer(serializers.Serializer):
    def to_internal_value(self, data):
        if hasattr(data, "get"):
            errors = {
                name: ["Not a valid string."]
                for name, field in self.fields.items()
                if isinstance(field, serializers.CharField)
                and not field.read_only
                and data.get(name) is not None
                and not isinstance(data.get(name), str)
            }
            if errors:
                raise serializers.ValidationError(errors)
        return super().to_internal_value(data)
