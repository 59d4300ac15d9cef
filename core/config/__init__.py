"""Settings (environment variables), limits on what users may ask for, and the device policy."""

from core.config.device import DeviceInfo, default_device, describe, pick_device
from core.config.lessons import Lesson, LessonError, Step, check_references, load_lessons, parse_lesson
from core.config.limits import EPOCHS, SESSION_IMAGE_BYTES, SESSION_IMAGES, Limit, LimitExceeded
from core.config.links import Decoded, Param, decode, encode
from core.config.network import offline_reason
from core.config.settings import Settings, get_settings
from core.config.what_to_notice import NOTICE, notice

__all__ = [
    "EPOCHS",
    "NOTICE",
    "SESSION_IMAGES",
    "SESSION_IMAGE_BYTES",
    "Decoded",
    "DeviceInfo",
    "Lesson",
    "LessonError",
    "Limit",
    "LimitExceeded",
    "Param",
    "Settings",
    "Step",
    "check_references",
    "decode",
    "default_device",
    "describe",
    "encode",
    "get_settings",
    "load_lessons",
    "notice",
    "offline_reason",
    "parse_lesson",
    "pick_device",
]
