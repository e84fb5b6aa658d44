"""saraban-gateway: the central e-mail address's clerk (README.md, docs/architecture.md)."""

import warnings

# pyHanko imports cryptography's DSA key class at import time, which cryptography now reports
# as deprecated: a line on the clerk's terminal at every command and from every worker process,
# about a signature algorithm the gateway never uses. Only that one warning is hidden.
warnings.filterwarnings("ignore", message="DSA is deprecated", module=r"pyhanko\.")
