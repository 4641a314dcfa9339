//! Face streams: tracking, best shots, identities and events over camera frames
//! (`facecore::FaceStream`; see `docs/streams.md`).
//!
//! Events are queued in the handle until the caller takes them: a push whose events do not
//! fit the caller's array still processes the frame, reports the needed count with
//! `BUFFER_TOO_SMALL` and keeps the events for `facecore_stream_drain` (or the next push), so
//! a caller with a small fixed array never loses one.

use std::collections::{HashMap, VecDeque};
use std::ffi::c_char;
use std::sync::{Mutex, MutexGuard};

use facecore::{FaceStream, LivenessDecision, StreamEvent, StreamEventKind, StreamOptions, TrackIdentity};

use crate::boundary::{Fail, boundary, facecore_status, getter, handle, handle_free, handle_ref, out_arg, slice_mut, write};
use crate::gallery::{FACECORE_NO_PERSON, facecore_gallery};
use crate::image::{facecore_image, image_arg};
use crate::liveness::facecore_liveness_decision;
use crate::pipeline::facecore_pipeline;

/// What happened to a track (`facecore_stream_event.kind`). Values are stable: new ones are
/// appended.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum facecore_stream_event_kind {
    /// A new track, confirmed after `min_hits` detections.
    Started = 1,
    /// The track was given a name: `person`, `score`. May follow `UNKNOWN`.
    Identified = 2,
    /// The track's name changed (rare): `person` is the new one, `previous` the old one.
    Changed = 3,
    /// Enough evidence says the person is not in the gallery; `score` is the best candidate's
    /// cosine (NaN with an empty gallery).
    Unknown = 4,
    /// The track ended (lost for `max_missed` detections, or `facecore_stream_finish`):
    /// `duration`, `score` (best over its life), `person` (final name, if any).
    Ended = 5,
    /// The track's liveness was decided (once; only with a pipeline that checks liveness):
    /// `live`, `liveness`.
    Liveness = 6,
}

/// One event of a stream. Fields that do not apply to the kind are FACECORE_NO_PERSON (0),
/// NaN (`score`) or 0.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct facecore_stream_event {
    /// What happened.
    pub kind: facecore_stream_event_kind,
    /// The track's id (1, 2, ...; never reused within the stream).
    pub track: u64,
    /// Timestamp of the frame that produced the event, as pushed (seconds).
    pub timestamp: f64,
    /// Index of that frame in the stream (0 for the first pushed frame).
    pub frame: u64,
    /// The track's box in that frame (its last detected box for `ENDED`): left edge.
    pub x: f32,
    /// Top edge.
    pub y: f32,
    /// Width.
    pub width: f32,
    /// Height.
    pub height: f32,
    /// Quality score (0..1) of the track's best shot so far.
    pub quality: f32,
    /// The person named (`IDENTIFIED`, `CHANGED`, `ENDED` of a named track), else
    /// FACECORE_NO_PERSON. Their name: `facecore_stream_person_name`.
    pub person: u64,
    /// Cosine to `person` (`IDENTIFIED`, `CHANGED`), to the best candidate (`UNKNOWN`), the
    /// best over the track's life (`ENDED`); NaN when there is none.
    pub score: f32,
    /// The previous person (`CHANGED` only), else FACECORE_NO_PERSON.
    pub previous: u64,
    /// Seconds from the track's first to its last detection (`ENDED` only, else 0).
    pub duration: f64,
    /// The track's live score once its liveness is decided (`LIVENESS` and every later event
    /// of the track), else NaN. Only with a pipeline that checks liveness.
    pub live: f32,
    /// The decision as a `facecore_liveness_decision` value (`LIVE` or `SPOOF`) along with
    /// `live`; FACECORE_LIVENESS_DECISION_UNKNOWN before the decision or without checks.
    pub liveness: u32,
}

