from django.apps import AppConfig
from django.db.models.signals import post_migrate


class BillingConfig(AppConfig):
    name = "billing"
    verbose_name = "Billing"

    def ready(self) -> None:
        import stripe
        from django.conf import settings

        from billing.selectors import (
            attribution_ids_for_member,
            attribution_ids_for_owner,
            registered_team_attribution_ids,
        )
        from core.access import register_user_attribution_resolver
        from usage.hooks import register_payer_resolver

        register_user_attribution_resolver(
            member_of=attribution_ids_for_member, owner_of=attribution_ids_for_owner
        )
        register_payer_resolver(registered_team_attribution_ids)
        from billing.tasks import recharge_check_after_rating
        from usage.hooks import on_usage_rated

        on_usage_rated(recharge_check_after_rating)  # auto-recharge right after a rating run
        from billing import webhooks  # noqa: F401 - registers the dj-stripe receivers
        from billing.finance_group import sync_after_migrate

        # After every migrate (and a test database's flush): the Finance group's permissions.
        post_migrate.connect(sync_after_migrate, dispatch_uid="billing.finance_group")

        if settings.STRIPE_API_BASE:
            stripe.api_base = settings.STRIPE_API_BASE
