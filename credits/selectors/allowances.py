"""Reads of recurring allowances: a payer's templates and what each was issued as."""

from django.db.models import Count, Max, QuerySet

from credits.models import AllowanceIssue, AllowanceTemplate


def allowance_template_list(*, attribution_id: str, active_only: bool = False) -> QuerySet[AllowanceTemplate]:
    """The payer's templates, oldest first, with how many cycles each was issued for and the
    start of the last one."""
    templates = AllowanceTemplate.objects.filter(attribution_id=attribution_id)
    if active_only:
        templates = templates.filter(active=True)
    return (
        templates.select_related("feature")
        .annotate(issued_cycles=Count("issues"), last_issued_cycle=Max("issues__cycle_start"))
        .order_by("id")
    )


def allowance_issue_list(*, template: AllowanceTemplate) -> QuerySet[AllowanceIssue]:
    return AllowanceIssue.objects.filter(template=template).select_related("grant").order_by("-cycle_start")
