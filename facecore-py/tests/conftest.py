"""Shared paths and objects for the facecore Python tests (run against the installed wheel)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import NoReturn

import numpy as np
import pytest

import facecore

ROOT = Path(os.environ.get("FACECORE_ROOT", Path(__file__).resolve().parents[2]))
FIXTURES = ROOT / "tests" / "fixtures"
SHARED = ROOT.parent / "shared" / "data"
IMAGES = ["obama.jpg", "obama2.jpg", "biden.jpg", "two_people.jpg", "obama_small.jpg", "astronaut.png"]


def unavailable(reason: str) -> NoReturn:
    """A test's prerequisite is missing: fail where the shared data exists (CI and the
    development machines, whose scripts/python-tests.sh provides every prerequisite) or when
    FACECORE_REQUIRE_SHARED=1 (CI), else skip with the reason printed."""
    if SHARED.exists():
        pytest.fail(f"{reason} (required where {SHARED} exists)")
    if os.environ.get("FACECORE_REQUIRE_SHARED") == "1":
        pytest.fail(f"{reason} (FACECORE_REQUIRE_SHARED=1 requires it)")
    print(f"SKIP: {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def fixtures() -> Path:
    return FIXTURES


@pytest.fixture(scope="session")
def detector() -> facecore.Detector:
    return facecore.Detector()


@pytest.fixture(scope="session")
def pipeline() -> facecore.Pipeline:
    return facecore.Pipeline("accurate")


@pytest.fixture(scope="session")
def obama() -> np.ndarray:
    return facecore.load_image(FIXTURES / "obama.jpg")


def faces_equal(a: list[facecore.Face], b: list[facecore.Face], tol: float = 1e-4) -> bool:
    if len(a) != len(b):
        return False
    for x, y in zip(a, b):
        if not np.allclose(x.bbox, y.bbox, atol=tol) or abs(x.score - y.score) > tol:
            return False
        if not np.allclose(x.landmarks, y.landmarks, atol=tol):
            return False
    return True
