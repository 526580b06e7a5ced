"""Shared fixtures: real images, tiny helpers.

``nuclei`` (``tests/data``, see ``tests/data/ATTRIBUTION.md``) and ``actin`` (the packaged
sample) are small real images that travel with the repository, so that the core and widget
tests run anywhere. The real LR/HR pairs and the larger images are read from
``../shared/data`` (``NAPARI_SISR_DATA`` moves it): they skip where it is absent, and fail when
the ``CI`` environment variable is set.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
FIXTURES = Path(__file__).resolve().parent / "data"
DATA = Path(os.environ.get("NAPARI_SISR_DATA", REPO.parent / "shared" / "data"))


def _missing(what: str) -> None:
    """Skip a test whose real data is missing; in CI (``CI`` set) fail instead: a suite that
    skips half its tests is green whatever the code does."""
    if os.environ.get("CI"):
        pytest.fail(f"{what} (CI is set: the real data must be there; NAPARI_SISR_DATA moves it)")
    pytest.skip(what)


def shared_path(rel: str) -> Path:
    path = DATA / rel
    if not path.exists():
        _missing(f"shared data not available: {path}")
    return path


@pytest.fixture(scope="session")
def data_dir() -> Path:
    if not DATA.exists():
        _missing(f"shared data folder not found: {DATA}")
    return DATA


@pytest.fixture(scope="session")
def actin() -> np.ndarray:
    """A real widefield fluorescence image (BPAE actin, 512 x 512, float64): the packaged
    sample, so that it travels with the package (CC-BY-4.0, see its ATTRIBUTION.md)."""
    from napari_sisr.sample_data import bpae_actin_hr

    return bpae_actin_hr().astype(np.float64)


@pytest.fixture(scope="session")
def nuclei() -> np.ndarray:
    """A real widefield nuclei image (DSB2018, uint16, 512 x 512; BSD-3, tests/data)."""
    import tifffile

    return tifffile.imread(FIXTURES / "nuclei_dsb2018.tif")


@pytest.fixture(scope="session")
def pyramid_image(nuclei) -> np.ndarray:
    """A 300 x 256 crop of ``nuclei``: at x2 its 600 x 512 output makes two pyramid levels."""
    return nuclei[:300, :256]


def tiny_generator(scale: int = 2, channels: int = 1):
    """A one-block srresnet with seeded weights: fast, deterministic and exportable."""
    import torch

    from napari_sisr.core.archs import build_generator

    torch.manual_seed(0)
    return build_generator("srresnet", "fast", scale, channels, n_blocks=1, nf=8).eval()


@pytest.hookimpl(tryfirst=True, hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Record each phase's report on the test item (napari's viewer fixture reads rep_call)."""
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"rep_{report.when}", report)


@pytest.fixture
def private_model_registry(tmp_path, monkeypatch):
    """A model list of the test's own, never the user's (widget tests)."""
    from napari_sisr.widgets import _models

    monkeypatch.setenv("NAPARI_SISR_CONFIG_DIR", str(tmp_path / "config"))
    _models.default_registry.cache_clear()
    yield
    _models.default_registry.cache_clear()


@pytest.fixture
def private_cache(tmp_path, monkeypatch):
    """A cache folder of the test's own, and no graph compiled by an earlier test."""
    from collections import OrderedDict

    from napari_sisr.core.inference import cache

    monkeypatch.setenv("NAPARI_SISR_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(cache, "_SHARED", OrderedDict())
    return tmp_path / "cache"


@pytest.fixture
def one_torch_thread():
    """Run torch on one thread (training tests: small steps are slower with more)."""
    import torch

    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)
