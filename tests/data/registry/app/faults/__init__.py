"""Broken settings and registries for the export's failure tests."""
