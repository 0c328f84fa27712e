"""``python -m atrous.stream._build``: compile the C step of ``StreamingModule(engine="compiled")`` next to its source
(``make`` runs it; needs a C compiler). A separate module so that running it does not re-execute the one the
package has already imported."""

from __future__ import annotations

import sys

from atrous.stream._native import build

if __name__ == "__main__":
    print(f"built {build()}", file=sys.stderr)