impl From<&StreamEvent> for facecore_stream_event {
    fn from(e: &StreamEvent) -> Self {
        let kind = match e.kind {
            StreamEventKind::Started => facecore_stream_event_kind::Started,
            StreamEventKind::Identified => facecore_stream_event_kind::Identified,
            StreamEventKind::Changed => facecore_stream_event_kind::Changed,
            StreamEventKind::Unknown => facecore_stream_event_kind::Unknown,
            StreamEventKind::Ended => facecore_stream_event_kind::Ended,
            StreamEventKind::Liveness => facecore_stream_event_kind::Liveness,
        };
        let liveness = match e.liveness {
            Some(LivenessDecision::Live) => facecore_liveness_decision::Live,
            Some(LivenessDecision::Spoof) => facecore_liveness_decision::Spoof,
            Some(LivenessDecision::Unknown(_)) | None => facecore_liveness_decision::Unknown,
        };
        facecore_stream_event {
            kind,
            track: e.track,
            timestamp: e.timestamp,
            frame: e.frame,
            x: e.bbox.x,
            y: e.bbox.y,
            width: e.bbox.width,
            height: e.bbox.height,
            quality: e.quality,
            person: e.person.map_or(FACECORE_NO_PERSON, |p| p.0),
            score: e.score.unwrap_or(f32::NAN),
            previous: e.previous.map_or(FACECORE_NO_PERSON, |p| p.0),
            duration: e.duration,
            live: e.live.unwrap_or(f32::NAN),
            liveness: liveness as u32,
        }
    }
}

/// A live track, for drawing (`facecore_stream_tracks`).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct facecore_stream_track {
    /// The track's id.
    pub id: u64,
    /// Its box in the last pushed frame (detected, or predicted when `detected` is false):
    /// left edge.
    pub x: f32,
    /// Top edge.
    pub y: f32,
    /// Width.
    pub width: f32,
    /// Height.
    pub height: f32,
    /// Whether the box was detected in the last frame (false: predicted).
    pub detected: bool,
    /// Detection frames since its last detection.
    pub missed: u32,
    /// Embeddings computed for it.
    pub embeddings: u32,
    /// 0: not decided yet, 1: identified (`person`), 2: unknown.
    pub identity: u32,
    /// The person when identified, else FACECORE_NO_PERSON.
    pub person: u64,
    /// The last gallery score of its aggregate embedding (best candidate); NaN if none.
    pub score: f32,
    /// Quality score of its best shot.
    pub best_quality: f32,
    /// Identified at the confident threshold: it will not be embedded again.
    pub confident: bool,
}

/// Counters of a stream since it was made, from `facecore_stream_stats`.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct facecore_stream_counters {
    /// Frames pushed successfully.
    pub frames: u64,
    /// Frames the detector ran on.
    pub detection_frames: u64,
    /// Faces detected, over all frames.
    pub detections: u64,
    /// Faces embedded (one per face, whatever the number of networks in the preset).
    pub embeddings: u64,
    /// Embeddings put off by the per-frame budget (one per track and frame).
    pub embeddings_deferred: u64,
    /// Tracks started.
    pub tracks_started: u64,
    /// Tracks ended.
    pub tracks_ended: u64,
}

/// Stream settings, a mutable builder (like `facecore_detector_options`): use from one thread
/// at a time. Every setter checks its value and leaves the options unchanged on failure.
pub struct facecore_stream_options {
    tag: u64,
    pub(crate) options: StreamOptions,
}
handle!(facecore_stream_options, 0x4643_5354_4F50_5453, { options: StreamOptions });

/// What a stream handle guards: the stream, its undelivered events and the names it announced.
pub(crate) struct StreamState {
    stream: FaceStream,
    /// Events produced but not yet copied out, oldest first.
    queue: VecDeque<StreamEvent>,
    /// Names of every person an event named (kept after `set_gallery` drops them).
    names: HashMap<u64, String>,
}

impl StreamState {
    fn enqueue(&mut self, events: Vec<StreamEvent>) {
        for e in &events {
            for (id, name) in [(e.person, &e.name), (e.previous, &e.previous_name)] {
                if let (Some(id), Some(name)) = (id, name) {
                    self.names.entry(id.0).or_insert_with(|| name.clone());
                }
            }
        }
        self.queue.extend(events);
    }

    /// Copies the whole queue into `out` when it fits (then empties it); otherwise copies
    /// nothing and fails with BUFFER_TOO_SMALL. `*out_count` receives the queue's length.
    ///
    /// # Safety
    /// `out_count` is checked non-NULL and valid for one write.
    unsafe fn deliver_all(&mut self, out: &mut [facecore_stream_event], out_count: *mut usize) -> Result<(), Fail> {
        let n = self.queue.len();
        // SAFETY: forwarded caller contract.
        unsafe { write(out_count, n) };
        if n > out.len() {
            return Err(Fail::too_small(format!(
                "{n} events wait in the stream and the array holds {}; the frame was processed: take them with \
                 facecore_stream_drain (nothing is lost)",
                out.len()
            )));
        }
        for (slot, e) in out.iter_mut().zip(self.queue.drain(..)) {
            *slot = facecore_stream_event::from(&e);
        }
        Ok(())
    }
}

