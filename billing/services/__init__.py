from billing.services.teams import membership_add, team_create

__all__ = ["membership_add", "team_create"]
