//! `Stream`, `StreamEvent` and `TrackInfo`: faces followed across the frames of a camera or a
//! video (tracking, best shots, an embedding budget, identities with hysteresis, events). The
//! rules are the core's (`facecore::stream`, docs/streams.md); this file only converts.
//!
//! Locking: a stream's state changes with every frame, so one thread drives it at a time. The
//! `FaceStream` sits behind a `Mutex` taken with `try_lock` only: a call made while another
//! thread is inside one (a `push` runs with the GIL released) raises `StreamBusyError`
//! at once and changes nothing, instead of waiting (and never while holding the GIL).

use std::sync::{Mutex, MutexGuard, TryLockError};

use facecore::{FaceStream, LivenessDecision, StreamOptions, TrackIdentity};
use pyo3::prelude::*;
use pyo3::types::PyDict;

use crate::convert::{PixelArgs, load};
use crate::errors::{Kind, new_err, to_py};
use crate::gallery::PyGallery;
use crate::quality::PyQuality;
use crate::recognizer::{PyPipeline, parse_op};

fn busy() -> PyErr {
    new_err(
        Kind::StreamBusy,
        "this Stream is in use by another thread: a stream is driven by one thread at a time (give each thread its own \
         Stream, or serialise the calls)",
    )
}

fn liveness_name(l: Option<LivenessDecision>) -> Option<&'static str> {
    l.map(LivenessDecision::name)
}

fn bbox(r: facecore::Rect) -> (f32, f32, f32, f32) {
    (r.x, r.y, r.width, r.height)
}

/// One thing that happened to a track in a pushed frame (see docs/streams.md, "Events").
#[pyclass(frozen, module = "facecore", name = "StreamEvent")]
pub(crate) struct PyStreamEvent {
    inner: facecore::StreamEvent,
}

#[pymethods]
impl PyStreamEvent {
    /// "started", "identified", "changed", "unknown", "ended" or "liveness".
    #[getter]
    fn kind(&self) -> &'static str {
        self.inner.kind.name()
    }

    /// The track's id (1, 2, ...; never reused within the stream).
    #[getter]
    fn track(&self) -> u64 {
        self.inner.track
    }

    /// The timestamp of the frame that produced the event, as pushed.
    #[getter]
    fn timestamp(&self) -> f64 {
        self.inner.timestamp
    }

    /// The index of that frame in the stream (0 for the first frame pushed).
    #[getter]
    fn frame(&self) -> u64 {
        self.inner.frame
    }

    /// The track's box `(x, y, width, height)` in that frame (its last detected box for "ended").
    #[getter]
    fn bbox(&self) -> (f32, f32, f32, f32) {
        bbox(self.inner.bbox)
    }

    /// Quality score (0..1) of the track's best shot so far.
    #[getter]
    fn quality(&self) -> f32 {
        self.inner.quality
    }

    /// The person's id ("identified", "changed", "ended" of a named track), else None.
    #[getter]
    fn person(&self) -> Option<u64> {
        self.inner.person.map(|p| p.0)
    }

    /// Their name, else None.
    #[getter]
    fn name(&self) -> Option<&str> {
        self.inner.name.as_deref()
    }

    /// Cosine of the track to the person ("identified", "changed"), to the best candidate
    /// ("unknown"; None without a gallery), the best over the track's life ("ended").
    #[getter]
    fn score(&self) -> Option<f32> {
        self.inner.score
    }

    /// The previous person's id ("changed" only).
    #[getter]
    fn previous(&self) -> Option<u64> {
        self.inner.previous.map(|p| p.0)
    }

    /// The previous person's name ("changed" only).
    #[getter]
    fn previous_name(&self) -> Option<&str> {
        self.inner.previous_name.as_deref()
    }

    /// Seconds from the track's first to its last detection ("ended" only, else 0).
    #[getter]
    fn duration(&self) -> f64 {
        self.inner.duration
    }

    /// The track's live score (median of its judged frames) once decided, on every later
    /// event of the track; None before, or when the pipeline does not check liveness.
    #[getter]
    fn live(&self) -> Option<f32> {
        self.inner.live
    }

    /// "live" or "spoof" once decided (as `live`), else None.
    #[getter]
    fn liveness(&self) -> Option<&'static str> {
        liveness_name(self.inner.liveness)
    }

    fn __repr__(&self) -> String {
        let e = &self.inner;
        let mut s = format!("StreamEvent(kind={:?}, track={}, timestamp={}, frame={}", e.kind.name(), e.track, e.timestamp, e.frame);
        if let Some(n) = &e.name {
            s.push_str(&format!(", name={n:?}"));
        }
        if let Some(sc) = e.score {
            s.push_str(&format!(", score={sc:.4}"));
        }
        if let Some(p) = &e.previous_name {
            s.push_str(&format!(", previous_name={p:?}"));
        }
        if e.kind == facecore::StreamEventKind::Ended {
            s.push_str(&format!(", duration={:.3}", e.duration));
        }
        if let Some(l) = e.liveness {
            s.push_str(&format!(", liveness={:?}", l.name()));
        }
        s.push(')');
        s
    }
}