/// Face tracking and recognition over the frames of one camera or video. A stream is driven
/// by one thread at a time; calls from several threads are serialised by an internal lock
/// (safe, but the frames' order is then up to the caller).
pub struct facecore_stream {
    tag: u64,
    pub(crate) state: Mutex<StreamState>,
}
handle!(facecore_stream, 0x4643_5354_5245_414D, { state: Mutex<StreamState> });

impl facecore_stream {
    fn lock(&self) -> MutexGuard<'_, StreamState> {
        // A panic inside a push leaves the stream as before the call (the core changes its
        // state only after the fallible work): keep serving it.
        self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// @brief Creates stream options holding the defaults: detection on every frame, at most 2
/// embeddings per frame and 10 per track, IoU 0.3, 8 missed detections, 2 hits to start a
/// track, embedding quality 0.3, re-embedding on a quality gain of 0.1 or every 5 frames, the
/// 4 best embeddings averaged, the FMR 1e-3 operating point's threshold, 2 verdicts to name
/// and 3 to declare unknown (docs/streams.md explains each).
///
/// Returns NULL only if memory runs out. Free with `facecore_stream_options_free`.
#[unsafe(no_mangle)]
pub extern "C" fn facecore_stream_options_new() -> *mut facecore_stream_options {
    getter(std::ptr::null_mut(), || Some(facecore_stream_options::boxed(StreamOptions::default())))
}

/// @brief Frees stream options. NULL is a no-op.
///
/// # Safety
/// `options` is NULL or a live handle, not used afterwards.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn facecore_stream_options_free(options: *mut facecore_stream_options) {
    // SAFETY: forwarded caller contract.
    unsafe { handle_free(options) }
}

/// Applies `f` to the options, keeping the change only when the whole set stays valid.
///
/// # Safety
/// `options` is NULL or a live handle used by no other thread.
unsafe fn set(options: *mut facecore_stream_options, f: impl FnOnce(&mut StreamOptions) -> Result<(), Fail>) -> facecore_status {
    boundary(|| {
        // SAFETY: forwarded caller contract.
        unsafe { handle_ref(options, "options") }?;
        // SAFETY: checked live above; single-threaded use per the contract, so no alias.
        let h = unsafe { &mut *options };
        let mut o = h.options;
        f(&mut o)?;
        o.validate()?;
        h.options = o;
        Ok(())
    })
}

/// NaN means "not given"; other non-finite values are refused.
fn optional_cosine(value: f32, what: &str) -> Result<Option<f32>, Fail> {
    if value.is_nan() {
        Ok(None)
    } else if value.is_finite() {
        Ok(Some(value))
    } else {
        Err(Fail::invalid(format!("{what} {value} is not a cosine in -1..1 (NaN for the default)")))
    }
}

/// @brief Run the detector on every `k`-th frame (the first included), the tracker bridging
/// the frames between (k >= 1, default 1). Divides the detection cost by k.
///
/// # Safety
/// `options` is NULL or a live handle used by no other thread.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn facecore_stream_options_set_detect_every(options: *mut facecore_stream_options, k: u32) -> facecore_status {
    // SAFETY: forwarded caller contract.
    unsafe {
        set(options, |o| {
            o.detect_every = k;
            Ok(())
        })
    }
}

/// @brief Most faces embedded in one frame (default 2; 0 tracks faces without identities).
/// Bounds the worst frame's latency at one detection plus this many embeddings.
///
/// # Safety
/// `options` is NULL or a live handle used by no other thread.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn facecore_stream_options_set_max_embeddings_per_frame(
    options: *mut facecore_stream_options,
    n: u32,
) -> facecore_status {
    // SAFETY: forwarded caller contract.
    unsafe {
        set(options, |o| {
            o.max_embeddings_per_frame = n;
            Ok(())
        })
    }
}

