# Hand-written stubs of the native module, checked by `python -m mypy.stubtest facecore._facecore`.
import os
from typing import Any, Final, Literal, TypeAlias, final

import numpy as np
import numpy.typing as npt

__version__: Final[str]

_ImageLike: TypeAlias = (
    npt.NDArray[np.uint8]
    | str
    | os.PathLike[str]
    | bytes
    | bytearray
    | memoryview
    | tuple[npt.NDArray[np.uint8], ...]
    | Any
)
"""numpy uint8 (H, W, 3|4) or (H, W), a path, encoded bytes, or a PIL image; with pixel_format=,
raw pixels (an array, bytes with width= and height=, or a tuple of planes)."""
_ChannelOrder: TypeAlias = Literal["rgb", "bgr"]
_PixelFormat: TypeAlias = Literal["rgb", "bgr", "rgba", "bgra", "gray", "nv12", "nv21", "i420", "yuyv"]
_ColorRange: TypeAlias = Literal["limited", "full"]
_LivenessOp: TypeAlias = Literal["default", "strict"] | float
_Stage: TypeAlias = Literal["first", "second", "full"]
_ArrayLike1: TypeAlias = npt.ArrayLike

@final
class Face:
    @property
    def bbox(self) -> tuple[float, float, float, float]: ...
    @property
    def score(self) -> float: ...
    @property
    def landmarks(self) -> npt.NDArray[np.float32]: ...
    @property
    def embedding(self) -> npt.NDArray[np.float32] | None: ...
    @property
    def space(self) -> str | None: ...
    @property
    def quality(self) -> Quality | None: ...
    @property
    def liveness(self) -> LivenessResult | None: ...

@final
class Quality:
    @property
    def eye_distance(self) -> float: ...
    @property
    def sharpness(self) -> float: ...
    @property
    def brightness(self) -> float: ...
    @property
    def contrast(self) -> float: ...
    @property
    def yaw(self) -> float: ...
    @property
    def pitch(self) -> float: ...
    @property
    def roll(self) -> float: ...
    @property
    def score(self) -> float: ...

@final
class Detector:
    def __new__(
        cls,
        *,
        score_threshold: float = 0.6,
        nms_iou: float = 0.3,
        min_face_size: float = 0.0,
        max_faces: int = 256,
        input_size: int | None = 640,
    ) -> Detector: ...
    def detect(
        self,
        image: _ImageLike,
        *,
        channel_order: _ChannelOrder | str = "rgb",
        pixel_format: _PixelFormat | str | None = None,
        color_range: _ColorRange | str = "limited",
        width: int | None = None,
        height: int | None = None,
    ) -> list[Face]: ...
    @property
    def score_threshold(self) -> float: ...
    @property
    def nms_iou(self) -> float: ...
    @property
    def min_face_size(self) -> float: ...
    @property
    def max_faces(self) -> int: ...
    @property
    def input_size(self) -> int | None: ...

@final
class Recognizer:
    def __new__(cls, preset: str = "accurate") -> Recognizer: ...
    def embed(
        self,
        image: _ImageLike,
        face: Face,
        *,
        channel_order: _ChannelOrder | str = "rgb",
        pixel_format: _PixelFormat | str | None = None,
        color_range: _ColorRange | str = "limited",
        width: int | None = None,
        height: int | None = None,
    ) -> npt.NDArray[np.float32]: ...
    @property
    def space(self) -> str: ...
    @property
    def preset(self) -> str: ...

@final
class Embedder:
    def __new__(cls, model: str) -> Embedder: ...
    @staticmethod
    def custom(like: str, space: str, onnx: bytes | str | os.PathLike[str]) -> Embedder: ...
    def embed_chip(
        self,
        chip: _ImageLike,
        *,
        channel_order: _ChannelOrder | str = "rgb",
        pixel_format: _PixelFormat | str | None = None,
        color_range: _ColorRange | str = "limited",
        width: int | None = None,
        height: int | None = None,
    ) -> npt.NDArray[np.float32]: ...
    @property
    def model(self) -> str: ...
    @property
    def space(self) -> str: ...
    @property
    def input_size(self) -> int: ...

@final
class Verification:
    @property
    def similarity(self) -> float: ...
    @property
    def threshold(self) -> float: ...
    @property
    def same_person(self) -> bool: ...
    def __bool__(self) -> bool: ...

