"""Image datasets: folders, safe zip uploads, generated shapes, decoded tensors, image sets a model runs over."""

from core.datasets.catalog import DatasetChoice, list_datasets
from core.datasets.folders import Dataset, load_dataset
from core.datasets.image_sets import SAMPLES_LABEL, ImageSet, image_sources, load_image_set
from core.datasets.previews import thumbnail, thumbnails
from core.datasets.tensors import ImageTensors, Preprocess, decode_split
from core.datasets.uploads import extract_zip

__all__ = [
    "SAMPLES_LABEL",
    "Dataset",
    "DatasetChoice",
    "ImageSet",
    "ImageTensors",
    "Preprocess",
    "decode_split",
    "extract_zip",
    "image_sources",
    "list_datasets",
    "load_dataset",
    "load_image_set",
    "thumbnail",
    "thumbnails",
]