/// A live track, for display (`Stream.tracks()`).
#[pyclass(frozen, module = "facecore", name = "TrackInfo")]
pub(crate) struct PyTrackInfo {
    inner: facecore::TrackInfo,
}

#[pymethods]
impl PyTrackInfo {
    /// The track's id.
    #[getter]
    fn id(&self) -> u64 {
        self.inner.id
    }

    /// Its box `(x, y, width, height)` in the last frame: detected, or predicted when missed.
    #[getter]
    fn bbox(&self) -> (f32, f32, f32, f32) {
        bbox(self.inner.bbox)
    }

    /// Whether `bbox` was detected in the last frame (False: predicted).
    #[getter]
    fn detected(&self) -> bool {
        self.inner.detected
    }

    /// Detection frames since its last detection.
    #[getter]
    fn missed(&self) -> u32 {
        self.inner.missed
    }

    /// Timestamp of its first detection.
    #[getter]
    fn first_seen(&self) -> f64 {
        self.inner.first_seen
    }

    /// Timestamp of its last detection.
    #[getter]
    fn last_seen(&self) -> f64 {
        self.inner.last_seen
    }

    /// Its best shot's `Quality`.
    #[getter]
    fn best_quality(&self) -> PyQuality {
        self.inner.best_quality.into()
    }

    /// Timestamp of its best shot.
    #[getter]
    fn best_shot_time(&self) -> f64 {
        self.inner.best_shot_time
    }

    /// Embeddings computed for it.
    #[getter]
    fn embeddings(&self) -> u32 {
        self.inner.embeddings
    }

    /// "pending", "known" or "unknown": its identity as announced by the events so far.
    #[getter]
    fn identity(&self) -> &'static str {
        match self.inner.identity {
            TrackIdentity::Pending => "pending",
            TrackIdentity::Known => "known",
            TrackIdentity::Unknown => "unknown",
        }
    }

    /// The person's id when "known", else None.
    #[getter]
    fn person(&self) -> Option<u64> {
        self.inner.person.map(|p| p.0)
    }

    /// Their name when "known", else None.
    #[getter]
    fn name(&self) -> Option<&str> {
        self.inner.name.as_deref()
    }

    /// The last gallery score of its aggregate embedding (best candidate), if any.
    #[getter]
    fn score(&self) -> Option<f32> {
        self.inner.score
    }

    /// Named at the confident threshold: it will not be embedded again.
    #[getter]
    fn confident(&self) -> bool {
        self.inner.confident
    }

    /// The decided live score, or None.
    #[getter]
    fn live(&self) -> Option<f32> {
        self.inner.live
    }

    /// "live" or "spoof" once decided, else None.
    #[getter]
    fn liveness(&self) -> Option<&'static str> {
        liveness_name(self.inner.liveness)
    }

    /// Frames judged for liveness so far.
    #[getter]
    fn live_frames(&self) -> u32 {
        self.inner.live_frames
    }

    fn __repr__(&self) -> String {
        let t = &self.inner;
        let (x, y, w, h) = bbox(t.bbox);
        format!(
            "TrackInfo(id={}, bbox=({x:.1}, {y:.1}, {w:.1}, {h:.1}), identity={:?}, name={:?}, embeddings={})",
            t.id,
            self.identity(),
            t.name,
            t.embeddings
        )
    }
}

