//! Real-time recognition on a stream of frames: tracking, best shots, an embedding budget,
//! identities with hysteresis, and events.
//!
//! A [`FaceStream`] is fed one frame at a time with [`FaceStream::push`] and answers with
//! what happened in that frame as [`StreamEvent`]s: a person's track started, was identified
//! (or declared unknown), changed identity (rare), or ended. Between the events,
//! [`FaceStream::tracks`] gives every live track's box and identity (for drawing).
//!
//! # Model
//! - **Detection** runs on every `detect_every`-th frame (the first frame included). On the
//!   frames between, tracks move by their constant-velocity prediction and nothing else
//!   happens: no quality, no embedding, no event.
//! - **Tracking** (SORT-style): each track predicts its box at the frame's timestamp from its
//!   last detected box and its velocity (centre and size, per second). Detections are matched
//!   to predictions greedily by IoU, best first, when the IoU reaches `iou_threshold`. A
//!   matched track takes the detected box and updates its velocity (half the old one, half the
//!   one measured since its last detection). An unmatched detection starts a *tentative* track,
//!   which becomes a real one (with an id and a [`StreamEventKind::Started`] event) after
//!   `min_hits` consecutive detections; a tentative track that misses one detection is
//!   dropped silently. A real track survives `max_missed` detection frames without a match
//!   (predicted all along, so a face that passes behind something is picked up where it
//!   reappears), then ends. Ids count 1, 2, 3, ... in order of confirmation and are never
//!   reused within a stream.
//! - **Quality**: every detected face gets a [`Quality`]; each track keeps its best shot.
//! - **Embedding budget**: a track matched in this frame is embedded when its face's quality
//!   reaches `min_embed_quality` and either it has never been embedded, or this shot beats its
//!   best embedded shot by `reembed_gain`, or `reembed_every` frames have passed since its last
//!   embedding; never once it is *confident* (identified at `confident_threshold`), never more
//!   than `max_embeddings_per_track` times. At most `max_embeddings_per_frame` faces are
//!   embedded per frame: tracks never embedded first, then the longest waiting, then the best
//!   shots; the rest wait (they are candidates again in the next detection frame).
//! - **Identity**: a track's embedding is the normalised mean of its `aggregate_top`
//!   best-quality embeddings. After each new embedding the aggregate is searched in the
//!   gallery: its verdict is the best person if their score reaches the threshold, else
//!   "unknown". A name is given once `min_evidence` consecutive verdicts name the same person
//!   ([`StreamEventKind::Identified`]); "unknown" is declared after `unknown_evidence`
//!   consecutive unknown verdicts ([`StreamEventKind::Unknown`]); an unknown track can still be
//!   identified later (better shots). An identified track keeps its name unless
//!   `min_evidence` consecutive verdicts name another person ([`StreamEventKind::Changed`]);
//!   unknown verdicts never take a name away. One odd frame moves the aggregate little and
//!   breaks no streak.
//!
//! # Gallery
//! The stream owns a snapshot of the gallery (`Option<Gallery>`, moved in): decisions are
//! deterministic and pushes take no lock. After enrolling people, hand the new gallery over
//! with [`FaceStream::set_gallery`]; tracks already named keep their names, the others are
//! judged against the new gallery from their next embedding. Without a gallery (or with an
//! empty one) every track is declared unknown after `unknown_evidence` embeddings.
//!
//! # Determinism and errors
//! The same frames and timestamps give the same events, from Rust, C or Python: everything
//! is ordered (ties broken by track order) and the networks are deterministic. A call that
//! fails changes nothing: a frame of another size than the first, a timestamp earlier than
//! the last one (equal is allowed) or not finite, and an engine failure are errors after
//! which the stream is exactly as before the call. [`FaceStream::finish`] ends every track
//! and forgets the frame size (to continue at another resolution).

use crate::detect::Face;
use crate::embed::Embedding;
use crate::error::{Error, Result};
use crate::gallery::{Gallery, PersonId};
use crate::geometry::Rect;
use crate::image::Image;
use crate::liveness::LivenessDecision;
use crate::pipeline::FacePipeline;
use crate::quality::Quality;
use crate::verify::OperatingPoint;

