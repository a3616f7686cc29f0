"""Example plug-ins for dii-hpc, one module per family (see pyproject.toml's entry points)."""
