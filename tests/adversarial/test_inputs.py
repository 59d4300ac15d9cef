"""A hostile student's uploads: zips that fill the disk, huge label files, odd weights, images and models."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import textwrap
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from core.config import limits
from core.config.settings import get_settings
from core.datasets.catalog import list_datasets
from core.datasets.folders import load_dataset
from core.datasets.uploads import expire_uploads, extract_zip
from core.detection.boxes import parse_yolo_labels
from core.errors import DatasetError, WeightsError
from core.io.images import load_image
from core.models.weights import read_state_dict
from core.util.bounded_cache import BoundedCache
from tests.conftest import ROOT, shared_path
from tests.tiny_datasets import image_bytes, zip_bytes


def _files(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())


def test_a_zip_of_mostly_non_images_writes_only_the_images_and_lists_the_rest() -> None:
    members = {f"d/{c}/{i}.png": image_bytes(k, i) for k, c in enumerate("ab") for i in range(3)}
    members |= {"d/a/payload.exe": b"MZ" * 1000, "d/b/notes.txt": b"x" * 10_000, "d/huge.bin": bytes(2_000_000)}
    folder = extract_zip(zip_bytes(members), "mixed.zip")
    assert [f for f in _files(folder) if not f.startswith(".")] == sorted(m for m in members if m.endswith(".png"))
    dataset = load_dataset(folder, 0.34)
    assert sorted(s.path for s in dataset.skipped) == ["d/a/payload.exe", "d/b/notes.txt", "d/huge.bin"]


def test_an_empty_class_folder_in_a_zip_is_named_not_dropped() -> None:
    members = {f"d/{c}/{i}.png": image_bytes(k, i) for k, c in enumerate("ab") for i in range(3)}
    buffer = io.BytesIO(zip_bytes(members))
    with zipfile.ZipFile(buffer, "a") as archive:
        archive.writestr("d/empty/", b"")
        archive.writestr("d/only_text/readme.txt", b"no images here")
    folder = extract_zip(buffer.getvalue(), "gaps.zip")
    with pytest.raises(DatasetError, match=r"Empty class folder\(s\): empty, only_text\."):
        load_dataset(folder)


def test_a_zip_that_unpacks_past_the_upload_cap_writes_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    # The attack: a small zip of highly compressible images that unpacks to gigabytes. Scaled down here.
    blank = io.BytesIO()
    Image.new("RGB", (1000, 1000)).save(blank, "BMP")  # 3 MB of zeros, compresses ~1000:1
    members = {f"d/{c}/{i}.bmp": blank.getvalue() for c in "ab" for i in range(3)}
    data = zip_bytes(members)
    monkeypatch.setattr(limits, "ZIP_MEMBER_RATIO", limits.Limit(10_000, limits.ZIP_MEMBER_RATIO.message))
    monkeypatch.setattr(limits, "UPLOAD_UNPACKED_BYTES", limits.Limit(10 * 2**20, limits.UPLOAD_UNPACKED_BYTES.message))
    assert len(data) < 200_000
    with pytest.raises(limits.LimitExceeded, match=r"'bomb\.zip' unpacks to more than"):
        extract_zip(data, "bomb.zip")
    assert _files(get_settings().uploads_dir) == []


def test_uploads_of_all_users_together_are_capped_and_old_ones_expire(monkeypatch: pytest.MonkeyPatch) -> None:
    members = {f"d/{c}/{i}.png": image_bytes(k, i, size=64) for k, c in enumerate("ab") for i in range(3)}
    first = extract_zip(zip_bytes(members), "first.zip")
    used = sum(p.stat().st_size for p in first.rglob("*") if p.is_file())
    monkeypatch.setattr(limits, "UPLOADS_TOTAL_BYTES", limits.Limit(used * 1.5, limits.UPLOADS_TOTAL_BYTES.message))
    other = {k.replace("d/", "e/"): image_bytes(1, i + 10, size=64) for i, k in enumerate(members)}
    with pytest.raises(limits.LimitExceeded, match="all users together"):
        extract_zip(zip_bytes(other), "second.zip")
    old = time.time() - (limits.UPLOAD_MAX_AGE_DAYS + 1) * 86400
    os.utime(first, (old, old))
    second = extract_zip(zip_bytes(other), "second.zip")  # the expired upload made room
    assert not first.exists() and second.is_dir()
    assert expire_uploads() == []


def test_the_model_upload_folder_is_never_offered_as_a_dataset() -> None:
    settings = get_settings()
    (settings.model_uploads_dir).mkdir(parents=True)
    (settings.model_uploads_dir / "abc.pt").write_bytes(b"x")
    extract_zip(zip_bytes({f"d/{c}/{i}.png": image_bytes(k, i) for k, c in enumerate("ab") for i in range(3)}), "a.zip")
    assert not settings.model_uploads_dir.is_relative_to(settings.uploads_dir)
    assert all(not c.path.is_relative_to(settings.model_uploads_dir) for c in list_datasets())


def test_a_million_line_label_file_is_refused_at_once() -> None:
    text = "0 0.5 0.5 0.1 0.1\n" * 1_000_000  # the refusal comes before any line is read
    with pytest.raises(limits.LimitExceeded, match=r"bus.txt is 18,000,000 bytes"):
        parse_yolo_labels(text, source="bus.txt")
    with pytest.raises(limits.LimitExceeded, match=r"has 20,000 lines"):
        parse_yolo_labels("\n" * 19_999 + "0 0.5 0.5 0.1 0.1", source="bus.txt")
    assert len(parse_yolo_labels("0 0.5 0.5 0.1 0.1\n" * 10_000).classes) == 10_000


def test_a_label_file_with_a_byte_order_mark_keeps_its_first_box() -> None:
    raw = "\ufeff0 0.5 0.5 0.2 0.2\n1 0.25 0.25 0.1 0.1\n".encode()
    labels = parse_yolo_labels(raw.decode("utf-8"))  # decoded without -sig: the mark is still there
    assert labels.classes.tolist() == [0, 1] and labels.issues == ()
    assert parse_yolo_labels(raw.decode("utf-8-sig")).classes.tolist() == [0, 1]


@pytest.mark.parametrize("class_id", ["1e30", "9223372036854775808", "2147483648"])
def test_an_enormous_class_id_is_a_skipped_line_not_a_crash(class_id: str) -> None:
    labels = parse_yolo_labels(f"{class_id} 0.5 0.5 0.2 0.2\n0 0.5 0.5 0.1 0.1")
    assert labels.classes.tolist() == [0]
    assert "too large" in labels.issues[0].reason


def test_random_bytes_as_weights_are_called_not_weights_not_code() -> None:
    rng = np.random.default_rng(0)
    for seed in range(20):
        data = np.random.default_rng(seed).bytes(1000 + int(rng.integers(0, 5000)))
        with pytest.raises(WeightsError, match="not a PyTorch weights file") as caught:
            read_state_dict(data)
        assert "run code" not in str(caught.value)


class _RunsCode:
    def __reduce__(self):
        return (os.system, ("echo pwned > /dev/null",))


def test_a_pickle_that_runs_code_is_still_called_so() -> None:
    buffer = io.BytesIO()
    torch.save({"weight": torch.zeros(1), "evil": _RunsCode()}, buffer)
    with pytest.raises(WeightsError, match="would run code"):
        read_state_dict(buffer.getvalue())


def test_a_float_tiff_with_a_nan_is_decoded_not_called_truncated() -> None:
    values = np.linspace(0, 1, 64 * 64, dtype=np.float32).reshape(64, 64)
    values[10, 10], values[20, 20] = np.nan, np.inf
    buffer = io.BytesIO()
    Image.fromarray(values, mode="F").save(buffer, "TIFF")
    pixels = np.asarray(load_image(buffer.getvalue()))
    assert pixels.shape == (64, 64, 3) and pixels[10, 10, 0] == 0 and pixels[20, 20, 0] == 255
    assert pixels[63, 63, 0] == 255 and pixels[0, 1, 0] == 0  # the finite values span black to white


def test_caches_are_bounded_by_bytes() -> None:
    cache: BoundedCache[np.ndarray] = BoundedCache(max_entries=100, max_bytes=10_000)
    for i in range(50):
        cache.get(i, lambda: np.zeros(3_000, np.uint8))
    assert cache.nbytes <= 10_000 and len(cache) == 3
    cache.get("big", lambda: np.zeros(50_000, np.uint8))  # the newest is kept even alone over the bound
    assert len(cache) == 1 and cache.nbytes == 50_000


def test_big_uploaded_images_are_held_per_session_and_bounded() -> None:
    from tests.apptest import open_page

    at = open_page("zoo", sb_source="Upload")
    side = 2000  # 12 MB decoded each
    for i in range(8):
        data = io.BytesIO()
        Image.new("RGB", (side, side), (i * 30, 0, 0)).save(data, "PNG")
        at.session_state["sb_upload_data"] = (f"big{i}.png", data.getvalue())
        at.run()
        assert not at.exception
    cache = at.session_state["ui_decoded"]
    assert len(cache) == limits.SESSION_IMAGES and cache.nbytes <= limits.SESSION_IMAGE_BYTES


LOAD_IN_A_JAIL = textwrap.dedent(
    """
    import json, socket, sys
    from pathlib import Path
    tried = []
    def refuse(self, address, *args):
        tried.append(str(address))
        raise OSError("network blocked by the test")
    socket.socket.connect = refuse
    socket.socket.connect_ex = refuse
    from core.detection import yolo
    result = {"tried": tried}
    for path in sys.argv[1:]:
        try:
            result[Path(path).name] = sorted(yolo.load_model(Path(path)).names.values())[:1]
        except Exception as exc:
            result[Path(path).name] = f"{type(exc).__name__}: {exc}"
    print(json.dumps(result))
    """
)


def _load_in_a_jail(tmp_path: Path, *paths: Path) -> dict:
    home, app = tmp_path / "home", tmp_path / "app"
    home.mkdir()
    env = {**os.environ, "HOME": str(home), "CONVLENS_HOME": str(app), "CONVLENS_OFFLINE": "1"}
    env.pop("ULTRALYTICS_SAFE_LOAD", None)
    done = subprocess.run(
        [sys.executable, "-c", LOAD_IN_A_JAIL, *map(str, paths)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert _files(home) == [], "written outside CONVLENS_HOME"
    return result


@pytest.mark.slow
def test_openvino_stays_offline_and_inside_convlens_home(tmp_path: Path) -> None:
    model = shared_path("weights", "yolov8n_int8_openvino_model")
    result = _load_in_a_jail(tmp_path, model)
    assert result[model.name] == ["airplane"] and result["tried"] == []


def test_a_pt_that_runs_code_in_the_weights_folder_is_refused_unrun(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    evil = tmp_path / "evil.pt"

    class Payload:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    torch.save({"model": Payload(), "train_args": {}}, evil)
    broken = tmp_path / "broken_openvino_model"
    broken.mkdir()
    (broken / "broken.xml").write_text("<xml")
    (broken / "broken.bin").write_bytes(b"\0")
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(np.random.default_rng(0).bytes(4000))
    result = _load_in_a_jail(tmp_path, evil, broken, junk)
    assert not marker.exists(), "the pickle ran"
    assert result["evil.pt"].startswith("WeightsError: Cannot load evil.pt")
    assert result["broken_openvino_model"].startswith("WeightsError: Cannot load broken_openvino_model")
    assert "damaged" in result["broken_openvino_model"]
    assert result["junk.onnx"].startswith("WeightsError: ")
