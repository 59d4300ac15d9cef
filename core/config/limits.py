"""Every limit on what a user can send or start, in one place, each with its message.

A classroom server is shared by many students: these bounds keep one upload or one run
from taking the machine down. Change them here; nothing else hard-codes them.
"""

from __future__ import annotations

from dataclasses import dataclass

from core.errors import ConvLensError


class LimitExceeded(ConvLensError, ValueError):
    """An input is larger than the server allows."""


@dataclass(frozen=True)
class Limit:
    """An upper bound with the message shown when something exceeds it.

    The message is formatted with ``value`` (the limit), ``actual`` and any keyword given
    to :meth:`check`.
    """

    value: float
    message: str

    def check(self, actual: float, **context: object) -> None:
        """Raise :class:`LimitExceeded` when ``actual`` is above the limit."""
        if actual > self.value:
            raise LimitExceeded(self.message.format(value=self.value, actual=actual, **context))


UPLOAD_MB = Limit(
    200,
    "{name} is {actual:.0f} MB; uploads are limited to {value:.0f} MB. "
    "Use a smaller file or ask the server's operator to raise server.maxUploadSize.",
)
IMAGE_PIXELS = Limit(
    40_000_000,
    "{name} is {width}x{height} = {actual:,} pixels, more than the {value:,.0f} allowed "
    "(a file this large can be a decompression bomb). Resize it to fewer pixels.",
)
IMAGE_ASPECT = Limit(
    25,
    "{name} is {width}x{height}: one side is {actual:.0f} times the other, more than the "
    "{value:.0f}x a CNN can use. Crop it to a less extreme shape.",
)
MIN_IMAGE_SIDE = 8  # pixels; smaller images carry nothing a CNN can see.
DATASET_FILES = Limit(
    20_000,
    "The dataset has {actual:,} files; at most {value:,.0f} are allowed. Use a smaller subset.",
)
DATASET_BYTES = Limit(
    2_000_000_000,
    "The dataset unpacks to {actual:,} bytes; at most {value:,.0f} are allowed "
    "(this also stops zip bombs). Use a smaller subset.",
)
UPLOAD_UNPACKED_BYTES = Limit(
    512 * 2**20,
    "{name} unpacks to more than {value:,.0f} bytes of images; one upload may unpack to at most that "
    "(this also stops zip bombs). Use a smaller subset.",
)
UPLOADS_TOTAL_BYTES = Limit(
    4 * 2**30,
    "The server's uploads would hold {actual:,} bytes, more than the {value:,.0f} allowed for all users together. "
    "Uploads older than {days} days are removed automatically; try later or ask the operator for space.",
)
UPLOAD_MAX_AGE_DAYS = 7  # uploaded datasets and models unused (not re-uploaded) this long are deleted
ZIP_MEMBER_RATIO = Limit(
    200,
    "{name} inside the zip is compressed {actual:.0f}:1, more than {value:.0f}:1; "
    "it looks like a zip bomb and is refused.",
)
TRAIN_SECONDS = Limit(
    1800,
    "A training run may last at most {value:.0f} s on this server; "
    "this one is estimated at {actual:.0f} s. Use fewer epochs, a smaller image size or a smaller model.",
)
TRAIN_RUNS = Limit(
    2,
    "{actual} training runs would run at once; at most {value:.0f} may run on this server. "
    "Wait for one to finish, or cancel it.",
)
EPOCHS = Limit(50, "{actual} epochs asked; at most {value:.0f} are allowed per run.")
LABEL_BYTES = Limit(
    1_000_000,
    "{name} is {actual:,} bytes; a label file may have at most {value:,.0f} (about 30 000 boxes). "
    "Check that it is a YOLO label file.",
)
LABEL_LINES = Limit(
    10_000, "{name} has {actual:,} lines; at most {value:,.0f} boxes per image are read. Check the file."
)
DETECTION_IMAGES = Limit(
    32, "{actual} images were given; at most {value:.0f} are detected at once. Choose fewer images."
)
MODEL_CACHE_ENTRIES = 4  # models kept in memory at once (least recently used goes first)
ACTIVATION_CACHE_ENTRIES = 32  # feature-map captures kept (each: every conv map of one model on one image)
ACTIVATION_CACHE_BYTES = 768 * 2**20  # and at most this much memory of maps (the newest is always kept)
SHARED_RESULT_BYTES = 256 * 2**20  # classifications and Grad-CAM maps shared by every session (core.serving)
SHARED_PICTURE_BYTES = 128 * 2**20  # encoded pictures shared by every session (core.serving pictures)
BATCH_MAX = 8  # concurrent requests for one model run as one batch of at most this many (1: no batching)
BATCH_WAIT_MS = 5  # how long the first request of a batch waits for others to join
SESSION_IMAGES = 4  # decoded images kept per browser session (freed with the session)
SESSION_IMAGE_BYTES = 256 * 2**20  # and at most this much memory of them (the newest is always kept)
