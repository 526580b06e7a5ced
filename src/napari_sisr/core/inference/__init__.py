"""Tiled super-resolution over dask arrays.

:mod:`.predict` (the job: ``predict`` / ``iter_predict``), :mod:`.config` (its validated
settings), :mod:`.input` (input layout), :mod:`.runner` (the model inside tasks),
:mod:`.tiling` (tile plans), :mod:`.graph` (the dask graph), :mod:`.execute` (running it with
progress and cancellation), :mod:`.output` (memory, TIFF or OME-Zarr targets) and
:mod:`.intensity` (global normalisation).
"""
