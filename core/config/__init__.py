"""Settings (environment variables), limits on what users may ask for, and the device policy."""

from core.config.device import DeviceInfo, default_device, describe, pick_device
from core.config.limits import SESSION_IMAGE_BYTES, SESSION_IMAGES, Limit, LimitExceeded
from core.config.settings import Settings, get_settings

__all__ = [
    "SESSION_IMAGES",
    "SESSION_IMAGE_BYTES",
    "DeviceInfo",
    "Limit",
    "LimitExceeded",
    "Settings",
    "default_device",
    "describe",
    "get_settings",
    "pick_device",
]
