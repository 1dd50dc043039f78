from django import template

from core.money import format_credits

register = template.Library()


@register.filter
def credits(value) -> str:
    """Credits with their fixed 6 places ("12.500000"), the way every Tally surface shows them."""
    if value is None or value == "":
        return "—"
    return format_credits(value)


@register.filter
def clamp100(value) -> int:
    return max(0, min(100, int(value)))
