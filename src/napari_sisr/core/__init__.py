"""Headless core of napari-sisr: numpy, torch and dask only.

Nothing under ``napari_sisr.core`` imports Qt, napari or magicgui.
"""
