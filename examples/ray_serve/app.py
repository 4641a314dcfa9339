"""facecore inside a Ray Serve deployment, autoscaled on ongoing requests.

Each replica holds one `facecore.Pipeline` (models loaded once per replica) and a
`facecore.Gallery.connect(url)` on the shared PostgreSQL gallery, so every replica, every
`facecore serve` process and every other worker identifies against the same people, and an
enrolment made anywhere is seen by all replicas at once.

    POST /identify   body: a JPEG or PNG image
    -> 200 {"faces": [{"box": [x, y, w, h], "name": str | null, "id": int | null,
                       "score": float | null}], "replica": "<replica id>"}
    -> 400 {"error": "..."} for a body that is not a decodable image

Serve's autoscaler keeps about `target_ongoing_requests` requests (running plus queued) per
replica, between `min_replicas` and `max_replicas`; `upscale_delay_s` and `downscale_delay_s`
are kept short here so that a load test shows the replicas come and go. Each replica asks
Ray for half a CPU (`num_cpus=0.5`), so four fit on a 2-core machine (inference is single
threaded per request; more replicas than cores add queueing capacity, not speed).

Usage: `run.sh` beside this file (a venv with Ray, a local PostgreSQL, enrolment, the load
test); `load.py` deploys it with `app.build_app(url)`.
"""

from __future__ import annotations

import asyncio
from typing import Any

import facecore
from ray import serve
from starlette.requests import Request
from starlette.responses import JSONResponse

# The autoscaling policy (Ray Serve's request-based autoscaler: ongoing requests per replica).
AUTOSCALING = {
    "min_replicas": 1,
    "max_replicas": 4,
    "target_ongoing_requests": 1.0,
    "upscale_delay_s": 2.0,
    "downscale_delay_s": 10.0,
    # Replicas and the HTTP proxy report their ongoing requests every second, averaged
    # over 5 s (Serve's defaults: 10 s and 30 s, for production traffic).
    "metrics_interval_s": 1.0,
    "look_back_period_s": 5.0,
}


@serve.deployment(
    ray_actor_options={"num_cpus": 0.5},
    # Two requests at a time per replica (their inference runs in threads, with the GIL
    # released); more wait in the proxy and count towards the autoscaler's metric.
    max_ongoing_requests=2,
    autoscaling_config=AUTOSCALING,
)
class FaceIdentify:
    def __init__(self, pg_url: str, preset: str, warmup: bytes) -> None:
        self.pipeline = facecore.Pipeline(preset)
        # The space check: a gallery enrolled with another preset is refused here
        # (ModelMismatchError), not answered with meaningless scores.
        self.gallery = facecore.Gallery.connect(pg_url, space=self.pipeline.space)
        # Load the networks and build their plans before the first request.
        self.pipeline.analyze(warmup)
        # The space's calibrated threshold at a false match rate of 1e-3.
        self.threshold = facecore.threshold(self.pipeline.space, operating_point="fmr1e-3")
        ctx = serve.get_replica_context()
        self.replica = ctx.replica_id.unique_id

    def identify(self, image: bytes) -> list[dict[str, Any]]:
        faces = []
        for face in self.pipeline.analyze(image):
            # One query per face: the best person, named when they reach the threshold
            # (what Gallery.identify does), with their score either way.
            top = self.gallery.search(face.embedding, k=1) if face.embedding is not None else []
            best = top[0] if top else None
            known = best is not None and best.score >= self.threshold
            faces.append(
                {
                    "box": [round(v, 1) for v in face.bbox],
                    "name": best.name if known and best else None,
                    "id": best.id if known and best else None,
                    "score": round(best.score, 4) if best else None,
                }
            )
        return faces

    async def __call__(self, request: Request) -> JSONResponse:
        body = await request.body()
        try:
            # facecore releases the GIL while it decodes, detects, embeds and queries
            # PostgreSQL, so the replica's event loop stays free for health checks.
            faces = await asyncio.to_thread(self.identify, body)
        except (facecore.ImageDecodeError, facecore.InvalidInputError, facecore.LimitExceededError) as e:
            return JSONResponse({"error": str(e)}, status_code=400)
        return JSONResponse({"faces": faces, "replica": self.replica})


def build_app(pg_url: str, preset: str, warmup: bytes) -> Any:
    """The Serve application: one autoscaled deployment."""
    return FaceIdentify.bind(pg_url, preset, warmup)  # type: ignore[attr-defined]  # added by @serve.deployment
