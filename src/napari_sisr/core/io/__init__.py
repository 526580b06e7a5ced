"""Files in and out: images (:mod:`.images`), OME-Zarr (:mod:`.omezarr`), atomic writes
(:mod:`.atomic`)."""
