"""The offline weights kit: made from local files, verified, used by the app with the network cut."""

import dataclasses
import hashlib
import json
import socket
from pathlib import Path

import pytest
import torch

from core import kit
from core.detection import yolo
from core.errors import WeightsUnavailable
from core.models import classroom, weights
from core.models import registry as zoo
from core.models.loading import MODELS, get_model
from tests.apptest import open_page, texts

KEY, YOLO_NAME = "kit_tiny", "yolo_kit"


@pytest.fixture(autouse=True)
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any attempt to open a network connection fails, as in a classroom without internet."""

    def refuse(*_args, **_kwargs):
        raise OSError("network is unreachable (cut by the test)")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    MODELS.clear()
    yield
    MODELS.clear()


@pytest.fixture
def mirror(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    """A folder serving a zoo model and a YOLO model under official-style names.

    The zoo model's file name embeds the start of its sha256, as torchvision's names do, and
    its official URL points at the (unreachable) internet.
    """
    folder = tmp_path / "mirror"
    folder.mkdir()
    torch.manual_seed(1)
    draft = folder / "draft.pth"
    torch.save(classroom.TinyVGG().state_dict(), draft)
    name = f"tinyvgg_kit-{weights.sha256_of(draft)[:8]}.pth"
    draft.rename(folder / name)
    card = dataclasses.replace(
        zoo.model_card(classroom.KEY),
        key=KEY,
        label="Kit Tiny",
        weights_file=name,
        weights_url=f"https://download.example.invalid/models/{name}",
        bundled_weights=None,
    )
    monkeypatch.setitem(zoo.ZOO, KEY, dataclasses.replace(zoo.entry(classroom.KEY), key=KEY, card_fn=lambda _: card))
    monkeypatch.setitem(yolo.YOLO_WEIGHTS, YOLO_NAME, f"https://download.example.invalid/{YOLO_NAME}.pt")
    (folder / f"{YOLO_NAME}.pt").write_bytes(bytes(range(256)) * 40)
    zoo.model_card.cache_clear()
    yield folder
    zoo.model_card.cache_clear()


def test_kit_from_a_mirror_is_used_by_the_app_without_network(
    mirror: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CONVLENS_OFFLINE")  # online as far as the app knows; the test cut the network
    folder = tmp_path / "usb" / "kit"
    report = kit.download(folder, [KEY], [YOLO_NAME], mirror=str(mirror))
    assert report.ok and report.ready() == (KEY,) and report.ready(kit.YOLO) == (YOLO_NAME,)
    manifest = json.loads((folder / kit.MANIFEST).read_text())
    for entry in manifest["files"]:
        data = (folder / entry["name"]).read_bytes()
        assert entry["sha256"] == hashlib.sha256(data).hexdigest() and entry["size"] == len(data)
        assert data == (mirror / entry["name"]).read_bytes()
    assert {e["name"] for e in manifest["files"]} == {zoo.model_card(KEY).weights_file, f"{YOLO_NAME}.pt"}

    monkeypatch.setenv("CONVLENS_WEIGHTS_DIR", str(folder))
    loaded = get_model(KEY, pretrained=True)
    assert loaded.trained and loaded.source.startswith("weights folder")
    expected = torch.load(mirror / zoo.model_card(KEY).weights_file, weights_only=True)
    assert torch.equal(loaded.module.features.conv_1_1.weight, expected["features.conv_1_1.weight"])
    assert yolo.find_model(YOLO_NAME) == folder / f"{YOLO_NAME}.pt"


def test_verify_names_corrupt_truncated_and_missing_files(mirror: Path, tmp_path: Path, capsys) -> None:
    folder = tmp_path / "kit"
    kit.download(folder, [KEY], [YOLO_NAME], mirror=str(mirror))
    weights_file = folder / zoo.model_card(KEY).weights_file
    data = bytearray(weights_file.read_bytes())
    data[len(data) // 2] ^= 0xFF  # same size, one byte flipped
    weights_file.write_bytes(bytes(data))
    (folder / f"{YOLO_NAME}.pt").write_bytes(b"cut short")
    quick, full = kit.verify(folder, checksums=False), kit.verify(folder)
    assert quick.problems == (
        f"{YOLO_NAME}.pt ({YOLO_NAME}): 9 bytes where the manifest says 10,240: incomplete or replaced",
    )
    assert not full.ok and full.ready() == ()
    assert f"{weights_file.name} ({KEY}): corrupt: its sha256 does not start with" in full.problems[0]
    (folder / f"{YOLO_NAME}.pt").unlink()
    assert kit.main(["verify", str(folder)]) == 1
    out = capsys.readouterr().out
    assert f"BAD {weights_file.name} ({KEY}): corrupt" in out and f"BAD {YOLO_NAME}.pt ({YOLO_NAME}): missing" in out
    # Fetching one file again repairs it; the other stays listed, and named, until it is fetched too.
    repaired = kit.download(folder, [], [YOLO_NAME], mirror=str(mirror))
    assert repaired.ready(kit.YOLO) == (YOLO_NAME,) and repaired.problems[0].startswith(weights_file.name)
    assert kit.download(folder, [KEY], [], mirror=str(mirror)).ok


def test_official_name_with_other_content_is_refused(tmp_path: Path) -> None:
    card = zoo.model_card("resnet18")
    hub = weights.hub_checkpoints_dir()
    hub.mkdir(parents=True)
    torch.save(zoo.entry("resnet18").build().state_dict(), hub / card.weights_file)  # random, not the real file
    folder = tmp_path / "kit"
    with pytest.raises(WeightsUnavailable, match=r"resnet18-f37072fd\.pth.*does not start with f37072fd"):
        kit.download(folder, ["resnet18"], [])  # copied from the hub cache: no network needed
    assert not (folder / card.weights_file).exists()
    # A kit whose manifest vouches for that file still fails on the name's own hash prefix.
    (folder / card.weights_file).write_bytes((hub / card.weights_file).read_bytes())
    entry = {
        "name": card.weights_file,
        "model": "resnet18",
        "kind": kit.CLASSIFIER,
        "size": (hub / card.weights_file).stat().st_size,
        "sha256": weights.sha256_of(hub / card.weights_file),
    }
    (folder / kit.MANIFEST).write_text(json.dumps({"format": 1, "files": [entry]}))
    assert kit.verify(folder).problems == (
        "resnet18-f37072fd.pth (resnet18): corrupt: its sha256 does not start with f37072fd as its name says",
    )


def test_files_in_the_hub_cache_are_copied_without_network(mirror: Path, tmp_path: Path) -> None:
    name = zoo.model_card(KEY).weights_file
    weights.hub_checkpoints_dir().mkdir(parents=True)
    (weights.hub_checkpoints_dir() / name).write_bytes((mirror / name).read_bytes())
    assert kit.download(tmp_path / "kit", [KEY], []).ready() == (KEY,)


def test_failures_are_named_and_the_rest_is_kept(mirror: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "kit"
    with pytest.raises(WeightsUnavailable, match=rf"{YOLO_NAME}\.pt.*CONVLENS_OFFLINE"):
        kit.download(folder, [KEY], [YOLO_NAME])  # offline (conftest); the zoo file is in no cache either
    monkeypatch.delenv("CONVLENS_OFFLINE")
    (mirror / f"{YOLO_NAME}.pt").unlink()
    with pytest.raises(WeightsUnavailable, match=rf"1 file\(s\).*{YOLO_NAME}\.pt") as info:
        kit.download(folder, [KEY], [YOLO_NAME], mirror=str(mirror))
    assert zoo.model_card(KEY).weights_file not in str(info.value)
    assert kit.verify(folder).ready() == (KEY,)
    with pytest.raises(WeightsUnavailable, match=r"network is unreachable"):
        kit.download(folder, [KEY], [YOLO_NAME])  # the official URL, through the cut network


def test_unknown_names_and_no_manifest(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="resnet19"):
        kit.download(tmp_path / "kit", ["resnet19"], [])
    with pytest.raises(ValueError, match="yolov8n"):
        kit.download(tmp_path / "kit", [], ["yolo99"])
    with pytest.raises(ValueError, match="ships with ConvLens"):
        kit.download(tmp_path / "kit", [classroom.KEY], [])
    report = kit.verify(tmp_path)
    assert not report.ok and "python -m core.kit download" in report.problems[0]


def test_command_line_round_trip(mirror: Path, tmp_path: Path, capsys) -> None:
    folder = tmp_path / "kit"
    assert kit.main(["download", str(folder), "--models", KEY, "--yolo", "--mirror", mirror.as_uri()]) == 0
    assert kit.main(["verify", str(folder)]) == 0
    out = capsys.readouterr().out
    assert f"OK  {zoo.model_card(KEY).weights_file} ({KEY})" in out and "Kit OK" in out
    assert kit.main(["download", str(folder), "--models", "resnet19"]) == 1


def test_home_page_shows_the_kit(mirror: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "kit"
    monkeypatch.setenv("CONVLENS_WEIGHTS_DIR", str(folder))
    assert "python -m core.kit download" in texts(open_page("home"))
    kit.download(folder, [KEY], [YOLO_NAME], mirror=str(mirror))
    weights_file = folder / zoo.model_card(KEY).weights_file
    data = bytearray(weights_file.read_bytes())
    data[-1] ^= 0xFF  # same size: only the checksums can tell
    weights_file.write_bytes(bytes(data))
    at = open_page("home")
    assert any("names and sizes checked). Ready offline: Kit Tiny, YOLO yolo_kit." in s.value for s in at.success)
    at.button(key="home_kit_verify").click().run()
    assert any(f"{weights_file.name} ({KEY}): corrupt" in e.value for e in at.error)
    (folder / f"{YOLO_NAME}.pt").unlink()
    at = open_page("home")
    assert any(f"{YOLO_NAME}.pt ({YOLO_NAME}): missing" in e.value for e in at.error)
