from datetime import UTC, datetime
from decimal import Decimal

import factory

from credits.models import Feature, Grant, Ledger
from usage.tests.factories import UsageEntryFactory, new_attribution_id

T0 = datetime(2026, 1, 5, tzinfo=UTC)


class FeatureFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Feature
        django_get_or_create = ("key",)

    key = factory.Sequence(lambda n: f"feature-{n}")
    name = factory.LazyAttribute(lambda o: o.key.replace("-", " ").title())
    meter_slug = "credits"


class LedgerFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Ledger
        django_get_or_create = ("attribution_id",)

    attribution_id = factory.LazyFunction(new_attribution_id)


class GrantFactory(factory.django.DjangoModelFactory):
    """A grant row as is, without the service (for constraint tests); use grant_create elsewhere."""

    class Meta:
        model = Grant

    ledger = factory.SubFactory(LedgerFactory)
    feature = None
    amount = Decimal("100.000000")
    priority = 1
    effective_at = T0


def rated_usage(attribution_id: str, credits, at: datetime):
    """Rated usage credits (what grants without a feature burn), as the workspace pricer writes them."""
    return UsageEntryFactory(
        attribution_id=attribution_id, credits=Decimal(credits), effective_time=at, kind="workspace"
    )