/// Settings of a [`FaceStream`], with documented defaults. The [module docs](self) explain
/// each rule; `docs/streams.md` their cost.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StreamOptions {
    /// Run the detector on every k-th frame, the tracker bridging the others (default 1:
    /// every frame). Detection is the fixed cost of a frame; k divides it.
    pub detect_every: u32,
    /// Most faces embedded in one frame (default 2; 0 tracks faces without identities).
    pub max_embeddings_per_frame: u32,
    /// Most embeddings computed for one track over its life (default 10).
    pub max_embeddings_per_track: u32,
    /// Least IoU between a track's predicted box and a detection to match them (default 0.3).
    pub iou_threshold: f32,
    /// Detection frames a track survives without a match before it ends (default 8).
    pub max_missed: u32,
    /// Consecutive detections that turn a tentative track into a track (default 2; 1 starts a
    /// track on its first detection).
    pub min_hits: u32,
    /// Least [`Quality::score`] of a shot worth embedding (default 0.3).
    pub min_embed_quality: f32,
    /// Quality gain over a track's best embedded shot that triggers a new embedding of an
    /// unsure track (default 0.1).
    pub reembed_gain: f32,
    /// Frames after which an unsure track is embedded again even without a better shot
    /// (default 5).
    pub reembed_every: u32,
    /// How many of a track's best-quality embeddings are averaged into its identity (default 4).
    pub aggregate_top: u32,
    /// Cosine a gallery match must reach; `None` (default) takes `operating_point`'s
    /// calibrated threshold for the pipeline's embedding space.
    pub threshold: Option<f32>,
    /// The operating point used when `threshold` is `None` (default FMR 1e-3).
    pub operating_point: OperatingPoint,
    /// Cosine at which an identified track is confident and never embedded again; `None`
    /// (default) takes the larger of the threshold and the space's FMR 1e-4 threshold (the
    /// threshold alone when that is not calibrated).
    pub confident_threshold: Option<f32>,
    /// Consecutive verdicts naming one person that give (or change) a name (default 2).
    pub min_evidence: u32,
    /// Consecutive "unknown" verdicts that declare a track unknown (default 3).
    pub unknown_evidence: u32,
    /// With a pipeline that checks liveness ([`FacePipeline::with_liveness`]): judged frames
    /// whose median live score decides a track's liveness, once (default 5). A single odd
    /// frame cannot flip the median of five.
    pub liveness_frames: u32,
    /// Most faces checked for liveness in one frame (default 2).
    pub max_liveness_per_frame: u32,
}

impl Default for StreamOptions {
    fn default() -> Self {
        StreamOptions {
            detect_every: 1,
            max_embeddings_per_frame: 2,
            max_embeddings_per_track: 10,
            iou_threshold: 0.3,
            max_missed: 8,
            min_hits: 2,
            min_embed_quality: 0.3,
            reembed_gain: 0.1,
            reembed_every: 5,
            aggregate_top: 4,
            threshold: None,
            operating_point: OperatingPoint::Fmr1e3,
            confident_threshold: None,
            min_evidence: 2,
            unknown_evidence: 3,
            liveness_frames: 5,
            max_liveness_per_frame: 2,
        }
    }
}

impl StreamOptions {
    /// Checks every field.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] naming the first bad field.
    pub fn validate(&self) -> Result<()> {
        let bad = |d: String| Err(Error::input("stream option", d));
        let positive = [
            ("detect_every", self.detect_every),
            ("min_hits", self.min_hits),
            ("reembed_every", self.reembed_every),
            ("aggregate_top", self.aggregate_top),
            ("min_evidence", self.min_evidence),
            ("unknown_evidence", self.unknown_evidence),
            ("liveness_frames", self.liveness_frames),
        ];
        for (name, v) in positive {
            if v == 0 {
                return bad(format!("{name} must be at least 1"));
            }
        }
        if !(self.iou_threshold > 0.0 && self.iou_threshold <= 1.0) {
            return bad(format!("iou_threshold {} is not in (0, 1]", self.iou_threshold));
        }
        for (name, v) in [("min_embed_quality", self.min_embed_quality), ("reembed_gain", self.reembed_gain)] {
            if !(0.0..=1.0).contains(&v) {
                return bad(format!("{name} {v} is not in 0..1"));
            }
        }
        for (name, v) in [("threshold", self.threshold), ("confident_threshold", self.confident_threshold)] {
            if let Some(t) = v
                && !(-1.0..=1.0).contains(&t)
            {
                return bad(format!("{name} {t} is not a cosine in -1..1"));
            }
        }
        Ok(())
    }
}

/// What happened to a track.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StreamEventKind {
    /// A new track (after `min_hits` detections).
    Started,
    /// The track was given a name (`person`, `name`, `score`). May follow `Unknown`.
    Identified,
    /// The track's name changed (rare): `person`/`name` are the new one, `previous`/
    /// `previous_name` the old one.
    Changed,
    /// Enough evidence says the person is not in the gallery (`score`: the best candidate's,
    /// when there was one).
    Unknown,
    /// The track ended: lost for `max_missed` detections, or [`FaceStream::finish`]. `duration`
    /// is its life in seconds, `score` its best score, `person`/`name` its final name if any.
    Ended,
    /// The track's liveness was decided (once, from `liveness_frames` judged frames; only
    /// with a pipeline that checks liveness): `live` and `liveness`.
    Liveness,
}

impl StreamEventKind {
    /// The lower-case name (`started`, `identified`, `changed`, `unknown`, `ended`).
    pub fn name(self) -> &'static str {
        match self {
            StreamEventKind::Started => "started",
            StreamEventKind::Identified => "identified",
            StreamEventKind::Changed => "changed",
            StreamEventKind::Unknown => "unknown",
            StreamEventKind::Ended => "ended",
            StreamEventKind::Liveness => "liveness",
        }
    }
}