@final
class Identified:
    @property
    def face(self) -> Face: ...
    @property
    def bbox(self) -> tuple[float, float, float, float]: ...
    @property
    def landmarks(self) -> npt.NDArray[np.float32]: ...
    @property
    def quality(self) -> Quality: ...
    @property
    def known(self) -> bool: ...
    @property
    def name(self) -> str | None: ...
    @property
    def person(self) -> int | None: ...
    @property
    def score(self) -> float | None: ...
    @property
    def candidate(self) -> Match | None: ...
    @property
    def threshold(self) -> float: ...
    @property
    def stage(self) -> _Stage: ...
    def __bool__(self) -> bool: ...

@final
class Verified:
    @property
    def similarity(self) -> float: ...
    @property
    def threshold(self) -> float: ...
    @property
    def same_person(self) -> bool: ...
    @property
    def stage(self) -> _Stage: ...
    @property
    def faces(self) -> tuple[Face, Face]: ...
    def __bool__(self) -> bool: ...

@final
class Pipeline:
    def __new__(
        cls,
        preset: str = "accurate",
        *,
        score_threshold: float = 0.6,
        nms_iou: float = 0.3,
        min_face_size: float = 0.0,
        max_faces: int = 256,
        input_size: int | None = 640,
        threads: int = 1,
        liveness: bool | _LivenessOp | None = False,
    ) -> Pipeline: ...
    @property
    def threads(self) -> int: ...
    @property
    def liveness(self) -> float | None: ...
    def enroll(
        self,
        gallery: Gallery,
        name: str,
        image: _ImageLike,
        *,
        min_score: float = 0.4,
        min_eye_distance: float = 16.0,
        min_sharpness: float = 20.0,
        min_brightness: float = 40.0,
        max_brightness: float = 230.0,
        min_contrast: float = 12.0,
        max_yaw: float = 45.0,
        max_pitch: float = 35.0,
        check_quality: bool = True,
        channel_order: _ChannelOrder | str = "rgb",
        pixel_format: _PixelFormat | str | None = None,
        color_range: _ColorRange | str = "limited",
        width: int | None = None,
        height: int | None = None,
    ) -> int: ...
    def analyze(
        self,
        image: _ImageLike,
        *,
        channel_order: _ChannelOrder | str = "rgb",
        pixel_format: _PixelFormat | str | None = None,
        color_range: _ColorRange | str = "limited",
        width: int | None = None,
        height: int | None = None,
    ) -> list[Face]: ...
    def embed_best(
        self,
        image: _ImageLike,
        *,
        channel_order: _ChannelOrder | str = "rgb",
        pixel_format: _PixelFormat | str | None = None,
        color_range: _ColorRange | str = "limited",
        width: int | None = None,
        height: int | None = None,
    ) -> Face | None: ...
    def detect(
        self,
        image: _ImageLike,
        *,
        channel_order: _ChannelOrder | str = "rgb",
        pixel_format: _PixelFormat | str | None = None,
        color_range: _ColorRange | str = "limited",
        width: int | None = None,
        height: int | None = None,
    ) -> list[Face]: ...
    def verify(self, a: _ArrayLike1, b: _ArrayLike1, *, operating_point: str = "fmr1e-3") -> Verification: ...
    def identify(
        self,
        image: _ImageLike,
        gallery: Gallery,
        *,
        operating_point: str = "fmr1e-3",
        channel_order: _ChannelOrder | str = "rgb",
        pixel_format: _PixelFormat | str | None = None,
        color_range: _ColorRange | str = "limited",
        width: int | None = None,
        height: int | None = None,
    ) -> list[Identified]: ...
    def verify_images(
        self,
        image_a: _ImageLike,
        image_b: _ImageLike,
        *,
        operating_point: str = "fmr1e-3",
        channel_order: _ChannelOrder | str = "rgb",
        pixel_format: _PixelFormat | str | None = None,
        color_range: _ColorRange | str = "limited",
        width: int | None = None,
        height: int | None = None,
    ) -> Verified: ...
    def threshold(self, *, operating_point: str = "fmr1e-3") -> float: ...
    @property
    def space(self) -> str: ...
    @property
    def preset(self) -> str: ...
    @property
    def detector(self) -> Detector: ...

