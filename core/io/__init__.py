"""Reading what users and ConvLens supply: images (checked and decoded) and the shipped sample photos."""

from core.io.assets import ASSETS_DIR, sample_images
from core.io.images import ImageSource, image_nbytes, load_image

__all__ = ["ASSETS_DIR", "ImageSource", "image_nbytes", "load_image", "sample_images"]