/// One event. Plain data: fields that do not apply to the kind are `None`/0.
#[derive(Debug, Clone, PartialEq)]
pub struct StreamEvent {
    /// What happened.
    pub kind: StreamEventKind,
    /// The track's id (1, 2, ...; never reused within the stream).
    pub track: u64,
    /// Timestamp of the frame that produced the event, as pushed.
    pub timestamp: f64,
    /// Index of that frame in the stream (0 for the first pushed frame).
    pub frame: u64,
    /// The track's box in that frame (its last detected box for `Ended`).
    pub bbox: Rect,
    /// Quality score of the track's best shot so far.
    pub quality: f32,
    /// The person named (`Identified`, `Changed`, and `Ended` of a named track).
    pub person: Option<PersonId>,
    /// Their name.
    pub name: Option<String>,
    /// Cosine of the track's aggregate embedding to the person (`Identified`, `Changed`), to
    /// the best candidate (`Unknown`, `None` with an empty gallery), the best over the
    /// track's life (`Ended`, `None` if never embedded).
    pub score: Option<f32>,
    /// The previous person (`Changed` only).
    pub previous: Option<PersonId>,
    /// Their name (`Changed` only).
    pub previous_name: Option<String>,
    /// Seconds from the track's first to its last detection (`Ended` only, else 0).
    pub duration: f64,
    /// The track's live score (median of its judged frames) once its liveness is decided,
    /// on every later event of the track; `None` before, or without liveness checks.
    pub live: Option<f32>,
    /// The track's liveness decision (`Live` or `Spoof`), as `live`.
    pub liveness: Option<LivenessDecision>,
}

/// A track's identity as announced by the events so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TrackIdentity {
    /// Not decided yet.
    Pending,
    /// Named (see [`TrackInfo::person`]).
    Known,
    /// Not in the gallery, as far as the evidence goes.
    Unknown,
}

/// A live track, for display: [`FaceStream::tracks`].
#[derive(Debug, Clone, PartialEq)]
pub struct TrackInfo {
    /// The track's id.
    pub id: u64,
    /// Its box in the last pushed frame: detected, or predicted when the face was not
    /// detected in that frame.
    pub bbox: Rect,
    /// Whether `bbox` was detected in the last frame (false: predicted).
    pub detected: bool,
    /// Detection frames since its last detection (0 when detected in the last one).
    pub missed: u32,
    /// Timestamp of its first detection.
    pub first_seen: f64,
    /// Timestamp of its last detection.
    pub last_seen: f64,
    /// Its best shot's quality.
    pub best_quality: Quality,
    /// Timestamp of its best shot.
    pub best_shot_time: f64,
    /// Embeddings computed for it.
    pub embeddings: u32,
    /// Its announced identity.
    pub identity: TrackIdentity,
    /// The person, when `Known`.
    pub person: Option<PersonId>,
    /// Their name, when `Known`.
    pub name: Option<String>,
    /// The last gallery score of its aggregate embedding (best candidate), if any.
    pub score: Option<f32>,
    /// Identified at the confident threshold: it will not be embedded again.
    pub confident: bool,
    /// The decided live score (see [`StreamEvent::live`]).
    pub live: Option<f32>,
    /// The decided liveness.
    pub liveness: Option<LivenessDecision>,
    /// Frames judged for liveness so far.
    pub live_frames: u32,
}

/// Counters since the stream was made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct StreamStats {
    /// Frames pushed successfully.
    pub frames: u64,
    /// Frames the detector ran on.
    pub detection_frames: u64,
    /// Faces detected, over all frames.
    pub detections: u64,
    /// Faces embedded (one per face, whatever the number of networks in the preset).
    pub embeddings: u64,
    /// Embeddings wanted but put off by `max_embeddings_per_frame` (one per track and frame).
    pub embeddings_deferred: u64,
    /// Tracks started (confirmed).
    pub tracks_started: u64,
    /// Tracks ended.
    pub tracks_ended: u64,
}

/// A track's identity decision (internal).
#[derive(Debug, Clone, PartialEq)]
enum Decision {
    Pending,
    Known { person: PersonId, name: String, score: f32 },
    Unknown { score: Option<f32> },
}

impl Decision {
    fn person(&self) -> Option<PersonId> {
        match self {
            Decision::Known { person, .. } => Some(*person),
            _ => None,
        }
    }
}

#[derive(Debug, Clone)]
struct Track {
    /// Creation order (tentative tracks included); ties are broken by it.
    key: u64,
    /// Public id, 0 while tentative.
    id: u64,
    /// Last detected box, its time and the velocity of (cx, cy, w, h) per second.
    detected: Rect,
    t_detected: f64,
    velocity: [f32; 4],
    /// Box in the last frame (detected or predicted) and whether it was detected.
    current: Rect,
    current_detected: bool,
    hits: u32,
    missed: u32,
    first_seen: f64,
    best_quality: Quality,
    best_shot_time: f64,
    /// Best embeddings, quality descending (at most `aggregate_top`).
    shots: Vec<(f32, Embedding)>,
    embeddings: u32,
    last_embed_frame: u64,
    best_embedded_quality: f32,
    /// The last verdict (`Some(None)`: unknown) and how many consecutive times it was given.
    verdict: Option<Option<PersonId>>,
    streak: u32,
    decision: Decision,
    announced: Decision,
    last_score: Option<f32>,
    best_score: Option<f32>,
    confident: bool,
    /// Live scores of the judged frames, until the decision.
    live_scores: Vec<f32>,
    /// The decided liveness, and whether its event was sent.
    live: Option<(f32, LivenessDecision)>,
    live_announced: bool,
}

fn centre_size(r: &Rect) -> [f32; 4] {
    [r.x + r.width / 2.0, r.y + r.height / 2.0, r.width, r.height]
}

fn from_centre_size(v: [f32; 4]) -> Rect {
    let (w, h) = (v[2].max(1.0), v[3].max(1.0));
    Rect { x: v[0] - w / 2.0, y: v[1] - h / 2.0, width: w, height: h }
}

