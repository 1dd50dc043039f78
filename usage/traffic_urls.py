"""Ops endpoints of the traffic collector (billing-service shape) and traffic account reads."""

urlpatterns: list = []
