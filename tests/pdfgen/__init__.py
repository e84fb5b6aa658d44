"""Programmatic test PDFs and a throwaway PKI for the PDF tests (see documents.py, pki.py)."""
