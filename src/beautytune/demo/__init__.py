"""The procedural product-photo generator behind `beautytune demo` (demo data, not core)."""
