"""Wise-SrNet classifier heads for fastai: learn the spatial resolution GAP throws away"""

__version__ = "0.1.0"
