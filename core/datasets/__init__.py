"""Image datasets for transfer learning: folders on disk, safe zip uploads, generated shapes, decoded tensors."""

from core.datasets.folders import Dataset, DatasetChoice, list_datasets, load_dataset, thumbnail, thumbnails
from core.datasets.tensors import ImageTensors, Preprocess, decode_split
from core.datasets.uploads import extract_zip

__all__ = [
    "Dataset",
    "DatasetChoice",
    "ImageTensors",
    "Preprocess",
    "decode_split",
    "extract_zip",
    "list_datasets",
    "load_dataset",
    "thumbnail",
    "thumbnails",
]
