"""Small tools every domain shares: the bounded model cache, hooks that always come off, atomic writes."""

from core.util.bounded_cache import BoundedCache
from core.util.browser_store import BrowserStore
from core.util.cache import ModelCache
from core.util.files import write_atomic
from core.util.hooks import capture_outputs, conv_layers, meta_trace, preserved_state, resolve_layer

__all__ = [
    "BoundedCache",
    "BrowserStore",
    "ModelCache",
    "capture_outputs",
    "conv_layers",
    "meta_trace",
    "preserved_state",
    "resolve_layer",
    "write_atomic",
]