/// @brief Most embeddings computed for one track over its life (default 10).
///
/// # Safety
/// `options` is NULL or a live handle used by no other thread.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn facecore_stream_options_set_max_embeddings_per_track(
    options: *mut facecore_stream_options,
    n: u32,
) -> facecore_status {
    // SAFETY: forwarded caller contract.
    unsafe {
        set(options, |o| {
            o.max_embeddings_per_track = n;
            Ok(())
        })
    }
}

/// @brief Least IoU of a track's predicted box and a detection to match them, in (0, 1]
/// (default 0.3).
///
/// # Safety
/// `options` is NULL or a live handle used by no other thread.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn facecore_stream_options_set_iou_threshold(options: *mut facecore_stream_options, iou: f32) -> facecore_status {
    // SAFETY: forwarded caller contract.
    unsafe {
        set(options, |o| {
            o.iou_threshold = iou;
            Ok(())
        })
    }
}

/// @brief Detection frames a track survives without a match before it ends (default 8).
///
/// # Safety
/// `options` is NULL or a live handle used by no other thread.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn facecore_stream_options_set_max_missed(options: *mut facecore_stream_options, n: u32) -> facecore_status {
    // SAFETY: forwarded caller contract.
    unsafe {
        set(options, |o| {
            o.max_missed = n;
            Ok(())
        })
    }
}

/// @brief Consecutive detections that confirm a track (>= 1, default 2; 1 starts a track on
/// its first detection, also for one-frame false detections).
///
/// # Safety
/// `options` is NULL or a live handle used by no other thread.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn facecore_stream_options_set_min_hits(options: *mut facecore_stream_options, n: u32) -> facecore_status {
    // SAFETY: forwarded caller contract.
    unsafe {
        set(options, |o| {
            o.min_hits = n;
            Ok(())
        })
    }
}

/// @brief Least quality score (0..1) of a shot worth embedding (default 0.3).
///
/// # Safety
/// `options` is NULL or a live handle used by no other thread.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn facecore_stream_options_set_min_embed_quality(
    options: *mut facecore_stream_options,
    quality: f32,
) -> facecore_status {
    // SAFETY: forwarded caller contract.
    unsafe {
        set(options, |o| {
            o.min_embed_quality = quality;
            Ok(())
        })
    }
}

/// @brief Quality gain (0..1) over a track's best embedded shot that triggers a new
/// embedding of an unsure track (default 0.1).
///
/// # Safety
/// `options` is NULL or a live handle used by no other thread.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn facecore_stream_options_set_reembed_gain(options: *mut facecore_stream_options, gain: f32) -> facecore_status {
    // SAFETY: forwarded caller contract.
    unsafe {
        set(options, |o| {
            o.reembed_gain = gain;
            Ok(())
        })
    }
}

/// @brief Frames after which an unsure track is embedded again even without a better shot
/// (>= 1, default 5).
///
/// # Safety
/// `options` is NULL or a live handle used by no other thread.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn facecore_stream_options_set_reembed_every(options: *mut facecore_stream_options, frames: u32) -> facecore_status {
    // SAFETY: forwarded caller contract.
    unsafe {
        set(options, |o| {
            o.reembed_every = frames;
            Ok(())
        })
    }
}

/// @brief How many of a track's best-quality embeddings are averaged into its identity
/// (>= 1, default 4).
///
/// # Safety
/// `options` is NULL or a live handle used by no other thread.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn facecore_stream_options_set_aggregate_top(options: *mut facecore_stream_options, n: u32) -> facecore_status {
    // SAFETY: forwarded caller contract.
    unsafe {
        set(options, |o| {
            o.aggregate_top = n;
            Ok(())
        })
    }
}

/// @brief Cosine (-1..1) a gallery match must reach; NaN (the default) takes the operating
/// point's calibrated threshold for the pipeline's embedding space (then
/// `facecore_stream_new` fails with FACECORE_STATUS_INVALID_ARGUMENT for an uncalibrated
/// space).
///
/// # Safety
/// `options` is NULL or a live handle used by no other thread.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn facecore_stream_options_set_threshold(options: *mut facecore_stream_options, threshold: f32) -> facecore_status {
    // SAFETY: forwarded caller contract.
    unsafe {
        set(options, |o| {
            o.threshold = optional_cosine(threshold, "threshold")?;
            Ok(())
        })
    }
}

