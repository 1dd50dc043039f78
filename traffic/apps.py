from django.apps import AppConfig


class TrafficConfig(AppConfig):
    name = "traffic"
    verbose_name = "Traffic"

    def ready(self):
        # A malformed EXPORTER_SOURCES_JSON (or another traffic setting) stops startup, naming it.
        from traffic.config import validate_settings

        validate_settings()

        from traffic.selectors import registered_user_attribution_ids
        from usage.hooks import register_payer_resolver

        register_payer_resolver(registered_user_attribution_ids)
