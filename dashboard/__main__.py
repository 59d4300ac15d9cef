"""``python -m dashboard [streamlit options]``: serve ConvLens, warming up while the server starts.

The same as ``streamlit run dashboard/app.py [options]`` (which keeps working), plus a warm-up
thread started first in the same process (:mod:`dashboard.warmup`): PyTorch imports and the
default model loads and answers while Streamlit starts and the browser connects, so the first
page's result is ready sooner. ``CONVLENS_WARMUP=0`` turns the warm-up off.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

APP = Path(__file__).resolve().with_name("app.py")


def main(argv: list[str] | None = None) -> None:
    """Start the warm-up thread, then Streamlit's own command line on the app with ``argv``."""
    if os.environ.get("CONVLENS_WARMUP", "1") != "0":
        from dashboard import warmup

        warmup.start()
    from streamlit.web import cli

    sys.argv = ["streamlit", "run", str(APP), *(sys.argv[1:] if argv is None else argv)]
    cli.main()


if __name__ == "__main__":
    main()
