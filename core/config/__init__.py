"""Settings (environment variables), limits on what users may ask for, and the device policy."""

from core.config.device import DeviceInfo, default_device, describe, pick_device
from core.config.lessons import Lesson, LessonError, Step, check_references, load_lessons, parse_lesson
from core.config.limits import SESSION_IMAGE_BYTES, SESSION_IMAGES, Limit, LimitExceeded
from core.config.settings import Settings, get_settings
from core.config.what_to_notice import NOTICE, notice

__all__ = [
    "NOTICE",
    "SESSION_IMAGES",
    "SESSION_IMAGE_BYTES",
    "DeviceInfo",
    "Lesson",
    "LessonError",
    "Limit",
    "LimitExceeded",
    "Settings",
    "Step",
    "check_references",
    "default_device",
    "describe",
    "get_settings",
    "load_lessons",
    "notice",
    "parse_lesson",
    "pick_device",
]
