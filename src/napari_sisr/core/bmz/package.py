"""Reading a bioimage.io model package exported by napari-sisr (see :mod:`napari_sisr.core.bmz`).

The zip carries the model in this package's own format (``model.safetensors`` +
``model.json``) beside the bioimage.io weights; only those two files are read, never the
pickled state dict.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from pathlib import Path

from ..errors import InputError

__all__ = ["OWN_FILES", "is_bmz", "unpack_bmz"]

#: Attachments that hold the model in this package's own format.
OWN_FILES = ("model.safetensors", "model.json")


def is_bmz(path: str | os.PathLike) -> bool:
    """Whether ``path`` names a bioimage.io package (a ``.zip`` file)."""
    return str(path).lower().endswith(".zip") and Path(path).is_file()


def unpack_bmz(path: str | os.PathLike) -> Path:
    """The napari-sisr model inside a bioimage.io zip, extracted once into the user cache
    folder (by the zip's content digest); returns the ``.json`` path of the model.

    Raises :class:`InputError` for a zip that is not a bioimage.io package exported by
    napari-sisr (foreign packages carry no model this package can rebuild safely).
    """
    from ..inference.engines import cache_dir
    from ..io.guard import MAX_TEXT_BYTES, load_yaml, open_zip, read_member

    path = Path(path)
    with open_zip(path, "bioimage.io package") as z:
        names = set(z.namelist())
        if "rdf.yaml" not in names and "bioimageio.yaml" not in names:
            raise InputError(f"{path.name} is a zip but not a bioimage.io model package")
        if not set(OWN_FILES) <= names:
            raise InputError(
                f"{path.name} is a bioimage.io package from another tool: it loads as a "
                "network (load_model, --model), not as a napari-sisr model file"
            )
        rdf_name = "rdf.yaml" if "rdf.yaml" in names else "bioimageio.yaml"
        text = read_member(z, rdf_name, path.name, MAX_TEXT_BYTES).decode("utf-8", "replace")
        rdf = load_yaml(text, f"{path.name}: {rdf_name}")
        if not isinstance(rdf, dict) or rdf.get("type", "model") != "model":
            raise InputError(f"{path.name}: {rdf_name} does not describe a model")
        members = {m: read_member(z, m, path.name) for m in OWN_FILES}
    digest = hashlib.sha256()
    for member in OWN_FILES:
        digest.update(members[member])
    folder = cache_dir() / "bmz" / digest.hexdigest()[:16]
    if not (folder / "model.json").exists():
        folder.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(dir=folder.parent, prefix=f".{folder.name}."))
        for member, data in members.items():
            (tmp / member).write_bytes(data)
        try:
            os.replace(tmp, folder)
        except OSError:  # another process got there first
            shutil.rmtree(tmp, ignore_errors=True)
    return folder / "model.json"
