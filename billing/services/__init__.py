from billing.services.teams import membership_add, team_create, team_register

__all__ = ["membership_add", "team_create", "team_register"]
