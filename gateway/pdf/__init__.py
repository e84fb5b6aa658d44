"""PDF work on bytes: page-1 text and signature checks, the receive stamp, PAdES signing."""
