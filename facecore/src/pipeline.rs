//! The whole job in one object: detect, align, embed every face.

use std::sync::mpsc;

use crate::cascade::{Band, CascadeBands, CascadeMode, Stage};
use crate::detect::{Detector, DetectorConfig, Face};
use crate::embed::Embedding;
use crate::error::{Error, Result};
use crate::gallery::{Gallery, Identity, Match, PersonId};
use crate::image::Image;
use crate::liveness::{Liveness, LivenessOp, LivenessResult};
use crate::quality::{Quality, QualityConfig};
use crate::recognize::{Preset, Recognizer};
use crate::verify::{OperatingPoint, Verification};

/// A face with its embedding.
#[derive(Debug, Clone)]
pub struct AnalyzedFace {
    /// Where the face is.
    pub face: Face,
    /// What it looks like, in the recognizer's embedding space.
    pub embedding: Embedding,
    /// How good the face is for recognition (size, sharpness, exposure, pose; see
    /// [`Quality`]), measured on a 112 px chip whatever the preset.
    pub quality: Quality,
    /// Live or spoof, when the pipeline checks liveness ([`FacePipeline::with_liveness`]).
    pub liveness: Option<LivenessResult>,
}

/// Settings of [`FacePipeline::enroll`].
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct EnrollOptions {
    /// The floor the face must meet ([`QualityConfig::default`]; [`QualityConfig::NONE`]
    /// accepts any face).
    pub quality: QualityConfig,
}

/// What [`FacePipeline::enroll`] enrolled.
#[derive(Debug, Clone)]
pub struct Enrolled {
    /// The person's id in the gallery (new, or theirs if the name was enrolled before).
    pub person: PersonId,
    /// The face that was enrolled, with its embedding and quality.
    pub face: AnalyzedFace,
}

/// One face named by [`FacePipeline::identify`].
#[derive(Debug, Clone)]
pub struct Identified {
    /// Where the face is.
    pub face: Face,
    /// Who it is. The match's score is in the space of the stage that decided: the fused
    /// cosine for [`Stage::Full`], the first network's cosine against the templates' part of
    /// that network for [`Stage::First`].
    pub identity: Identity,
    /// Which networks decided.
    pub stage: Stage,
    /// What the score was compared with: the operating point's fused threshold for
    /// [`Stage::Full`]; the band's upper bound for an accept (or its lower bound for a
    /// reject) at [`Stage::First`].
    pub threshold: f32,
    /// How good the face is for recognition (its yaw routes turned faces to the full fusion).
    pub quality: Quality,
    /// Live or spoof, when the pipeline checks liveness.
    pub liveness: Option<LivenessResult>,
}

/// The answer of [`FacePipeline::verify`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Verified {
    /// Score, threshold and decision. At [`Stage::First`] the similarity is the first
    /// network's cosine and the threshold the band bound it passed (upper for "same", lower
    /// for "different"); at [`Stage::Full`] the fused cosine and the operating point's
    /// threshold, as [`crate::verify`] gives.
    pub verification: Verification,
    /// Which networks decided.
    pub stage: Stage,
    /// The most confident face of each image, the ones compared.
    pub faces: [Face; 2],
}

/// Most threads a pipeline may use for one call.
pub const MAX_THREADS: usize = 64;

/// Detector plus recognizer, loaded once; `Send + Sync`, cheap to clone.
///
/// Threads: by default every call runs on the caller's thread only (`threads == 1`), which
/// suits firmware and servers that already run one pipeline per core. With
/// [`FacePipeline::with_threads`], [`FacePipeline::analyze`] embeds the faces of one image on
/// that many threads, and [`FacePipeline::analyze_frames`] overlaps detection of the next frame
/// with embedding of the current one. Results are identical to the single-thread path: the
/// same networks run on the same inputs, only on other threads.
///
/// ```no_run
/// use facecore::{FacePipeline, Image, Preset};
/// let pipeline = FacePipeline::from_preset(Preset::Accurate)?;
/// let faces = pipeline.analyze(&Image::open("group.jpg")?)?;
/// println!("{} faces", faces.len());
/// # Ok::<(), facecore::Error>(())
/// ```
#[derive(Clone)]
pub struct FacePipeline {
    detector: Detector,
    recognizer: Recognizer,
    threads: usize,
    liveness: Option<(Liveness, LivenessOp)>,
    cascade: bool,
}

