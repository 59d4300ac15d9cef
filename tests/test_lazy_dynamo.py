"""torchvision imported without TorchDynamo (core.lazy_dynamo), each case in a fresh interpreter."""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import ROOT


def _run(script: str) -> list[str]:
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout.split()


def test_torchvision_works_without_dynamo_and_dynamo_loads_later_as_usual() -> None:
    out = _run(
        "import sys, torch\n"
        "import core, torchvision\n"
        "from torchvision import ops\n"
        "print('dynamo-after-import', 'torch._dynamo' in sys.modules)\n"
        "x = torch.rand(1, 3, 16, 16)\n"
        "print('roi_align', tuple(ops.roi_align(x, torch.tensor([[0, 0, 0, 8, 8.0]]), 4).shape))\n"
        "boxes = torch.tensor([[0, 0, 10, 10], [1, 1, 10, 10], [20, 20, 30, 30.0]])\n"
        "print('nms', ops.nms(boxes, torch.tensor([0.9, 0.8, 0.7]), 0.5).tolist())\n"
        "print('dynamo-after-ops', 'torch._dynamo' in sys.modules)\n"
        "@torch.compiler.disable\n"
        "def f(t):\n"
        "    return t + 1\n"
        "import torch._dynamo\n"
        "print('real', hasattr(torch._dynamo, 'optimize'), torch._dynamo is sys.modules['torch._dynamo'])\n"
        "from torch._dynamo.utils import is_compile_supported\n"
        "module = sys.modules['torchvision.ops.roi_align']\n"
        "print('supported', module.is_compile_supported('cpu') == is_compile_supported('cpu'), int(f(torch.ones(1))))\n"
        "print('hook-left', any(type(f).__name__ == '_Finder' for f in sys.meta_path))\n"
    )
    assert out == [
        "dynamo-after-import", "False",
        "roi_align", "(1,", "3,", "4,", "4)",
        "nms", "[0,", "2]",
        "dynamo-after-ops", "False",
        "real", "True", "True",
        "supported", "True", "2",
        "hook-left", "False",
    ]  # fmt: skip


def test_another_torchvision_version_or_an_earlier_import_is_left_alone() -> None:
    unknown = _run(
        "import sys\n"
        "from core import lazy_dynamo\n"
        "lazy_dynamo.VERSIONS = ('9.',)\n"
        "import torchvision\n"
        "print('torch._dynamo' in sys.modules, type(torchvision.__spec__.loader).__name__)\n"
    )
    assert unknown == ["True", "SourceFileLoader"]
    earlier = _run("import sys, torchvision, core\nprint('torch._dynamo' in sys.modules, len(sys.meta_path))\n")
    assert earlier[0] == "True"