@final
class Match:
    @property
    def id(self) -> int: ...
    @property
    def name(self) -> str: ...
    @property
    def score(self) -> float: ...

@final
class Person:
    @property
    def id(self) -> int: ...
    @property
    def name(self) -> str: ...
    @property
    def metadata(self) -> str: ...
    @property
    def embeddings(self) -> int: ...

_Key: TypeAlias = bytes | bytearray | memoryview
"""A gallery key: exactly 32 bytes (Gallery.generate_key())."""

@final
class Gallery:
    def __new__(cls, *, space: str | None = None) -> Gallery: ...
    @staticmethod
    def connect(url: str, *, space: str | None = None, migrate: bool = False) -> Gallery: ...
    @staticmethod
    def load(path: str | os.PathLike[str], *, key: _Key | None = None) -> Gallery: ...
    @staticmethod
    def from_bytes(data: bytes, *, key: _Key | None = None) -> Gallery: ...
    @staticmethod
    def generate_key() -> bytes: ...
    def save(self, path: str | os.PathLike[str], *, key: _Key | None = None) -> None: ...
    def to_bytes(self, *, key: _Key | None = None) -> bytes: ...
    def enroll(self, name: str, embedding: _ArrayLike1, *, space: str | None = None) -> int: ...
    def remove(self, person: str | int, /) -> bool: ...
    def set_metadata(self, person: str | int, metadata: str) -> None: ...
    def person(self, person: str | int, /) -> Person | None: ...
    def id_of(self, name: str) -> int | None: ...
    def search(self, embedding: _ArrayLike1, *, k: int = 5) -> list[Match]: ...
    def identify(
        self, embedding: _ArrayLike1, *, threshold: float | None = None, operating_point: str = "fmr1e-3"
    ) -> Match | None: ...
    def people(self, *, offset: int = 0, limit: int | None = None) -> list[Person]: ...
    @property
    def space(self) -> str | None: ...
    @property
    def store(self) -> str: ...
    def __len__(self) -> int: ...
    def __contains__(self, person: object, /) -> bool: ...

@final
class LivenessResult:
    @property
    def score(self) -> float | None: ...
    @property
    def decision(self) -> Literal["live", "spoof", "unknown"]: ...
    @property
    def reason(self) -> Literal["too_small", "cut_by_edge"] | None: ...
    @property
    def threshold(self) -> float: ...
    def __bool__(self) -> bool: ...

@final
class Liveness:
    def __new__(cls, *, min_face_px: float = 40.0, max_outside: float = 0.1) -> Liveness: ...
    def check(
        self,
        image: _ImageLike,
        face: Face,
        *,
        op: _LivenessOp = "default",
        channel_order: _ChannelOrder | str = "rgb",
        pixel_format: _PixelFormat | str | None = None,
        color_range: _ColorRange | str = "limited",
        width: int | None = None,
        height: int | None = None,
    ) -> LivenessResult: ...
    def score(
        self,
        image: _ImageLike,
        face: Face,
        *,
        channel_order: _ChannelOrder | str = "rgb",
        pixel_format: _PixelFormat | str | None = None,
        color_range: _ColorRange | str = "limited",
        width: int | None = None,
        height: int | None = None,
    ) -> float | None: ...
    @staticmethod
    def threshold(op: _LivenessOp = "default") -> float: ...
    @property
    def min_face_px(self) -> float: ...
    @property
    def max_outside(self) -> float: ...

_EventKind: TypeAlias = Literal["started", "identified", "changed", "unknown", "ended", "liveness"]

@final
class StreamEvent:
    @property
    def kind(self) -> _EventKind: ...
    @property
    def track(self) -> int: ...
    @property
    def timestamp(self) -> float: ...
    @property
    def frame(self) -> int: ...
    @property
    def bbox(self) -> tuple[float, float, float, float]: ...
    @property
    def quality(self) -> float: ...
    @property
    def person(self) -> int | None: ...
    @property
    def name(self) -> str | None: ...
    @property
    def score(self) -> float | None: ...
    @property
    def previous(self) -> int | None: ...
    @property
    def previous_name(self) -> str | None: ...
    @property
    def duration(self) -> float: ...
    @property
    def live(self) -> float | None: ...
    @property
    def liveness(self) -> Literal["live", "spoof"] | None: ...

