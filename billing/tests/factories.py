from decimal import Decimal

import factory
from django.contrib.auth import get_user_model

from billing.models import Membership, Team

DEFAULT_PASSWORD = "correct-horse-battery"


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.com")
    password = factory.PostGenerationMethodCall("set_password", DEFAULT_PASSWORD)

    @factory.post_generation
    def _save(obj, create, extracted, **kwargs):
        if create:
            obj.save()


class StaffUserFactory(UserFactory):
    is_staff = True
    is_superuser = True


class TeamFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Team

    name = factory.Sequence(lambda n: f"Team {n}")
    slug = factory.Sequence(lambda n: f"team-{n}")


class MembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Membership

    team = factory.SubFactory(TeamFactory)
    user = factory.SubFactory(UserFactory)
    role = Membership.Role.MEMBER


class FinanceUserFactory(UserFactory):
    """Finance staff as deployed: staff, in the Finance group (billing migration 0006), no superuser."""

    username = "finance"
    is_staff = True
    is_superuser = False

    @factory.post_generation
    def finance_group(obj, create, extracted, **kwargs):
        if create:
            from django.contrib.auth.models import Group

            from billing.finance_group import FINANCE_GROUP

            obj.groups.add(Group.objects.get(name=FINANCE_GROUP))


class CreditPurchaseFactory(factory.django.DjangoModelFactory):
    """A purchase row as is, without Stripe (for constraint tests); use credit_purchase_start elsewhere."""

    class Meta:
        model = "billing.CreditPurchase"

    session_id = factory.Sequence(lambda n: f"cs_test_factory{n:06d}")
    attribution_id = factory.LazyFunction(lambda: TeamFactory().attribution_id)
    credits = 500
    amount_minor = 18000


class AutoRechargeFactory(factory.django.DjangoModelFactory):
    """A team's auto-recharge row as is (the service checks the card: use auto_recharge_set there)."""

    class Meta:
        model = "billing.AutoRecharge"

    attribution_id = factory.LazyAttribute(lambda o: TeamFactory().attribution_id)
    enabled = True
    threshold = Decimal("100.000000")
    target = Decimal("1000.000000")
    currency = "eur"
