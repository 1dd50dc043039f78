"""Template filters of the finance admin: credits as people read them, payers by name.

`core.admin_tools` is imported inside the functions: template libraries load while unfold's
admin module is still being imported.
"""

from django import template

register = template.Library()


@register.filter
def amount(value) -> str:
    """A credits cell: 2 places with thousands separators, the exact 6 places on hover."""
    from core.admin_tools import money

    return money(value)


@register.simple_tag
def payer(attribution_id: str, known=None) -> str:
    """The payer's name linked to its admin page (the id on hover); "(unknown)" if nobody."""
    from core.admin_tools import payer_html

    return payer_html(attribution_id, {attribution_id: known} if known else {})


@register.filter
def amount_inline(value) -> str:
    """Credits inside a sentence: 2 places with separators, the exact 6 places on hover."""
    from django.utils.html import format_html

    from core.admin_tools import credits_short
    from core.money import format_credits

    return format_html('<span title="{}">{}</span>', format_credits(value), credits_short(value))