@final
class TrackInfo:
    @property
    def id(self) -> int: ...
    @property
    def bbox(self) -> tuple[float, float, float, float]: ...
    @property
    def detected(self) -> bool: ...
    @property
    def missed(self) -> int: ...
    @property
    def first_seen(self) -> float: ...
    @property
    def last_seen(self) -> float: ...
    @property
    def best_quality(self) -> Quality: ...
    @property
    def best_shot_time(self) -> float: ...
    @property
    def embeddings(self) -> int: ...
    @property
    def identity(self) -> Literal["pending", "known", "unknown"]: ...
    @property
    def person(self) -> int | None: ...
    @property
    def name(self) -> str | None: ...
    @property
    def score(self) -> float | None: ...
    @property
    def confident(self) -> bool: ...
    @property
    def live(self) -> float | None: ...
    @property
    def liveness(self) -> Literal["live", "spoof"] | None: ...
    @property
    def live_frames(self) -> int: ...

@final
class Stream:
    def __new__(
        cls,
        pipeline: Pipeline,
        gallery: Gallery | None = None,
        *,
        detect_every: int = 1,
        max_embeddings_per_frame: int = 2,
        max_embeddings_per_track: int = 10,
        iou_threshold: float = 0.3,
        max_missed: int = 8,
        min_hits: int = 2,
        min_embed_quality: float = 0.3,
        reembed_gain: float = 0.1,
        reembed_every: int = 5,
        aggregate_top: int = 4,
        threshold: float | None = None,
        operating_point: str = "fmr1e-3",
        confident_threshold: float | None = None,
        min_evidence: int = 2,
        unknown_evidence: int = 3,
        liveness_frames: int = 5,
        max_liveness_per_frame: int = 2,
    ) -> Stream: ...
    def push(
        self,
        frame: _ImageLike,
        timestamp: float,
        *,
        channel_order: _ChannelOrder | str = "rgb",
        pixel_format: _PixelFormat | str | None = None,
        color_range: _ColorRange | str = "limited",
        width: int | None = None,
        height: int | None = None,
    ) -> list[StreamEvent]: ...
    def finish(self) -> list[StreamEvent]: ...
    def tracks(self) -> list[TrackInfo]: ...
    def set_gallery(self, gallery: Gallery | None, /) -> None: ...
    @property
    def stats(self) -> dict[str, int]: ...
    @property
    def options(self) -> dict[str, Any]: ...
    @property
    def threshold(self) -> float: ...
    @property
    def confident_threshold(self) -> float: ...
    @property
    def frame_size(self) -> tuple[int, int] | None: ...
    @property
    def space(self) -> str: ...

@final
class DlibCompat:
    def __new__(cls) -> DlibCompat: ...
    def locations(self, image: _ImageLike, *, upsample: int = 1) -> list[tuple[int, int, int, int]]: ...
    def landmarks(
        self, image: _ImageLike, boxes: list[tuple[int, int, int, int]]
    ) -> list[list[tuple[int, int]]]: ...
    def encodings(
        self, image: _ImageLike, boxes: list[tuple[int, int, int, int]] | None = None, *, upsample: int = 1
    ) -> list[npt.NDArray[np.float64]]: ...

@final
class DlibShapeCompat:
    def __new__(cls, path: str | os.PathLike[str]) -> DlibShapeCompat: ...
    @property
    def num_parts(self) -> int: ...
    def landmarks(
        self, image: _ImageLike, boxes: list[tuple[int, int, int, int]]
    ) -> list[list[tuple[int, int]]]: ...
    def encodings(
        self, image: _ImageLike, boxes: list[tuple[int, int, int, int]]
    ) -> list[npt.NDArray[np.float64]]: ...

def verify(a: _ArrayLike1, b: _ArrayLike1, *, space: str, operating_point: str = "fmr1e-3") -> Verification: ...
def threshold(space: str, *, operating_point: str = "fmr1e-3") -> float: ...
def similarity(a: _ArrayLike1, b: _ArrayLike1) -> float: ...
def load_image(
    image: _ImageLike,
    *,
    channel_order: _ChannelOrder | str = "rgb",
    pixel_format: _PixelFormat | str | None = None,
    color_range: _ColorRange | str = "limited",
    width: int | None = None,
    height: int | None = None,
) -> npt.NDArray[np.uint8]: ...
def limits() -> dict[str, int]: ...
def set_limits(**limits: int) -> dict[str, int]: ...
