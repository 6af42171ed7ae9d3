"""Central only: Discrepancy and OversellCase records (DESIGN.md §6). Built by the reconciliation issue."""