impl FacePipeline {
    /// The bundled models in a preset, default detector settings.
    ///
    /// # Errors
    /// [`crate::Error::ModelLoad`] if a bundled model fails to load.
    pub fn from_preset(preset: Preset) -> Result<Self> {
        Self::from_preset_with(preset, &crate::models::ModelSource::default())
    }

    /// A preset with its models from `source` (a directory, memory buffers, the bundled ones).
    ///
    /// # Errors
    /// [`crate::Error::ModelLoad`] if `source` lacks a model or holds a damaged one.
    pub fn from_preset_with(preset: Preset, source: &crate::models::ModelSource) -> Result<Self> {
        Ok(FacePipeline::new(Detector::from_source(source, DetectorConfig::default())?, Recognizer::from_preset_with(preset, source)?))
    }

    /// Combines a detector and a recognizer.
    pub fn new(detector: Detector, recognizer: Recognizer) -> Self {
        FacePipeline { detector, recognizer, threads: 1, liveness: None, cascade: true }
    }

    /// The same pipeline using up to `threads` threads per call (1 = the caller's thread only,
    /// the default).
    ///
    /// # Errors
    /// [`Error::InvalidInput`] unless `1 <= threads <= MAX_THREADS`.
    pub fn with_threads(mut self, threads: usize) -> Result<Self> {
        if !(1..=MAX_THREADS).contains(&threads) {
            return Err(Error::input("threads", format!("{threads} is not in 1..={MAX_THREADS}")));
        }
        self.threads = threads;
        Ok(self)
    }

    /// Threads used per call.
    pub fn threads(&self) -> usize {
        self.threads
    }

    /// The same pipeline with another detector configuration.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] for a bad config.
    pub fn with_detector_config(mut self, config: DetectorConfig) -> Result<Self> {
        self.detector = self.detector.with_config(config)?;
        Ok(self)
    }

    /// The detector.
    pub fn detector(&self) -> &Detector {
        &self.detector
    }

    /// The recognizer.
    pub fn recognizer(&self) -> &Recognizer {
        &self.recognizer
    }

    /// Detects every face and embeds it (faces in parallel when `threads > 1`).
    ///
    /// # Errors
    /// [`crate::Error::Inference`] on engine failure.
    pub fn analyze(&self, img: &Image) -> Result<Vec<AnalyzedFace>> {
        let faces = self.detector.detect(img)?;
        self.embed_faces(img, faces)
    }

    /// Embeds already detected faces of `img`, in order, on up to `threads` threads. Faces
    /// whose landmarks are too degenerate to align are skipped.
    ///
    /// # Errors
    /// [`crate::Error::Inference`] on engine failure.
    pub fn embed_faces(&self, img: &Image, faces: Vec<Face>) -> Result<Vec<AnalyzedFace>> {
        self.map_faces(&faces, |face: &Face| {
            let embedding = self.recognizer.embed(img, face)?;
            let liveness = self.liveness_of(img, face)?;
            Ok(AnalyzedFace { face: *face, embedding, quality: Quality::measure(img, face), liveness })
        })
    }

