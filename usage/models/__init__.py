from usage.models.ledger import CostCenter, CostCenterVersion, UsageEntry
from usage.models.workspaces import WorkspaceClass, WorkspaceInstance

__all__ = ["CostCenter", "CostCenterVersion", "UsageEntry", "WorkspaceClass", "WorkspaceInstance"]