/// @brief The operating point (a `facecore_operating_point` value) whose threshold is used
/// when no threshold is set (default FACECORE_OPERATING_POINT_FMR1E3; FMR1E4 for access
/// control: fewer false names, more unknowns).
///
/// # Safety
/// `options` is NULL or a live handle used by no other thread.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn facecore_stream_options_set_operating_point(options: *mut facecore_stream_options, op: u32) -> facecore_status {
    // SAFETY: forwarded caller contract.
    unsafe {
        set(options, |o| {
            o.operating_point = crate::verify::operating_point(op)?;
            Ok(())
        })
    }
}

/// @brief Cosine at which an identified track is confident and never embedded again; NaN
/// (the default) takes the larger of the threshold and the space's FMR 1e-4 threshold.
///
/// # Safety
/// `options` is NULL or a live handle used by no other thread.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn facecore_stream_options_set_confident_threshold(
    options: *mut facecore_stream_options,
    threshold: f32,
) -> facecore_status {
    // SAFETY: forwarded caller contract.
    unsafe {
        set(options, |o| {
            o.confident_threshold = optional_cosine(threshold, "confident threshold")?;
            Ok(())
        })
    }
}

/// @brief Consecutive verdicts naming one person that give (or change) a name (>= 1,
/// default 2).
///
/// # Safety
/// `options` is NULL or a live handle used by no other thread.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn facecore_stream_options_set_min_evidence(options: *mut facecore_stream_options, n: u32) -> facecore_status {
    // SAFETY: forwarded caller contract.
    unsafe {
        set(options, |o| {
            o.min_evidence = n;
            Ok(())
        })
    }
}

/// @brief Consecutive "unknown" verdicts that declare a track unknown (>= 1, default 3).
///
/// # Safety
/// `options` is NULL or a live handle used by no other thread.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn facecore_stream_options_set_unknown_evidence(options: *mut facecore_stream_options, n: u32) -> facecore_status {
    // SAFETY: forwarded caller contract.
    unsafe {
        set(options, |o| {
            o.unknown_evidence = n;
            Ok(())
        })
    }
}

/// A snapshot of a gallery handle (NULL: none).
///
/// # Safety
/// `gallery` is NULL or a live handle.
unsafe fn gallery_snapshot(gallery: *const facecore_gallery) -> Result<Option<facecore::Gallery>, Fail> {
    if gallery.is_null() {
        return Ok(None);
    }
    // SAFETY: forwarded caller contract.
    let g = unsafe { handle_ref(gallery, "gallery") }?;
    Ok(Some(g.gallery.read().unwrap_or_else(std::sync::PoisonError::into_inner).clone()))
}

/// @brief Creates a stream over `pipeline`'s models, identifying the people of `gallery`.
///
/// `gallery` may be NULL (every track then becomes unknown); the stream takes a snapshot of
/// it, so later enrolments reach the stream only through `facecore_stream_set_gallery`.
/// `options` may be NULL for the defaults; it is copied. The pipeline's models are shared, so
/// `pipeline` may be freed afterwards. Fails with FACECORE_STATUS_MODEL_MISMATCH when the
/// gallery holds embeddings of another space than the pipeline's, and
/// FACECORE_STATUS_INVALID_ARGUMENT for options that do not hold together or when no
/// threshold is set and the space has no calibrated one. On success `*out` receives a new
/// handle, freed with `facecore_stream_free`.
///
/// # Safety
/// `pipeline` is a live handle; `gallery` and `options` are NULL or live handles; `out` is
/// valid for one write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn facecore_stream_new(
    pipeline: *const facecore_pipeline,
    gallery: *const facecore_gallery,
    options: *const facecore_stream_options,
    out: *mut *mut facecore_stream,
) -> facecore_status {
    boundary(|| {
        // SAFETY: forwarded caller contract.
        let p = unsafe { handle_ref(pipeline, "pipeline") }?;
        let options = if options.is_null() {
            StreamOptions::default()
        } else {
            // SAFETY: forwarded caller contract.
            unsafe { handle_ref(options, "options") }?.options
        };
        // SAFETY: forwarded caller contract.
        let gallery = unsafe { gallery_snapshot(gallery) }?;
        let out = out_arg(out, "out")?;
        let stream = FaceStream::new(p.pipeline.clone(), gallery, options)?;
        let state = StreamState { stream, queue: VecDeque::new(), names: HashMap::new() };
        // SAFETY: `out` checked non-NULL; valid per the caller's contract.
        unsafe { write(out, facecore_stream::boxed(Mutex::new(state))) };
        Ok(())
    })
}

