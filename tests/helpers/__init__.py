"""Test helpers: tiny params and small fake datasets in the real on-disk formats."""
