"""What the service keeps and touches outside a call: call log, audit, state store, directory file, gate opener."""