/// @brief Frees a stream (its undelivered events included). NULL is a no-op.
///
/// # Safety
/// `stream` is NULL or a live handle that no other thread is using, not used afterwards.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn facecore_stream_free(stream: *mut facecore_stream) {
    // SAFETY: forwarded caller contract.
    unsafe { handle_free(stream) }
}

/// @brief Replaces the stream's gallery with a snapshot of `gallery` (NULL: none), e.g. after
/// enrolments. Named tracks keep their names; the others are judged against the new gallery
/// from their next embedding. Fails with FACECORE_STATUS_MODEL_MISMATCH for a gallery of
/// another embedding space (the old one stays).
///
/// # Safety
/// `stream` is a live handle; `gallery` is NULL or a live handle.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn facecore_stream_set_gallery(stream: *const facecore_stream, gallery: *const facecore_gallery) -> facecore_status {
    boundary(|| {
        // SAFETY: forwarded caller contract.
        let s = unsafe { handle_ref(stream, "stream") }?;
        // SAFETY: forwarded caller contract.
        let gallery = unsafe { gallery_snapshot(gallery) }?;
        s.lock().stream.set_gallery(gallery)?;
        Ok(())
    })
}

/// @brief Processes one frame taken at `timestamp` seconds (any origin, never decreasing)
/// and copies its events into `events` (`capacity` entries): ordered by track id, a track's
/// `STARTED` before its identity event, `ENDED` events last.
///
/// `*out_count` receives the number of events. Events that the caller has not taken yet
/// (see below) come first, in order. When they do not all fit in `capacity`, the frame is
/// still processed (do not push it again), nothing is written to `events`, `*out_count`
/// receives the needed count and the call returns FACECORE_STATUS_BUFFER_TOO_SMALL: the
/// events wait in the stream, for `facecore_stream_drain` (any number at a time) or the next
/// push. No event is ever dropped.
///
/// Errors (the stream is unchanged and stays usable): FACECORE_STATUS_INVALID_ARGUMENT for a
/// bad image (geometry, length, format), a frame of another size than the first one (call
/// `facecore_stream_finish` before changing the size), a timestamp that is NaN, infinite or
/// earlier than the previous frame's; FACECORE_STATUS_INFERENCE for an engine failure.
///
/// # Safety
/// `stream` is a live handle; `image` is valid; `events` is writable for `capacity` events
/// (NULL when 0); `out_count` is valid for one write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn facecore_stream_push(
    stream: *const facecore_stream,
    image: *const facecore_image,
    timestamp: f64,
    events: *mut facecore_stream_event,
    capacity: usize,
    out_count: *mut usize,
) -> facecore_status {
    boundary(|| {
        // SAFETY: forwarded caller contract.
        let s = unsafe { handle_ref(stream, "stream") }?;
        // SAFETY: forwarded caller contract.
        let image = unsafe { image_arg(image, "image") }?;
        // SAFETY: forwarded caller contract.
        let events = unsafe { slice_mut(events, capacity, "events") }?;
        let out_count = out_arg(out_count, "out_count")?;
        let mut state = s.lock();
        let new = state.stream.push(&image, timestamp)?;
        state.enqueue(new);
        // SAFETY: `out_count` checked non-NULL; valid per the caller's contract.
        unsafe { state.deliver_all(events, out_count) }
    })
}

/// @brief Ends every live track (an `ENDED` event each, stamped with the last frame's
/// timestamp) and forgets the frame size, so the next frame may have another size. Ids keep
/// counting and the stats keep adding up. Events are delivered as by `facecore_stream_push`
/// (including FACECORE_STATUS_BUFFER_TOO_SMALL: the tracks are ended all the same and their
/// events wait for `facecore_stream_drain`).
///
/// # Safety
/// As `facecore_stream_push`, without the image.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn facecore_stream_finish(
    stream: *const facecore_stream,
    events: *mut facecore_stream_event,
    capacity: usize,
    out_count: *mut usize,
) -> facecore_status {
    boundary(|| {
        // SAFETY: forwarded caller contract.
        let s = unsafe { handle_ref(stream, "stream") }?;
        // SAFETY: forwarded caller contract.
        let events = unsafe { slice_mut(events, capacity, "events") }?;
        let out_count = out_arg(out_count, "out_count")?;
        let mut state = s.lock();
        let new = state.stream.finish();
        state.enqueue(new);
        // SAFETY: `out_count` checked non-NULL; valid per the caller's contract.
        unsafe { state.deliver_all(events, out_count) }
    })
}

