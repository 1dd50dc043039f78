"""The credits API routes (features, ledgers, grants, balance, history, reset, entitlements)."""

urlpatterns: list = []
