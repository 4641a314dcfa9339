"""The Python binding and the Rust CLI give the same detections on the same fixtures."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest
from conftest import FIXTURES, IMAGES, ROOT, unavailable

import facecore


def _cli() -> Path:
    cli = Path(os.environ.get("FACECORE_CLI", ROOT / "target" / "debug" / "facecore"))
    if not cli.exists():
        unavailable(f"Rust CLI not built at {cli} (scripts/python-tests.sh builds it)")
    return cli


def test_detect_matches_rust_cli(detector: facecore.Detector) -> None:
    paths = [str(FIXTURES / n) for n in IMAGES]
    out = subprocess.run([str(_cli()), "detect", "--json", *paths], capture_output=True, text=True, check=True)
    by_image: dict[str, list[dict]] = {p: [] for p in paths}
    for line in out.stdout.splitlines():
        rec = json.loads(line)
        by_image[rec["image"]].append(rec)
    total = 0
    for p in paths:
        faces = detector.detect(p)
        rust = by_image[p]
        assert len(faces) == len(rust), p
        for f, r in zip(faces, rust):
            np.testing.assert_allclose(f.bbox, r["box"], atol=1e-3)
            assert f.score == pytest.approx(r["score"], abs=1e-5)
            np.testing.assert_allclose(f.landmarks, np.array(r["landmarks"], np.float32), atol=1e-3)
            total += 1
    assert total >= len(paths)
