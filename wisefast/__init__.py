"""Wise-SrNet classifier heads for fastai: learn the spatial resolution GAP throws away

Modules:

- `wisefast.augment`: The paper's Table 3 augmentation (Keras `ImageDataGenerator`) as an albumentations pipeline, as fastai GPU batch transforms, and the Keras/timm input preprocessings as decodable fastai batch transforms."""

__version__ = "0.1.0"
