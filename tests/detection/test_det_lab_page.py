"""The detection lab page through Streamlit's AppTest: the data shown before training, a run and its comparison."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from core.config.settings import get_settings
from core.datasets.shape_scenes import DET_TRANSFER_CLASSES, write_yolo_dataset
from core.detection import classroom as det_classroom
from core.detection_lab.runs import DetRunConfig, read_det_run
from core.transfer import supervisor
from core.transfer.store import RunWriter, read_status
from tests.apptest import open_page, shown, texts


@pytest.fixture
def data_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    folder = tmp_path / "data"
    monkeypatch.setenv("CONVLENS_DATA_DIR", str(folder))
    write_yolo_dataset(folder / "tiny", DET_TRANSFER_CLASSES, 3, 2, seed=0, size=64)
    return folder


def test_the_dataset_is_shown_with_boxes_counts_sizes_and_bad_lines(data_dir: Path) -> None:
    label = next((data_dir / "tiny" / "labels" / "train").glob("*.txt"))
    label.write_text(label.read_text() + "9 0.5 0.5 0.2 0.2\n")
    at = open_page("det_lab", dl_dataset=str(data_dir / "tiny"))
    assert [m.value for m in at.metric][:3] == ["3", "3", "2"]
    problems = list(at.dataframe[0].value["problem"])
    assert len(problems) == 1 and "class id 9 is unknown" in problems[0] and label.name in problems[0]
    assert list(at.dataframe[1].value["class"]) == list(DET_TRANSFER_CLASSES)
    assert "Image sizes: 64x64" in texts(at) and "No detection runs yet" in texts(at)
    at.button(key="FormSubmitter:dl_form-Train").click().run()
    assert any("label problems" in e.value for e in at.error) and not at.exception


def test_a_broken_data_yaml_gives_a_message_and_the_page_goes_on(data_dir: Path) -> None:
    (data_dir / "tiny" / "data.yaml").write_text("names: [a]\ntrain: images/train\nval: images/nowhere\n")
    at = open_page("det_lab", dl_dataset=str(data_dir / "tiny"))
    assert any("val: images/nowhere" in shown([e.value]) and "does not exist" in e.value for e in at.error)
    assert not at.exception and "No detection runs yet" in texts(at)


@pytest.mark.skipif(not det_classroom.available(), reason="assets/detector/ not trained yet")
@pytest.mark.slow
def test_train_both_strategies_then_compare_them_on_val_images(data_dir: Path) -> None:
    at = open_page("det_lab", dl_dataset=str(data_dir / "tiny"))
    at.select_slider(key="dl_size").set_value(64)
    at.number_input(key="dl_epochs").set_value(1)
    at.button(key="FormSubmitter:dl_form-Train").click().run()
    assert not at.error, [e.value for e in at.error]
    run_id = at.session_state["dl_run_pick"]
    path = get_settings().runs_dir / run_id
    deadline = time.monotonic() + 600
    while read_status(path).active:
        assert time.monotonic() < deadline
        time.sleep(1)
    at.run()
    assert read_det_run(path).status.state == "done", read_status(path).message
    assert not at.exception and not at.error, [e.value for e in at.error]
    rows = at.dataframe[-1].value
    assert list(rows["strategy"]) == ["Frozen backbone", "Fine-tune everything"]
    assert len(at.image) >= 6 and "Best val mAP50" in texts(at)  # preview, legend, 2 strategies x 2 val images


def test_only_the_session_that_started_a_run_sees_its_cancel_button(data_dir: Path) -> None:
    writer = RunWriter.create(DetRunConfig(dataset=str(data_dir / "tiny"), strategies=("scratch",)))
    (writer.path / supervisor.OWNER_FILE).write_text(supervisor._digest("someone-else"))
    writer.status(state="running", pid=os.getpid())  # a live worker, heartbeat now
    try:
        at = open_page("det_lab", dl_dataset=str(data_dir / "tiny"))
        assert at.selectbox(key="dl_run_pick").value == writer.path.name
        assert not [b for b in at.button if b.key == "dl_cancel"]
        assert "only it, or the teacher, can cancel" in shown(c.value for c in at.caption)
        token = at.session_state["run_owner"]
        (writer.path / supervisor.OWNER_FILE).write_text(supervisor._digest(token))
        at.run()
        assert [b for b in at.button if b.key == "dl_cancel"] and not at.exception
    finally:
        writer.status(state="cancelled")
