"""The usage endpoints: the ledger and cost centers (`ledger`), meter events and meters (`meters`)."""
