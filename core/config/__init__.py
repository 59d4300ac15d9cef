"""Settings (environment variables), limits on what users may ask for, and the device policy."""

from core.config.device import DeviceInfo, default_device, describe, pick_device
from core.config.limits import EPOCHS, SESSION_IMAGE_BYTES, SESSION_IMAGES, Limit, LimitExceeded
from core.config.links import Decoded, Param, decode, encode
from core.config.network import offline_reason
from core.config.settings import Settings, get_settings

__all__ = [
    "EPOCHS",
    "SESSION_IMAGES",
    "SESSION_IMAGE_BYTES",
    "Decoded",
    "DeviceInfo",
    "Limit",
    "LimitExceeded",
    "Param",
    "Settings",
    "decode",
    "default_device",
    "describe",
    "encode",
    "get_settings",
    "offline_reason",
    "pick_device",
]
