"""Import torchvision without loading TorchDynamo: 1.5 s off every cold start.

torchvision 0.29's ``ops/roi_align.py`` imports one helper from ``torch._dynamo.utils`` when
torchvision is imported, and that loads all of TorchDynamo (sympy and triton with it): 1.5 of
the 1.6 s torchvision takes to import on a 2-core machine, on the way to the first page. ConvLens
never compiles, and ``roi_align`` calls the helper only for deterministic algorithms on a GPU.

:func:`install` (called by ``core/__init__``) puts an import hook in place for torchvision's
first import: while torchvision's package runs, ``torch._dynamo.utils`` is a stand-in whose
``is_compile_supported`` imports the real one when first called; once torchvision is imported,
the stand-ins are gone and ``torch._dynamo`` imports as usual (``torch.compiler``, Ultralytics).
Another torchvision version, or TorchDynamo already loaded, and torchvision imports unchanged.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import importlib.metadata
import sys
import types

VERSIONS = ("0.29.",)  # torchvision versions whose import-time use of torch._dynamo is this one name


def is_compile_supported(device_type: str) -> bool:
    """``torch._dynamo.utils.is_compile_supported``, imported when first called."""
    from torch._dynamo.utils import is_compile_supported as real

    return real(device_type)


class _Loader(importlib.abc.Loader):
    """torchvision's own loader, run with the stand-ins in ``sys.modules``."""

    def __init__(self, loader: importlib.abc.Loader) -> None:
        self.loader = loader

    def create_module(self, spec):
        return self.loader.create_module(spec)

    def exec_module(self, module: types.ModuleType) -> None:
        import torch

        package = types.ModuleType("torch._dynamo")
        package.__path__ = []
        utils = types.ModuleType("torch._dynamo.utils")
        utils.is_compile_supported = is_compile_supported
        package.utils = utils
        stand_ins = {"torch._dynamo": package, "torch._dynamo.utils": utils}
        sys.modules.update(stand_ins)
        try:
            self.loader.exec_module(module)
        finally:
            for name, stand_in in stand_ins.items():
                if sys.modules.get(name) is stand_in:
                    del sys.modules[name]
            if torch.__dict__.get("_dynamo") is package:  # torch's own lazy attribute imports the real one
                delattr(torch, "_dynamo")

    def __getattr__(self, name: str):  # resource readers and the like: torchvision's own loader
        return getattr(self.loader, name)


class _Finder(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name != "torchvision":
            return None
        uninstall()
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        if spec is None or spec.loader is None or "torch._dynamo" in sys.modules or not _known_version():
            return spec
        spec.loader = _Loader(spec.loader)
        return spec


def _known_version() -> bool:
    try:
        return importlib.metadata.version("torchvision").startswith(VERSIONS)
    except importlib.metadata.PackageNotFoundError:
        return False


_FINDER = _Finder()


def install() -> None:
    """Import torchvision the lighter way when it is first imported (nothing happens if it already is)."""
    if "torchvision" not in sys.modules and _FINDER not in sys.meta_path:
        sys.meta_path.insert(0, _FINDER)


def uninstall() -> None:
    if _FINDER in sys.meta_path:
        sys.meta_path.remove(_FINDER)
