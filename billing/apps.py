from django.apps import AppConfig


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
        from billing import webhooks  # noqa: F401 - registers the dj-stripe receivers

        if settings.STRIPE_API_BASE:
            stripe.api_base = settings.STRIPE_API_BASE