/// @brief Takes up to `capacity` of the events waiting in the stream (left by a push or a
/// finish that returned FACECORE_STATUS_BUFFER_TOO_SMALL), oldest first, into `events`.
/// `*out_count` receives how many were copied; 0 means none is left. Never fails for a small
/// array: call it until it gives 0, e.g. `while (facecore_stream_drain(s, ev, 8, &n) ==
/// FACECORE_STATUS_OK && n > 0) { ... }`.
///
/// # Safety
/// `stream` is a live handle; `events` is writable for `capacity` events (NULL when 0);
/// `out_count` is valid for one write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn facecore_stream_drain(
    stream: *const facecore_stream,
    events: *mut facecore_stream_event,
    capacity: usize,
    out_count: *mut usize,
) -> facecore_status {
    boundary(|| {
        // SAFETY: forwarded caller contract.
        let s = unsafe { handle_ref(stream, "stream") }?;
        // SAFETY: forwarded caller contract.
        let events = unsafe { slice_mut(events, capacity, "events") }?;
        let out_count = out_arg(out_count, "out_count")?;
        let mut state = s.lock();
        let n = state.queue.len().min(events.len());
        for (slot, e) in events.iter_mut().zip(state.queue.drain(..n)) {
            *slot = facecore_stream_event::from(&e);
        }
        // SAFETY: `out_count` checked non-NULL; valid per the caller's contract.
        unsafe { write(out_count, n) };
        Ok(())
    })
}

/// @brief Number of events waiting in the stream for `facecore_stream_drain` (0 for a NULL or
/// invalid handle).
///
/// # Safety
/// `stream` is NULL or a live handle.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn facecore_stream_pending(stream: *const facecore_stream) -> usize {
    // SAFETY: forwarded caller contract.
    getter(0, || unsafe { handle_ref(stream, "stream") }.ok().map(|s| s.lock().queue.len()))
}

/// @brief Copies the name of person `id` (from an event's `person` or `previous`, or a
/// track's `person`) into `out` (`out_len` bytes, NUL-terminated).
///
/// The stream remembers the name of every person its events named, so the name stays
/// available after `facecore_stream_set_gallery` drops that person; other ids are looked up
/// in the stream's gallery. `*out_size` receives the name's length plus one, also on
/// FACECORE_STATUS_BUFFER_TOO_SMALL (then nothing is written to `out`). Fails with
/// FACECORE_STATUS_NO_SUCH_PERSON for an unknown id (FACECORE_NO_PERSON included).
///
/// # Safety
/// `stream` is a live handle; `out` is writable for `out_len` bytes (NULL when 0); `out_size`
/// is valid for one write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn facecore_stream_person_name(
    stream: *const facecore_stream,
    id: u64,
    out: *mut c_char,
    out_len: usize,
    out_size: *mut usize,
) -> facecore_status {
    boundary(|| {
        // SAFETY: forwarded caller contract.
        let s = unsafe { handle_ref(stream, "stream") }?;
        // SAFETY: forwarded caller contract.
        let out = unsafe { slice_mut(out.cast::<u8>(), out_len, "out") }?;
        let out_size = out_arg(out_size, "out_size")?;
        let state = s.lock();
        let name = state
            .names
            .get(&id)
            .map(String::as_str)
            .or_else(|| state.stream.gallery().and_then(|g| g.name_of(facecore::PersonId(id))))
            .ok_or_else(|| Fail::new(facecore_status::NoSuchPerson, format!("no person with id {id} in this stream")))?;
        let n = name.len() + 1;
        // SAFETY: `out_size` checked non-NULL; valid per the caller's contract.
        unsafe { write(out_size, n) };
        let out_len = out.len();
        let dst = out.get_mut(..n).ok_or_else(|| Fail::too_small(format!("name needs {n} bytes, buffer has {out_len}")))?;
        dst[..n - 1].copy_from_slice(name.as_bytes());
        dst[n - 1] = 0;
        Ok(())
    })
}

