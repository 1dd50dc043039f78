from decimal import Decimal, InvalidOperation

from django import template
from django.utils.html import format_html

from core.money import format_credits, format_credits_for_people, to_decimal

register = template.Library()


def _decimal(value) -> Decimal | None:
    if value is None or value == "":
        return None
    try:
        return to_decimal(value)
    except (TypeError, ValueError, InvalidOperation):
        return None


@register.filter
def credits(value) -> str:
    """Credits with their fixed 6 places ("12.500000"), the exact value the API and CSV give."""
    if value is None or value == "":
        return "—"
    return format_credits(value)


@register.filter
def amount(value) -> str:
    """A figure for people: 2 places, thousands separators, Decimal-exact ("1,234.57")."""
    number = _decimal(value)
    if number is None:
        return "—"
    return format_credits_for_people(number)


@register.filter
def figure(value) -> str:
    """`amount` in a span whose title holds the exact 6-place value, one hover away."""
    number = _decimal(value)
    if number is None:
        return "—"
    return format_html('<span class="exact" title="{}">{}</span>', format_credits(number), amount(number))


@register.filter
def clamp100(value) -> int:
    return max(0, min(100, int(value)))
