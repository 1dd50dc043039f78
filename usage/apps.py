from django.apps import AppConfig


class UsageConfig(AppConfig):
    name = "usage"
    verbose_name = "Usage"

    def ready(self):
        # A malformed EXPORTER_SOURCES_JSON (or another traffic setting) stops startup, naming it.
        from usage.traffic.config import validate_settings

        validate_settings()