/// @brief The lower-case name of an event kind ("started", "identified", "changed",
/// "unknown", "ended", "liveness"; static storage), or NULL for a value that is not a kind.
#[unsafe(no_mangle)]
pub extern "C" fn facecore_stream_event_kind_name(kind: u32) -> *const c_char {
    let name: &'static [u8] = match kind {
        1 => b"started\0",
        2 => b"identified\0",
        3 => b"changed\0",
        4 => b"unknown\0",
        5 => b"ended\0",
        6 => b"liveness\0",
        _ => return std::ptr::null(),
    };
    name.as_ptr().cast()
}

/// @brief Copies the live tracks (for drawing boxes and names) into `tracks` (`capacity`
/// entries), by id. `*out_count` receives their number; when they do not fit, nothing is
/// written to `tracks` and the call returns FACECORE_STATUS_BUFFER_TOO_SMALL (the stream is
/// unchanged: ask again with a larger array).
///
/// # Safety
/// `stream` is a live handle; `tracks` is writable for `capacity` tracks (NULL when 0);
/// `out_count` is valid for one write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn facecore_stream_tracks(
    stream: *const facecore_stream,
    tracks: *mut facecore_stream_track,
    capacity: usize,
    out_count: *mut usize,
) -> facecore_status {
    boundary(|| {
        // SAFETY: forwarded caller contract.
        let s = unsafe { handle_ref(stream, "stream") }?;
        // SAFETY: forwarded caller contract.
        let tracks = unsafe { slice_mut(tracks, capacity, "tracks") }?;
        let out_count = out_arg(out_count, "out_count")?;
        let live = s.lock().stream.tracks();
        // SAFETY: `out_count` checked non-NULL; valid per the caller's contract.
        unsafe { write(out_count, live.len()) };
        if live.len() > tracks.len() {
            return Err(Fail::too_small(format!("{} live tracks; the array holds {}", live.len(), tracks.len())));
        }
        for (slot, t) in tracks.iter_mut().zip(&live) {
            *slot = facecore_stream_track {
                id: t.id,
                x: t.bbox.x,
                y: t.bbox.y,
                width: t.bbox.width,
                height: t.bbox.height,
                detected: t.detected,
                missed: t.missed,
                embeddings: t.embeddings,
                identity: match t.identity {
                    TrackIdentity::Pending => 0,
                    TrackIdentity::Known => 1,
                    TrackIdentity::Unknown => 2,
                },
                person: t.person.map_or(FACECORE_NO_PERSON, |p| p.0),
                score: t.score.unwrap_or(f32::NAN),
                best_quality: t.best_quality.score,
                confident: t.confident,
            };
        }
        Ok(())
    })
}

/// @brief `*out` receives the stream's counters: frames, detection frames, faces detected,
/// embeddings computed and deferred, tracks started and ended.
///
/// # Safety
/// `stream` is a live handle; `out` is valid for one write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn facecore_stream_stats(stream: *const facecore_stream, out: *mut facecore_stream_counters) -> facecore_status {
    boundary(|| {
        // SAFETY: forwarded caller contract.
        let s = unsafe { handle_ref(stream, "stream") }?;
        let out = out_arg(out, "out")?;
        let st = s.lock().stream.stats();
        let c = facecore_stream_counters {
            frames: st.frames,
            detection_frames: st.detection_frames,
            detections: st.detections,
            embeddings: st.embeddings,
            embeddings_deferred: st.embeddings_deferred,
            tracks_started: st.tracks_started,
            tracks_ended: st.tracks_ended,
        };
        // SAFETY: `out` checked non-NULL; valid per the caller's contract.
        unsafe { write(out, c) };
        Ok(())
    })
}

/// @brief `*out` receives the match threshold in force (the operating point's calibrated
/// cosine when none was set).
///
/// # Safety
/// `stream` is a live handle; `out` is valid for one write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn facecore_stream_threshold(stream: *const facecore_stream, out: *mut f32) -> facecore_status {
    boundary(|| {
        // SAFETY: forwarded caller contract.
        let s = unsafe { handle_ref(stream, "stream") }?;
        let out = out_arg(out, "out")?;
        let t = s.lock().stream.threshold();
        // SAFETY: `out` checked non-NULL; valid per the caller's contract.
        unsafe { write(out, t) };
        Ok(())
    })
}
