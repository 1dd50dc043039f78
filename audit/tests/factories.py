import factory
from django.utils import timezone

from audit.models import AuditEvent
from usage.tests.factories import new_attribution_id


class AuditEventFactory(factory.django.DjangoModelFactory):
    """An event as a staff edit in the admin writes it (tests of reading the trail)."""

    class Meta:
        model = AuditEvent

    occurred_at = factory.LazyFunction(timezone.now)
    action = "cost_center.updated"
    object_type = "cost_center"
    object_id = factory.Sequence(str)
    attribution_id = factory.LazyFunction(new_attribution_id)
    actor_kind = AuditEvent.ActorKind.USER
    actor_id = "1"
    actor_label = "finance"
    source = AuditEvent.Source.ADMIN
    before = factory.LazyFunction(lambda: {"spending_limit": "500.000000"})
    after = factory.LazyFunction(lambda: {"spending_limit": "800.000000"})