impl Track {
    fn predict(&self, t: f64) -> Rect {
        let dt = (t - self.t_detected) as f32;
        let c = centre_size(&self.detected);
        from_centre_size([0, 1, 2, 3].map(|i| c[i] + self.velocity[i] * dt))
    }

    fn update(&mut self, bbox: Rect, t: f64) {
        let dt = (t - self.t_detected) as f32;
        if dt > 0.0 {
            let (old, new) = (centre_size(&self.detected), centre_size(&bbox));
            let measured = [0, 1, 2, 3].map(|i| (new[i] - old[i]) / dt);
            self.velocity = if self.hits <= 1 { measured } else { [0, 1, 2, 3].map(|i| 0.5 * self.velocity[i] + 0.5 * measured[i]) };
        }
        self.detected = bbox;
        self.t_detected = t;
        self.current = bbox;
        self.current_detected = true;
        self.hits += 1;
        self.missed = 0;
    }

    fn info(&self) -> TrackInfo {
        let identity = match self.announced {
            Decision::Pending => TrackIdentity::Pending,
            Decision::Known { .. } => TrackIdentity::Known,
            Decision::Unknown { .. } => TrackIdentity::Unknown,
        };
        let name = match &self.announced {
            Decision::Known { name, .. } => Some(name.clone()),
            _ => None,
        };
        TrackInfo {
            id: self.id,
            bbox: self.current,
            detected: self.current_detected,
            missed: self.missed,
            first_seen: self.first_seen,
            last_seen: self.t_detected,
            best_quality: self.best_quality,
            best_shot_time: self.best_shot_time,
            embeddings: self.embeddings,
            identity,
            person: self.announced.person(),
            name,
            score: self.last_score,
            confident: self.confident,
            live: self.live.map(|l| l.0),
            liveness: self.live.map(|l| l.1),
            live_frames: self.live_scores.len() as u32,
        }
    }
}

/// Face tracking and recognition over a stream of frames; see the [module docs](self).
///
/// ```no_run
/// use facecore::{FacePipeline, FaceStream, Gallery, Image, Preset, StreamOptions};
/// let pipeline = FacePipeline::from_preset(Preset::Accurate)?;
/// let gallery = Gallery::load("people.fcg")?;
/// let mut stream = FaceStream::new(pipeline, Some(gallery), StreamOptions::default())?;
/// for (i, path) in ["f0.png", "f1.png", "f2.png"].iter().enumerate() {
///     for e in stream.push(&Image::open(path)?, i as f64 / 25.0)? {
///         println!("{} track {} {:?} {:?}", e.kind.name(), e.track, e.name, e.score);
///     }
/// }
/// for e in stream.finish() {
///     println!("{} track {} after {:.1} s", e.kind.name(), e.track, e.duration);
/// }
/// println!("{:?}", stream.stats());
/// # Ok::<(), facecore::Error>(())
/// ```
#[derive(Clone)]
pub struct FaceStream {
    pipeline: FacePipeline,
    gallery: Option<Gallery>,
    options: StreamOptions,
    threshold: f32,
    confident_threshold: f32,
    size: Option<(u32, u32)>,
    last_time: Option<f64>,
    frame: u64,
    tracks: Vec<Track>,
    next_key: u64,
    next_id: u64,
    stats: StreamStats,
}

impl std::fmt::Debug for FaceStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FaceStream")
            .field("space", &self.pipeline.recognizer().space())
            .field("gallery", &self.gallery)
            .field("options", &self.options)
            .field("threshold", &self.threshold)
            .field("frame_size", &self.size)
            .field("tracks", &self.tracks())
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

fn check_gallery(pipeline: &FacePipeline, gallery: Option<&Gallery>) -> Result<()> {
    let space = pipeline.recognizer().space();
    match gallery.and_then(Gallery::space) {
        Some(g) if g != space => Err(Error::ModelMismatch { left: format!("gallery of {g}"), right: format!("pipeline of {space}") }),
        _ => Ok(()),
    }
}

/// A shot chosen for embedding: the detection's index.
struct Planned {
    det: usize,
}

impl FaceStream {
    /// A stream over `pipeline`, identifying people of `gallery` (or nobody).
    ///
    /// # Errors
    /// [`Error::InvalidInput`] for bad options, or when `threshold` is `None` and the
    /// pipeline's space has no calibrated threshold at `operating_point`;
    /// [`Error::ModelMismatch`] when the gallery holds embeddings of another space.
    pub fn new(pipeline: FacePipeline, gallery: Option<Gallery>, options: StreamOptions) -> Result<Self> {
        options.validate()?;
        check_gallery(&pipeline, gallery.as_ref())?;
        let space = pipeline.recognizer().space().to_string();
        let threshold = match options.threshold {
            Some(t) => t,
            None => options.operating_point.threshold(&space)?,
        };
        let confident_threshold = match options.confident_threshold {
            Some(t) => t,
            None => OperatingPoint::Fmr1e4.threshold(&space).map_or(threshold, |t| t.max(threshold)),
        };
        Ok(FaceStream {
            pipeline,
            gallery,
            options,
            threshold,
            confident_threshold,
            size: None,
            last_time: None,
            frame: 0,
            tracks: Vec::new(),
            next_key: 0,
            next_id: 1,
            stats: StreamStats::default(),
        })
    }

