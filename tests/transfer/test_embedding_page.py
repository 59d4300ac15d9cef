"""The transfer page's embedding-map section through AppTest: pretrained and random backbones side by side."""

from pathlib import Path

import pytest

from tests.apptest import open_page
from tests.tiny_datasets import make_dataset


def _metrics(at) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


@pytest.fixture
def data_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    folder = tmp_path / "data"
    monkeypatch.setenv("CONVLENS_DATA_DIR", str(folder))
    return folder


def test_the_embedding_map_compares_pretrained_and_random_backbones(data_dir: Path) -> None:
    make_dataset(data_dir / "<i>bugs", {"<b>ants": 8, "bees": 8}, {"<b>ants": 4, "bees": 4}, size=40)
    at = open_page("transfer", sb_model="tiny_vgg")
    assert "Map the features" in at.button(key="tl_emb_go").label and "5-NN accuracy (val)" not in _metrics(at)
    at.selectbox(key="tl_emb_size").set_value(96)
    at.button(key="tl_emb_go").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    scores = [m.value for m in at.metric if m.label == "5-NN accuracy (val)"]
    assert len(scores) == 2 and all(s.endswith("%") for s in scores)
    specs = [c.proto.spec for c in at.get("plotly_chart")]
    maps = [s for s in specs if "5-NN" in s]
    assert len(maps) == 2
    assert all("&lt;b&gt;ants" in s and "<b>ants" not in s for s in maps), maps[0][:1500]
    at.segmented_control(key="tl_emb_method").set_value("PCA").run()
    assert not at.exception and sum("of variance" in c.proto.spec for c in at.get("plotly_chart")) == 2