/// Faces followed across the frames of one camera or video: push frames in order with their
/// timestamps, get events back. Driven by one thread at a time (`StreamBusyError` otherwise).
#[pyclass(frozen, module = "facecore", name = "Stream")]
pub(crate) struct PyStream {
    inner: Mutex<FaceStream>,
}

impl PyStream {
    /// The stream, if no other thread is inside a call on it.
    fn lock(&self) -> PyResult<MutexGuard<'_, FaceStream>> {
        match self.inner.try_lock() {
            Ok(g) => Ok(g),
            // A panic inside a push: the core applies a frame's changes only after its
            // fallible work, so the state is still a consistent one.
            Err(TryLockError::Poisoned(p)) => Ok(p.into_inner()),
            Err(TryLockError::WouldBlock) => Err(busy()),
        }
    }
}

#[pymethods]
impl PyStream {
    /// A stream over `pipeline`'s detector and recognizer, naming the people of `gallery` (a
    /// snapshot: call `set_gallery` after enrolments) or nobody (None). The options are the
    /// core's `StreamOptions` (docs/streams.md, "Options and their cost"); `threshold=None`
    /// takes `operating_point`'s calibrated cosine, `confident_threshold=None` the larger of
    /// that and the FMR 1e-4 one. `InvalidInputError` for a bad option, `ModelMismatchError`
    /// for a gallery of another embedding space.
    #[new]
    #[pyo3(signature = (pipeline, gallery = None, *, detect_every = None, max_embeddings_per_frame = None, max_embeddings_per_track = None, iou_threshold = None, max_missed = None, min_hits = None, min_embed_quality = None, reembed_gain = None, reembed_every = None, aggregate_top = None, threshold = None, operating_point = "fmr1e-3", confident_threshold = None, min_evidence = None, unknown_evidence = None, liveness_frames = None, max_liveness_per_frame = None))]
    #[pyo3(
        text_signature = "(pipeline, gallery=None, *, detect_every=1, max_embeddings_per_frame=2, max_embeddings_per_track=10, iou_threshold=0.3, max_missed=8, min_hits=2, min_embed_quality=0.3, reembed_gain=0.1, reembed_every=5, aggregate_top=4, threshold=None, operating_point='fmr1e-3', confident_threshold=None, min_evidence=2, unknown_evidence=3, liveness_frames=5, max_liveness_per_frame=2)"
    )]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        pipeline: &PyPipeline,
        gallery: Option<&PyGallery>,
        detect_every: Option<u32>,
        max_embeddings_per_frame: Option<u32>,
        max_embeddings_per_track: Option<u32>,
        iou_threshold: Option<f32>,
        max_missed: Option<u32>,
        min_hits: Option<u32>,
        min_embed_quality: Option<f32>,
        reembed_gain: Option<f32>,
        reembed_every: Option<u32>,
        aggregate_top: Option<u32>,
        threshold: Option<f32>,
        operating_point: &str,
        confident_threshold: Option<f32>,
        min_evidence: Option<u32>,
        unknown_evidence: Option<u32>,
        liveness_frames: Option<u32>,
        max_liveness_per_frame: Option<u32>,
    ) -> PyResult<Self> {
        // Omitted options take the core's defaults (the signature above documents them; a
        // test checks that they agree).
        let d = StreamOptions::default();
        let options = StreamOptions {
            detect_every: detect_every.unwrap_or(d.detect_every),
            max_embeddings_per_frame: max_embeddings_per_frame.unwrap_or(d.max_embeddings_per_frame),
            max_embeddings_per_track: max_embeddings_per_track.unwrap_or(d.max_embeddings_per_track),
            iou_threshold: iou_threshold.unwrap_or(d.iou_threshold),
            max_missed: max_missed.unwrap_or(d.max_missed),
            min_hits: min_hits.unwrap_or(d.min_hits),
            min_embed_quality: min_embed_quality.unwrap_or(d.min_embed_quality),
            reembed_gain: reembed_gain.unwrap_or(d.reembed_gain),
            reembed_every: reembed_every.unwrap_or(d.reembed_every),
            aggregate_top: aggregate_top.unwrap_or(d.aggregate_top),
            threshold,
            operating_point: parse_op(operating_point)?,
            confident_threshold,
            min_evidence: min_evidence.unwrap_or(d.min_evidence),
            unknown_evidence: unknown_evidence.unwrap_or(d.unknown_evidence),
            liveness_frames: liveness_frames.unwrap_or(d.liveness_frames),
            max_liveness_per_frame: max_liveness_per_frame.unwrap_or(d.max_liveness_per_frame),
        };
        let space = pipeline.core().recognizer().space();
        let snapshot = match gallery {
            Some(g) => {
                g.check_space(py, space)?;
                Some(g.snapshot(py)?)
            }
            None => None,
        };
        let stream = FaceStream::new(pipeline.core().clone(), snapshot, options).map_err(to_py)?;
        Ok(PyStream { inner: Mutex::new(stream) })
    }

    /// Processes one frame taken at `timestamp` (seconds, any origin, never decreasing) and
    /// returns its events, in track order (`Started` before a track's identity event, `Ended`
    /// events last). The frame is any image `Pipeline.analyze` takes, with the same keywords
    /// (camera formats with `pixel_format=`). It is copied first, then the frame is processed
    /// with the GIL released. `InvalidInputError` for a frame of another size than the first
    /// (call `finish()` to change resolution) or a timestamp that is earlier than the last one
    /// or not finite; after any error the stream is unchanged and usable.
    #[pyo3(signature = (frame, timestamp, *, channel_order = "rgb", pixel_format = None, color_range = "limited", width = None, height = None))]
    #[allow(clippy::too_many_arguments)]
    fn push(
        &self,
        py: Python<'_>,
        frame: &Bound<'_, PyAny>,
        timestamp: f64,
        channel_order: &str,
        pixel_format: Option<&str>,
        color_range: &str,
        width: Option<u32>,
        height: Option<u32>,
    ) -> PyResult<Vec<PyStreamEvent>> {
        let img = load(py, frame, &PixelArgs { channel_order, pixel_format, color_range, width, height })?;
        let events = py.detach(|| {
            let r = match self.inner.try_lock() {
                Ok(mut g) => g.push(&img, timestamp),
                Err(TryLockError::Poisoned(p)) => p.into_inner().push(&img, timestamp),
                Err(TryLockError::WouldBlock) => return Err(None),
            };
            r.map_err(Some)
        });
        match events {
            Ok(ev) => Ok(ev.into_iter().map(|inner| PyStreamEvent { inner }).collect()),
            Err(Some(e)) => Err(to_py(e)),
            Err(None) => Err(busy()),
        }
    }

    /// Ends every live track ("ended" events, stamped with the last frame's timestamp) and
    /// forgets the frame size, so the next frame may have another size. Ids keep counting.
    fn finish(&self) -> PyResult<Vec<PyStreamEvent>> {
        Ok(self.lock()?.finish().into_iter().map(|inner| PyStreamEvent { inner }).collect())
    }

    /// The live (confirmed) tracks, by id: boxes and identities for display.
    fn tracks(&self) -> PyResult<Vec<PyTrackInfo>> {
        Ok(self.lock()?.tracks().into_iter().map(|inner| PyTrackInfo { inner }).collect())
    }

    /// Replaces the gallery with a snapshot of `gallery` (or None: nobody), e.g. after
    /// enrolments. Named tracks keep their names; the others are judged against the new
    /// gallery from their next embedding. `ModelMismatchError` for another embedding space
    /// (the old gallery stays).
    #[pyo3(signature = (gallery, /))]
    fn set_gallery(&self, py: Python<'_>, gallery: Option<&PyGallery>) -> PyResult<()> {
        let snapshot = match gallery {
            Some(g) => {
                // The space is checked before the copy (the core checks it again).
                let space = self.lock()?.pipeline().recognizer().space().to_string();
                g.check_space(py, &space)?;
                Some(g.snapshot(py)?)
            }
            None => None,
        };
        self.lock()?.set_gallery(snapshot).map_err(to_py)
    }

    /// Counters since the stream was made: frames, detection_frames, detections, embeddings,
    /// embeddings_deferred, tracks_started, tracks_ended (a new dict).
    #[getter]
    fn stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let s = self.lock()?.stats();
        let d = PyDict::new(py);
        for (k, v) in [
            ("frames", s.frames),
            ("detection_frames", s.detection_frames),
            ("detections", s.detections),
            ("embeddings", s.embeddings),
            ("embeddings_deferred", s.embeddings_deferred),
            ("tracks_started", s.tracks_started),
            ("tracks_ended", s.tracks_ended),
        ] {
            d.set_item(k, v)?;
        }
        Ok(d)
    }

    /// The options in force, as a new dict (`threshold` and `confident_threshold` as given:
    /// None when resolved from the operating point; see the properties of the same names).
    #[getter]
    fn options<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let o = *self.lock()?.options();
        let d = PyDict::new(py);
        d.set_item("detect_every", o.detect_every)?;
        d.set_item("max_embeddings_per_frame", o.max_embeddings_per_frame)?;
        d.set_item("max_embeddings_per_track", o.max_embeddings_per_track)?;
        d.set_item("iou_threshold", o.iou_threshold)?;
        d.set_item("max_missed", o.max_missed)?;
        d.set_item("min_hits", o.min_hits)?;
        d.set_item("min_embed_quality", o.min_embed_quality)?;
        d.set_item("reembed_gain", o.reembed_gain)?;
        d.set_item("reembed_every", o.reembed_every)?;
        d.set_item("aggregate_top", o.aggregate_top)?;
        d.set_item("threshold", o.threshold)?;
        d.set_item("operating_point", o.operating_point.name())?;
        d.set_item("confident_threshold", o.confident_threshold)?;
        d.set_item("min_evidence", o.min_evidence)?;
        d.set_item("unknown_evidence", o.unknown_evidence)?;
        d.set_item("liveness_frames", o.liveness_frames)?;
        d.set_item("max_liveness_per_frame", o.max_liveness_per_frame)?;
        Ok(d)
    }

    /// The match threshold in force (resolved from the operating point when not given).
    #[getter]
    fn threshold(&self) -> PyResult<f32> {
        Ok(self.lock()?.threshold())
    }

    /// The confident threshold in force.
    #[getter]
    fn confident_threshold(&self) -> PyResult<f32> {
        Ok(self.lock()?.confident_threshold())
    }

    /// `(width, height)` fixed by the first frame (until `finish()`), or None.
    #[getter]
    fn frame_size(&self) -> PyResult<Option<(u32, u32)>> {
        Ok(self.lock()?.frame_size())
    }

    /// The embedding space of the pipeline (galleries must hold it).
    #[getter]
    fn space(&self) -> PyResult<String> {
        Ok(self.lock()?.pipeline().recognizer().space().to_string())
    }

    fn __repr__(&self) -> String {
        match self.inner.try_lock() {
            Ok(s) => {
                let st = s.stats();
                format!(
                    "Stream(space={:?}, frames={}, tracks={}, threshold={:.4})",
                    s.pipeline().recognizer().space(),
                    st.frames,
                    s.tracks().len(),
                    s.threshold()
                )
            }
            Err(_) => "Stream(<in use>)".to_string(),
        }
    }
}