    /// `one` over every face, in order, on up to `threads` threads; faces whose landmarks are
    /// too degenerate to align are skipped.
    fn map_faces<T: Send>(&self, faces: &[Face], one: impl Fn(&Face) -> Result<T> + Sync) -> Result<Vec<T>> {
        let one = |face: &Face| match one(face) {
            Ok(t) => Some(Ok(t)),
            // A face whose landmarks are degenerate cannot be aligned: skip it. Every other
            // failure (engine, bad argument) is the caller's to see.
            Err(Error::DegenerateFace { .. }) => None,
            Err(e) => Some(Err(e)),
        };
        let workers = self.threads.min(faces.len());
        if workers <= 1 {
            return faces.iter().filter_map(one).collect();
        }
        // Worker w takes faces w, w + workers, ...; results are put back in detection order.
        let mut slots: Vec<Option<Result<T>>> = Vec::with_capacity(faces.len());
        let per_worker: Vec<Vec<(usize, Option<Result<T>>)>> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..workers)
                .map(|w| {
                    let one = &one;
                    scope.spawn(move || (w..faces.len()).step_by(workers).map(|i| (i, one(&faces[i]))).collect::<Vec<_>>())
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap_or_default()).collect()
        });
        slots.resize_with(faces.len(), || None);
        let mut done = 0;
        for (i, r) in per_worker.into_iter().flatten() {
            slots[i] = r;
            done += 1;
        }
        if done != faces.len() {
            return Err(Error::Inference { model: "pipeline", source: "an embedding thread panicked".into() });
        }
        slots.into_iter().flatten().collect()
    }

    /// Analyses a stream of frames, calling `on_frame(index, frame, faces)` for each, in order.
    ///
    /// Two stages run at once: a helper thread detects faces in frame n + 1 while the calling
    /// thread embeds the faces of frame n (on `threads` threads). On two cores this roughly
    /// doubles throughput against calling [`FacePipeline::analyze`] in a loop, with identical
    /// results. At most one frame waits between the stages, so memory stays bounded. Stops at
    /// the first error, from the pipeline or returned by `on_frame`.
    ///
    /// # Errors
    /// The first error of detection, embedding or `on_frame`.
    pub fn analyze_frames<I, F>(&self, frames: I, mut on_frame: F) -> Result<()>
    where
        I: IntoIterator<Item = Image>,
        I::IntoIter: Send,
        F: FnMut(usize, &Image, Vec<AnalyzedFace>) -> Result<()>,
    {
        let frames = frames.into_iter();
        std::thread::scope(|scope| {
            let (tx, rx) = mpsc::sync_channel::<Result<(Image, Vec<Face>)>>(1);
            let detector = &self.detector;
            let stage1 = scope.spawn(move || {
                for img in frames {
                    let item = detector.detect(&img).map(|faces| (img, faces));
                    let failed = item.is_err();
                    // The receiver hangs up after an error: stop detecting.
                    if tx.send(item).is_err() || failed {
                        break;
                    }
                }
            });
            let mut result = Ok(());
            for (index, item) in rx.iter().enumerate() {
                let step = item.and_then(|(img, faces)| {
                    let analyzed = self.embed_faces(&img, faces)?;
                    on_frame(index, &img, analyzed)
                });
                if let Err(e) = step {
                    result = Err(e);
                    break;
                }
            }
            drop(rx);
            if stage1.join().is_err() && result.is_ok() {
                result = Err(Error::Inference { model: "pipeline", source: "the detection thread panicked".into() });
            }
            result
        })
    }

    /// Embeds the single most confident face, if any.
    ///
    /// # Errors
    /// As [`FacePipeline::analyze`].
    pub fn embed_best(&self, img: &Image) -> Result<Option<AnalyzedFace>> {
        let Some(face) = self.detector.detect(img)?.into_iter().next() else { return Ok(None) };
        let embedding = self.recognizer.embed(img, &face)?;
        let liveness = self.liveness_of(img, &face)?;
        Ok(Some(AnalyzedFace { face, embedding, quality: Quality::measure(img, &face), liveness }))
    }

    /// The same pipeline checking liveness of every face it analyses, at `op`: each
    /// [`AnalyzedFace::liveness`] is then filled. Opt-in: it runs two more (small) networks
    /// per face; `facecore bench` prints their cost.
    #[must_use]
    pub fn with_liveness(mut self, liveness: Liveness, op: LivenessOp) -> Self {
        self.liveness = Some((liveness, op));
        self
    }

    /// The liveness check and its operating point, if enabled.
    pub fn liveness(&self) -> Option<(&Liveness, LivenessOp)> {
        self.liveness.as_ref().map(|(l, op)| (l, *op))
    }

    fn liveness_of(&self, img: &Image, face: &Face) -> Result<Option<LivenessResult>> {
        self.liveness.as_ref().map(|(l, op)| l.check(img, face, *op)).transpose()
    }

    /// Enrols the most confident face of `img` under `name`, after checking its quality
    /// against `options.quality`: the quality is measured before the (costly) embedding, and
    /// a face below the floor is refused without touching the gallery.
    ///
    /// ```no_run
    /// use facecore::{EnrollOptions, FacePipeline, Gallery, Image, Preset, QualityConfig};
    /// let pipeline = FacePipeline::from_preset(Preset::Fast)?;
    /// let mut gallery = Gallery::new();
    /// let img = Image::open("obama.jpg")?;
    /// match pipeline.enroll(&mut gallery, "obama", &img, &EnrollOptions::default()) {
    ///     Err(facecore::Error::LowQuality { measure, .. }) => {
    ///         eprintln!("{measure} too low; enrolling anyway");
    ///         pipeline.enroll(&mut gallery, "obama", &img, &EnrollOptions { quality: QualityConfig::NONE })?;
    ///     }
    ///     other => { other?; }
    /// }
    /// # Ok::<(), facecore::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::InvalidInput`] when `img` holds no face, [`Error::LowQuality`] naming the
    /// failing measure, [`Error::DegenerateFace`] when the face cannot be aligned, otherwise
    /// as [`Gallery::enroll`] and [`FacePipeline::analyze`].
    pub fn enroll(&self, gallery: &mut Gallery, name: &str, img: &Image, options: &EnrollOptions) -> Result<Enrolled> {
        let Some(face) = self.detector.detect(img)?.into_iter().next() else {
            return Err(Error::input("image", "no face found to enrol"));
        };
        let quality = Quality::measure(img, &face);
        options.quality.check(&quality)?;
        let embedding = self.recognizer.embed(img, &face)?;
        let liveness = self.liveness_of(img, &face)?;
        let person = gallery.enroll(name, &embedding)?;
        Ok(Enrolled { person, face: AnalyzedFace { face, embedding, quality, liveness } })
    }

    /// The same pipeline with the cascade on (the default) or off. Off, [`FacePipeline::identify`]
    /// and [`FacePipeline::verify`] run the full fusion for every face (the reference the
    /// cascade is measured against); the decisions agree on all but a calibrated sliver of
    /// pairs, see [`crate::cascade`].
    #[must_use]
    pub fn with_cascade(mut self, on: bool) -> Self {
        self.cascade = on;
        self
    }

    /// The bands [`FacePipeline::identify`] / [`FacePipeline::verify`] use at `op`: `None`
    /// when the cascade is off or the recognizer's space has none (every preset but
    /// `accurate`), and every face then takes the full path.
    pub fn cascade_bands(&self, mode: CascadeMode, op: OperatingPoint) -> Option<(CascadeBands, usize)> {
        if !self.cascade {
            return None;
        }
        let bands = CascadeBands::lookup(self.recognizer.space(), mode, op)?;
        let branch = self.recognizer.branch_of_space(&bands.first)?;
        Some((bands, branch))
    }

    /// Names every face of `img` against `gallery` at `op`, in detection order, with the
    /// cascade for the `accurate` preset ([`crate::cascade`]): the dlib ResNet alone decides
    /// when the probe's best person is far from the threshold (and clear of the second
    /// best), the full fusion decides the rest and every turned face. Other presets, or a
    /// pipeline [`FacePipeline::with_cascade`]`(false)`, run the full embedding and
    /// [`Gallery::identify`]. Faces are worked on `threads` threads.
    ///
    /// ```no_run
    /// use facecore::{EnrollOptions, FacePipeline, Gallery, Image, Identity, OperatingPoint, Preset};
    /// let pipeline = FacePipeline::from_preset(Preset::Accurate)?;
    /// let mut gallery = Gallery::new();
    /// pipeline.enroll(&mut gallery, "obama", &Image::open("obama.jpg")?, &EnrollOptions::default())?;
    /// for f in pipeline.identify(&Image::open("two_people.jpg")?, &gallery, OperatingPoint::Fmr1e3)? {
    ///     if let Identity::Known(m) = &f.identity {
    ///         println!("{} at {:?} ({:?} stage)", m.name, f.face.bbox, f.stage);
    ///     }
    /// }
    /// # Ok::<(), facecore::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::ModelMismatch`] for a gallery of another embedding space, [`Error::InvalidInput`]
    /// when the space has no calibrated threshold, otherwise as [`FacePipeline::analyze`].
    pub fn identify(&self, img: &Image, gallery: &Gallery, op: OperatingPoint) -> Result<Vec<Identified>> {
        let faces = self.detector.detect(img)?;
        self.identify_faces(img, &faces, gallery, op)
    }

    /// As [`FacePipeline::identify`], for faces already detected in `img`.
    ///
    /// # Errors
    /// As [`FacePipeline::identify`].
    pub fn identify_faces(&self, img: &Image, faces: &[Face], gallery: &Gallery, op: OperatingPoint) -> Result<Vec<Identified>> {
        let space = self.recognizer.space();
        let threshold = op.threshold(space)?;
        // The cascade needs templates of the fused space (they hold every branch).
        let bands = self.cascade_bands(CascadeMode::Identify, op).filter(|_| gallery.space() == Some(space));
        self.map_faces(faces, |face: &Face| {
            let quality = Quality::measure(img, face);
            let liveness = self.liveness_of(img, face)?;
            let done = |identity, stage, threshold| Identified { face: *face, identity, stage, threshold, quality, liveness };
            let full = match &bands {
                Some((b, branch)) if b.pose_ok(quality.yaw) => {
                    let (offset, _, weight) =
                        self.recognizer.branch_layout(*branch).ok_or_else(|| Error::input("branch", format!("no branch {branch}")))?;
                    let first = self.recognizer.embed_first(img, face, *branch)?;
                    let top = gallery.search_part(first.embedding().as_slice(), offset, weight, 2)?;
                    if let Some((identity, bound)) = decide_search(&b.first_band, top) {
                        return Ok(done(identity, Stage::First, bound));
                    }
                    let pass = match b.second_band {
                        Some(band) => {
                            let second = self.recognizer.embed_second(img, face, &first)?;
                            if let Some((identity, bound)) = decide_search(&band, gallery.search(second.embedding(), 2)?) {
                                return Ok(done(identity, Stage::Second, bound));
                            }
                            second
                        }
                        None => first,
                    };
                    self.recognizer.embed_rest(img, face, &pass)?
                }
                _ => self.recognizer.embed(img, face)?,
            };
            Ok(done(gallery.identify(&full, threshold)?, Stage::Full, threshold))
        })
    }

    /// Are the most confident faces of `a` and `b` the same person, at `op`? With the cascade
    /// for the `accurate` preset ([`crate::cascade`]): the dlib ResNet alone decides when the
    /// pair's score is far from the threshold and both faces are near frontal; otherwise both
    /// faces get the full fusion. Other presets (or the cascade off) always compare the full
    /// embeddings, as [`crate::verify`] does.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] when an image holds no face (naming which) or the space has no
    /// calibrated threshold, otherwise as [`FacePipeline::analyze`].
    pub fn verify(&self, a: &Image, b: &Image, op: OperatingPoint) -> Result<Verified> {
        let best = |img: &Image, which: &'static str| -> Result<Face> {
            self.detector.detect(img)?.into_iter().next().ok_or_else(|| Error::input(which, "no face found"))
        };
        let faces = [best(a, "first image")?, best(b, "second image")?];
        self.verify_faces([a, b], faces, op)
    }

    /// As [`FacePipeline::verify`], for one face already detected in each image.
    ///
    /// # Errors
    /// As [`FacePipeline::verify`].
    pub fn verify_faces(&self, imgs: [&Image; 2], faces: [Face; 2], op: OperatingPoint) -> Result<Verified> {
        let threshold = op.threshold(self.recognizer.space())?;
        let frontal = |b: &CascadeBands| faces.iter().all(|f| b.pose_ok(Quality::pose(&f.landmarks).0));
        let (ea, eb) = match self.cascade_bands(CascadeMode::Verify, op).filter(|(b, _)| frontal(b)) {
            Some((bands, branch)) => {
                let decided = |band: &Band, similarity: f32, stage| {
                    band.decide_pair(similarity).map(|same| {
                        let threshold = if same { band.hi } else { band.lo };
                        Verified { verification: Verification { similarity, threshold, same_person: same }, stage, faces }
                    })
                };
                let mut pa = self.recognizer.embed_first(imgs[0], &faces[0], branch)?;
                let mut pb = self.recognizer.embed_first(imgs[1], &faces[1], branch)?;
                if let Some(v) = decided(&bands.first_band, pa.embedding().similarity(pb.embedding())?, Stage::First) {
                    return Ok(v);
                }
                if let Some(band) = bands.second_band {
                    pa = self.recognizer.embed_second(imgs[0], &faces[0], &pa)?;
                    pb = self.recognizer.embed_second(imgs[1], &faces[1], &pb)?;
                    if let Some(v) = decided(&band, pa.embedding().similarity(pb.embedding())?, Stage::Second) {
                        return Ok(v);
                    }
                }
                (self.recognizer.embed_rest(imgs[0], &faces[0], &pa)?, self.recognizer.embed_rest(imgs[1], &faces[1], &pb)?)
            }
            None => (self.recognizer.embed(imgs[0], &faces[0])?, self.recognizer.embed(imgs[1], &faces[1])?),
        };
        let similarity = ea.similarity(&eb)?;
        Ok(Verified {
            verification: Verification { similarity, threshold, same_person: similarity >= threshold },
            stage: Stage::Full,
            faces,
        })
    }
}

/// Identify at one cascade stage: the decision from the top two matches at that stage (best
/// first) and the band bound it passed, or `None` (go on).
fn decide_search(band: &Band, top: Vec<Match>) -> Option<(Identity, f32)> {
    match band.decide_search(top.first().map(|m| m.score), top.get(1).map(|m| m.score))? {
        true => top.into_iter().next().map(|m| (Identity::Known(m), band.hi)),
        false => Some((Identity::Unknown(top.into_iter().next()), band.lo)),
    }
}
