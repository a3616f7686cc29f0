"""Built-in data-quality rules, one module each (a new built-in is one file here)."""
