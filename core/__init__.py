"""ConvLens core: everything the dashboard shows, computed without Streamlit.

Domain packages, each behind a small façade (its ``__init__``) that its page imports:
``models``, ``datasets``, ``features``, ``explain``, ``transfer`` and ``detection``, over a
shared layer (``config``, ``io``, ``util``, ``viz``, ``errors``). Dependencies point one way,
shared layer <- models, datasets <- features, explain, transfer, detection; ``kit`` (the
offline weights kit, for classifiers and YOLO alike) sits on top. import-linter checks this
(``lint-imports``, contracts in ``pyproject.toml``). Nothing here imports Streamlit.
"""

__version__ = "0.1.0"

from core import lazy_dynamo

lazy_dynamo.install()  # torchvision's first import skips loading TorchDynamo (1.5 s of a cold start)
