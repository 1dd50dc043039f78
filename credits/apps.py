from django.apps import AppConfig


class CreditsConfig(AppConfig):
    name = "credits"
    verbose_name = "Credits"

    def ready(self) -> None:
        from credits.services.usage_events import grant_initial_balance, invalidate_after_backdated_usage
        from traffic import hooks as traffic_hooks
        from usage import hooks as usage_hooks

        usage_hooks.on_usage_backdated(invalidate_after_backdated_usage)
        traffic_hooks.on_traffic_account_created(grant_initial_balance)
