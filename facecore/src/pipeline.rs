//! The whole job in one object: detect, align, embed every face.

use std::sync::mpsc;

use crate::detect::{Detector, DetectorConfig, Face};
use crate::embed::Embedding;
use crate::error::{Error, Result};
use crate::gallery::{Gallery, PersonId};
use crate::image::Image;
use crate::liveness::{Liveness, LivenessOp, LivenessResult};
use crate::quality::{Quality, QualityConfig};
use crate::recognize::{Preset, Recognizer};

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
        FacePipeline { detector, recognizer, threads: 1, liveness: None }
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
        let one = |face: &Face| match self.recognizer.embed(img, face) {
            Ok(embedding) => Some(self.liveness_of(img, face).map(|liveness| AnalyzedFace {
                face: *face,
                embedding,
                quality: Quality::measure(img, face),
                liveness,
            })),
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
        let mut slots: Vec<Option<Result<AnalyzedFace>>> = Vec::with_capacity(faces.len());
        let per_worker: Vec<Vec<(usize, Option<Result<AnalyzedFace>>)>> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..workers)
                .map(|w| {
                    let (faces, one) = (&faces, &one);
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
}
