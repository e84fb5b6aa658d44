"""The pure core: parse, extract, classify, compose. Data in, data out; no I/O, no clock
(tests/unit/test_purity.py checks every import)."""
