"""Reading what users and ConvLens supply: images (checked and decoded), the shipped sample photos,
and the one preprocessing that turns an image into the crop the model sees."""

from core.io.assets import ASSETS_DIR, sample_images
from core.io.images import ImageSource, image_nbytes, load_image
from core.io.preprocess import Preprocess

__all__ = ["ASSETS_DIR", "ImageSource", "Preprocess", "image_nbytes", "load_image", "sample_images"]
