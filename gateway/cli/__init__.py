"""`saraban-gateway` on the command line: one module per command group, parts from
gateway.app."""
