"""The pages, one per feature; each imports only core façades (checked by lint-imports)."""