    /// The options in force.
    pub fn options(&self) -> &StreamOptions {
        &self.options
    }

    /// The match threshold in force (resolved from the operating point when not given).
    pub fn threshold(&self) -> f32 {
        self.threshold
    }

    /// The confident threshold in force.
    pub fn confident_threshold(&self) -> f32 {
        self.confident_threshold
    }

    /// The pipeline.
    pub fn pipeline(&self) -> &FacePipeline {
        &self.pipeline
    }

    /// The gallery snapshot in use.
    pub fn gallery(&self) -> Option<&Gallery> {
        self.gallery.as_ref()
    }

    /// Replaces the gallery (e.g. after enrolments). Named tracks keep their names; the
    /// others are judged against the new gallery from their next embedding.
    ///
    /// # Errors
    /// [`Error::ModelMismatch`] when the gallery holds embeddings of another space (the old
    /// gallery stays).
    pub fn set_gallery(&mut self, gallery: Option<Gallery>) -> Result<()> {
        check_gallery(&self.pipeline, gallery.as_ref())?;
        self.gallery = gallery;
        Ok(())
    }

    /// Counters so far.
    pub fn stats(&self) -> StreamStats {
        self.stats
    }

    /// The live tracks (not the tentative ones), by id.
    pub fn tracks(&self) -> Vec<TrackInfo> {
        self.tracks.iter().filter(|t| t.id != 0).map(Track::info).collect()
    }

    /// The frame size fixed by the first frame (until [`FaceStream::finish`]).
    pub fn frame_size(&self) -> Option<(u32, u32)> {
        self.size
    }

    /// Processes one frame taken at `timestamp` (seconds, any origin, never decreasing) and
    /// returns its events: ordered by track id, and for one track `Started` before an
    /// identity event; `Ended` events come last.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] for a frame of another size than the first one, or a
    /// timestamp that is not finite or earlier than the previous frame's; engine errors as
    /// [`FacePipeline::analyze`]. After an error the stream is unchanged and usable.
    pub fn push(&mut self, frame: &Image, timestamp: f64) -> Result<Vec<StreamEvent>> {
        let (w, h) = (frame.width(), frame.height());
        if let Some((sw, sh)) = self.size
            && (sw, sh) != (w, h)
        {
            return Err(Error::input(
                "frame",
                format!("{w}x{h} in a stream of {sw}x{sh} frames (call finish() before changing the frame size)"),
            ));
        }
        if !timestamp.is_finite() {
            return Err(Error::input("timestamp", format!("{timestamp} is not a finite number of seconds")));
        }
        if let Some(last) = self.last_time
            && timestamp < last
        {
            return Err(Error::input("timestamp", format!("{timestamp} s is earlier than the previous frame's {last} s")));
        }
        let index = self.frame;
        let detect = index.is_multiple_of(u64::from(self.options.detect_every));
        let mut events = Vec::new();
        if !detect {
            for t in &mut self.tracks {
                t.current = t.predict(timestamp);
                t.current_detected = false;
            }
        } else {
            // Fallible work first (detection, embeddings); the state changes only after.
            let faces = self.pipeline.detector().detect(frame)?;
            let qualities: Vec<Quality> = faces.iter().map(|f| Quality::measure(frame, f)).collect();
            let predicted: Vec<Rect> = self.tracks.iter().map(|t| t.predict(timestamp)).collect();
            let track_of_det = self.associate(&predicted, &faces);
            let (plan, deferred) = self.plan_embeddings(&faces, &qualities, &track_of_det, index);
            let embedded = self.embed(frame, &faces, &plan)?;
            let live = self.judge_liveness(frame, &faces, &qualities, &track_of_det)?;
            self.stats.detection_frames += 1;
            self.stats.detections += faces.len() as u64;
            self.stats.embeddings_deferred += deferred;
            events = self.apply(timestamp, index, &faces, &qualities, &predicted, &track_of_det, &plan, embedded, &live);
        }
        self.size = Some((w, h));
        self.last_time = Some(timestamp);
        self.frame += 1;
        self.stats.frames += 1;
        Ok(events)
    }

    /// Ends every track ([`StreamEventKind::Ended`] for the live ones, stamped with the last
    /// frame's timestamp) and forgets the frame size, so the next frame may have another
    /// size. Ids keep counting; stats keep adding up.
    pub fn finish(&mut self) -> Vec<StreamEvent> {
        let t = self.last_time.unwrap_or(0.0);
        let frame = self.frame.saturating_sub(1);
        let tracks = std::mem::take(&mut self.tracks);
        let mut events = Vec::new();
        for tr in tracks.iter().filter(|t| t.id != 0) {
            events.push(self.ended(tr, t, frame));
        }
        self.size = None;
        events
    }

    /// Greedy IoU matching: for each detection, the index of its track (or `None`). Pairs are
    /// taken best IoU first; ties go to the older track, then the earlier detection. Then a
    /// centre-distance pass for confirmed tracks and detections left over (see below).
    fn associate(&self, predicted: &[Rect], faces: &[Face]) -> Vec<Option<usize>> {
        let mut pairs: Vec<(f32, usize, usize)> = Vec::new();
        for (ti, p) in predicted.iter().enumerate() {
            for (di, f) in faces.iter().enumerate() {
                let iou = p.iou(&f.bbox);
                if iou >= self.options.iou_threshold {
                    pairs.push((iou, ti, di));
                }
            }
        }
        pairs.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)).then(a.2.cmp(&b.2)));
        let mut track_of_det = vec![None; faces.len()];
        let mut taken = vec![false; predicted.len()];
        for (_, ti, di) in pairs {
            if !taken[ti] && track_of_det[di].is_none() {
                taken[ti] = true;
                track_of_det[di] = Some(ti);
            }
        }
        // Second pass for what is left: a face that was partly hidden (its boxes shrank, so
        // the predicted box drifted) matches a confirmed track whose predicted centre is
        // within half a face of its own, at a similar size. Closest first.
        let mut near: Vec<(f32, usize, usize)> = Vec::new();
        for (ti, p) in predicted.iter().enumerate() {
            if taken[ti] || self.tracks[ti].id == 0 {
                continue;
            }
            for (di, f) in faces.iter().enumerate() {
                if track_of_det[di].is_some() {
                    continue;
                }
                let b = &f.bbox;
                let size = p.width.max(p.height).max(b.width.max(b.height));
                let ratio = (b.width * b.height) / (p.width * p.height).max(1e-6);
                let d =
                    ((p.x + p.width / 2.0 - b.x - b.width / 2.0).powi(2) + (p.y + p.height / 2.0 - b.y - b.height / 2.0).powi(2)).sqrt();
                if d < 0.5 * size && (0.4..=2.5).contains(&ratio) {
                    near.push((d / size, ti, di));
                }
            }
        }
        near.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)).then(a.2.cmp(&b.2)));
        for (_, ti, di) in near {
            if !taken[ti] && track_of_det[di].is_none() {
                taken[ti] = true;
                track_of_det[di] = Some(ti);
            }
        }
        track_of_det
    }

    /// Which detections to embed this frame, and how many wanted an embedding but were put
    /// off by the budget.
    fn plan_embeddings(&self, faces: &[Face], q: &[Quality], track_of_det: &[Option<usize>], frame: u64) -> (Vec<Planned>, u64) {
        let o = &self.options;
        // (never embedded, frames waited, quality, order key, planned)
        let mut wanted: Vec<(bool, u64, f32, u64, Planned)> = Vec::new();
        let mut new_key = self.next_key;
        for (di, _) in faces.iter().enumerate() {
            let quality = q[di].score;
            if quality < o.min_embed_quality {
                if track_of_det[di].is_none() {
                    new_key += 1;
                }
                continue;
            }
            match track_of_det[di] {
                None => {
                    wanted.push((true, u64::MAX, quality, new_key, Planned { det: di }));
                    new_key += 1;
                }
                Some(ti) => {
                    let t = &self.tracks[ti];
                    if t.confident || t.embeddings >= o.max_embeddings_per_track {
                        continue;
                    }
                    let never = t.shots.is_empty() && t.embeddings == 0;
                    let waited = frame.saturating_sub(t.last_embed_frame);
                    let better = quality >= t.best_embedded_quality + o.reembed_gain;
                    if never || better || waited >= u64::from(o.reembed_every) {
                        wanted.push((never, if never { u64::MAX } else { waited }, quality, t.key, Planned { det: di }));
                    }
                }
            }
        }
        wanted.sort_by(|a, b| b.0.cmp(&a.0).then(b.1.cmp(&a.1)).then(b.2.total_cmp(&a.2)).then(a.3.cmp(&b.3)));
        let budget = o.max_embeddings_per_frame as usize;
        let deferred = wanted.len().saturating_sub(budget) as u64;
        wanted.truncate(budget);
        (wanted.into_iter().map(|w| w.4).collect(), deferred)
    }

    /// Live scores of the detections whose track still needs judged frames (best quality
    /// first, at most `max_liveness_per_frame`); `None` for the others and for faces too small
    /// or cut by the frame edge. Nothing without a liveness-checking pipeline.
    fn judge_liveness(&self, frame: &Image, faces: &[Face], q: &[Quality], track_of_det: &[Option<usize>]) -> Result<Vec<Option<f32>>> {
        let mut live = vec![None; faces.len()];
        let Some((checker, _)) = self.pipeline.liveness() else { return Ok(live) };
        let need = self.options.liveness_frames as usize;
        let mut wanted: Vec<usize> = (0..faces.len())
            .filter(|&di| track_of_det[di].is_none_or(|ti| self.tracks[ti].live.is_none() && self.tracks[ti].live_scores.len() < need))
            .collect();
        wanted.sort_by(|&a, &b| q[b].score.total_cmp(&q[a].score).then(a.cmp(&b)));
        wanted.truncate(self.options.max_liveness_per_frame as usize);
        for di in wanted {
            live[di] = checker.score(frame, &faces[di])?.ok();
        }
        Ok(live)
    }

    /// Embeds the planned shots: one embedding (or `None` for an unalignable face) per plan entry.
    fn embed(&self, frame: &Image, faces: &[Face], plan: &[Planned]) -> Result<Vec<Option<Embedding>>> {
        let chosen: Vec<Face> = plan.iter().map(|p| faces[p.det]).collect();
        let analyzed = self.pipeline.embed_faces(frame, chosen.clone())?;
        // embed_faces keeps the order and skips only unalignable faces.
        let mut it = analyzed.into_iter().peekable();
        Ok(chosen.iter().map(|f| if it.peek().is_some_and(|a| a.face == *f) { it.next().map(|a| a.embedding) } else { None }).collect())
    }

    #[allow(clippy::too_many_arguments)]
    fn apply(
        &mut self,
        t: f64,
        frame: u64,
        faces: &[Face],
        q: &[Quality],
        predicted: &[Rect],
        track_of_det: &[Option<usize>],
        plan: &[Planned],
        embedded: Vec<Option<Embedding>>,
        live: &[Option<f32>],
    ) -> Vec<StreamEvent> {
        let mut matched = vec![false; self.tracks.len()];
        // Update matched tracks, create new ones (in detection order).
        let mut track_of = vec![usize::MAX; faces.len()];
        for (di, f) in faces.iter().enumerate() {
            match track_of_det[di] {
                Some(ti) => {
                    matched[ti] = true;
                    self.tracks[ti].update(f.bbox, t);
                    track_of[di] = ti;
                }
                None => {
                    self.tracks.push(Track {
                        key: self.next_key,
                        id: 0,
                        detected: f.bbox,
                        t_detected: t,
                        velocity: [0.0; 4],
                        current: f.bbox,
                        current_detected: true,
                        hits: 1,
                        missed: 0,
                        first_seen: t,
                        best_quality: q[di],
                        best_shot_time: t,
                        shots: Vec::new(),
                        embeddings: 0,
                        last_embed_frame: frame,
                        best_embedded_quality: 0.0,
                        verdict: None,
                        streak: 0,
                        decision: Decision::Pending,
                        announced: Decision::Pending,
                        last_score: None,
                        best_score: None,
                        confident: false,
                        live_scores: Vec::new(),
                        live: None,
                        live_announced: false,
                    });
                    self.next_key += 1;
                    track_of[di] = self.tracks.len() - 1;
                }
            }
            let tr = &mut self.tracks[track_of[di]];
            if q[di].score > tr.best_quality.score {
                tr.best_quality = q[di];
                tr.best_shot_time = t;
            }
            if let (Some(score), None) = (live[di], tr.live) {
                tr.live_scores.push(score);
                if tr.live_scores.len() >= self.options.liveness_frames as usize
                    && let Some((_, op)) = self.pipeline.liveness()
                {
                    let mut sorted = tr.live_scores.clone();
                    sorted.sort_by(f32::total_cmp);
                    let median = sorted[sorted.len() / 2];
                    let decision = if median >= op.threshold() { LivenessDecision::Live } else { LivenessDecision::Spoof };
                    tr.live = Some((median, decision));
                }
            }
        }
        // Unmatched tracks: predicted, one more miss.
        for (ti, m) in matched.iter().enumerate() {
            if !m {
                let tr = &mut self.tracks[ti];
                tr.current = predicted[ti];
                tr.current_detected = false;
                tr.missed += 1;
            }
        }
        // New embeddings and identity verdicts.
        for (p, e) in plan.iter().zip(embedded) {
            let ti = track_of[p.det];
            let quality = q[p.det].score;
            self.tracks[ti].last_embed_frame = frame;
            let Some(e) = e else { continue };
            self.stats.embeddings += 1;
            self.add_embedding(ti, quality, e);
        }
        // Confirm, announce, end.
        let mut events = Vec::new();
        let mut ended = Vec::new();
        let mut kept = Vec::with_capacity(self.tracks.len());
        for mut tr in std::mem::take(&mut self.tracks) {
            let gone = if tr.id == 0 { tr.missed > 0 } else { tr.missed > self.options.max_missed };
            if gone {
                if tr.id != 0 {
                    ended.push(tr);
                }
                continue;
            }
            if tr.id == 0 && tr.hits >= self.options.min_hits {
                tr.id = self.next_id;
                self.next_id += 1;
                self.stats.tracks_started += 1;
                events.push(self.event(&tr, StreamEventKind::Started, t, frame));
            }
            if tr.id != 0 && tr.decision != tr.announced {
                let kind = match (&tr.announced, &tr.decision) {
                    (_, Decision::Unknown { .. }) => Some(StreamEventKind::Unknown),
                    (Decision::Known { .. }, Decision::Known { .. }) => Some(StreamEventKind::Changed),
                    (_, Decision::Known { .. }) => Some(StreamEventKind::Identified),
                    (_, Decision::Pending) => None,
                };
                // Same verdict with a new score: no event, just the new score.
                let same = tr.decision.person() == tr.announced.person() && !matches!(tr.announced, Decision::Pending);
                if let Some(kind) = kind
                    && !same
                {
                    let mut e = self.event(&tr, kind, t, frame);
                    if kind == StreamEventKind::Changed {
                        e.previous = tr.announced.person();
                        e.previous_name = match &tr.announced {
                            Decision::Known { name, .. } => Some(name.clone()),
                            _ => None,
                        };
                    }
                    if let Decision::Unknown { score } = tr.decision {
                        e.score = score;
                    }
                    events.push(e);
                }
                tr.announced = tr.decision.clone();
            }
            if tr.id != 0 && tr.live.is_some() && !tr.live_announced {
                events.push(self.event(&tr, StreamEventKind::Liveness, t, frame));
                tr.live_announced = true;
            }
            kept.push(tr);
        }
        self.tracks = kept;
        for tr in &ended {
            events.push(self.ended(tr, t, frame));
        }
        events
    }

    fn add_embedding(&mut self, ti: usize, quality: f32, e: Embedding) {
        let o = self.options;
        let (threshold, confident_threshold) = (self.threshold, self.confident_threshold);
        let tr = &mut self.tracks[ti];
        tr.embeddings += 1;
        tr.best_embedded_quality = tr.best_embedded_quality.max(quality);
        let at = tr.shots.iter().position(|(sq, _)| quality > *sq).unwrap_or(tr.shots.len());
        tr.shots.insert(at, (quality, e));
        tr.shots.truncate(o.aggregate_top as usize);
        // The aggregate: normalised mean of the best shots.
        let dim = tr.shots[0].1.dim();
        let mut mean = vec![0.0f32; dim];
        for (_, s) in &tr.shots {
            for (m, v) in mean.iter_mut().zip(s.as_slice()) {
                *m += v;
            }
        }
        let space = tr.shots[0].1.model().to_string();
        let Ok(aggregate) = Embedding::new(space, mean) else { return };
        let best = match &self.gallery {
            Some(g) => g.search(&aggregate, 1).ok().and_then(|mut m| m.pop()),
            None => None,
        };
        let score = best.as_ref().map(|m| m.score);
        tr.last_score = score;
        tr.best_score = match (tr.best_score, score) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
        let verdict = best.as_ref().filter(|m| m.score >= threshold).map(|m| m.id);
        if tr.verdict == Some(verdict) {
            tr.streak += 1;
        } else {
            tr.verdict = Some(verdict);
            tr.streak = 1;
        }
        match (&tr.decision, &best, verdict) {
            (Decision::Known { person, .. }, Some(m), Some(v)) if *person == v => {
                tr.decision = Decision::Known { person: v, name: m.name.clone(), score: m.score };
            }
            (_, Some(m), Some(v)) if tr.streak >= o.min_evidence => {
                tr.decision = Decision::Known { person: v, name: m.name.clone(), score: m.score };
            }
            (Decision::Pending, _, None) if tr.streak >= o.unknown_evidence => {
                tr.decision = Decision::Unknown { score };
            }
            _ => {}
        }
        tr.confident = matches!(tr.decision, Decision::Known { person, .. } if Some(person) == verdict)
            && score.is_some_and(|s| s >= confident_threshold);
    }

    fn event(&self, tr: &Track, kind: StreamEventKind, t: f64, frame: u64) -> StreamEvent {
        let (person, name, score) = match &tr.decision {
            Decision::Known { person, name, score } if kind != StreamEventKind::Started => {
                (Some(*person), Some(name.clone()), Some(*score))
            }
            _ => (None, None, None),
        };
        StreamEvent {
            kind,
            track: tr.id,
            timestamp: t,
            frame,
            bbox: tr.current,
            quality: tr.best_quality.score,
            person,
            name,
            score,
            previous: None,
            previous_name: None,
            duration: 0.0,
            live: tr.live.map(|l| l.0),
            liveness: tr.live.map(|l| l.1),
        }
    }

    fn ended(&mut self, tr: &Track, t: f64, frame: u64) -> StreamEvent {
        self.stats.tracks_ended += 1;
        let (person, name) = match &tr.announced {
            Decision::Known { person, name, .. } => (Some(*person), Some(name.clone())),
            _ => (None, None),
        };
        StreamEvent {
            kind: StreamEventKind::Ended,
            track: tr.id,
            timestamp: t,
            frame,
            bbox: tr.detected,
            quality: tr.best_quality.score,
            person,
            name,
            score: tr.best_score,
            previous: None,
            previous_name: None,
            duration: tr.t_detected - tr.first_seen,
            live: tr.live.map(|l| l.0),
            liveness: tr.live.map(|l| l.1),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(x: f32, y: f32) -> Rect {
        Rect { x, y, width: 40.0, height: 50.0 }
    }

    #[test]
    fn options_validation() {
        assert!(StreamOptions::default().validate().is_ok());
        assert!(StreamOptions { detect_every: 0, ..Default::default() }.validate().is_err());
        assert!(StreamOptions { iou_threshold: f32::NAN, ..Default::default() }.validate().is_err());
        assert!(StreamOptions { threshold: Some(2.0), ..Default::default() }.validate().is_err());
        assert!(StreamOptions { max_embeddings_per_frame: 0, ..Default::default() }.validate().is_ok());
    }

    #[test]
    fn constant_velocity_prediction() {
        let mut t = Track {
            key: 0,
            id: 1,
            detected: r(0.0, 0.0),
            t_detected: 0.0,
            velocity: [0.0; 4],
            current: r(0.0, 0.0),
            current_detected: true,
            hits: 1,
            missed: 0,
            first_seen: 0.0,
            best_quality: Quality::default(),
            best_shot_time: 0.0,
            shots: Vec::new(),
            embeddings: 0,
            last_embed_frame: 0,
            best_embedded_quality: 0.0,
            verdict: None,
            streak: 0,
            decision: Decision::Pending,
            announced: Decision::Pending,
            last_score: None,
            best_score: None,
            confident: false,
            live_scores: Vec::new(),
            live: None,
            live_announced: false,
        };
        t.update(r(10.0, 5.0), 0.5);
        let p = t.predict(1.5);
        assert!((p.x - 30.0).abs() < 1e-3 && (p.y - 15.0).abs() < 1e-3 && (p.width - 40.0).abs() < 1e-3, "{p:?}");
    }
}
