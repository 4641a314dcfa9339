//! The whole job in one object: detect, align, embed every face.

use crate::detect::{Detector, DetectorConfig, Face};
use crate::embed::Embedding;
use crate::error::Result;
use crate::image::Image;
use crate::recognize::{Preset, Recognizer};

/// A face with its embedding.
#[derive(Debug, Clone)]
pub struct AnalyzedFace {
    /// Where the face is.
    pub face: Face,
    /// What it looks like, in the recognizer's embedding space.
    pub embedding: Embedding,
}

/// Detector plus recognizer, loaded once; `Send + Sync`, cheap to clone.
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
}

impl FacePipeline {
    /// The bundled models in a preset, default detector settings.
    ///
    /// # Errors
    /// [`crate::Error::ModelLoad`] if a bundled model fails to load.
    pub fn from_preset(preset: Preset) -> Result<Self> {
        Ok(FacePipeline { detector: Detector::bundled(DetectorConfig::default())?, recognizer: Recognizer::from_preset(preset)? })
    }

    /// Combines a detector and a recognizer.
    pub fn new(detector: Detector, recognizer: Recognizer) -> Self {
        FacePipeline { detector, recognizer }
    }

    /// The detector.
    pub fn detector(&self) -> &Detector {
        &self.detector
    }

    /// The recognizer.
    pub fn recognizer(&self) -> &Recognizer {
        &self.recognizer
    }

    /// Detects every face and embeds it.
    ///
    /// # Errors
    /// [`crate::Error::Inference`] on engine failure.
    pub fn analyze(&self, img: &Image) -> Result<Vec<AnalyzedFace>> {
        let faces = self.detector.detect(img)?;
        faces
            .into_iter()
            .filter_map(|face| match self.recognizer.embed(img, &face) {
                Ok(embedding) => Some(Ok(AnalyzedFace { face, embedding })),
                // A face whose landmarks are degenerate cannot be aligned: skip it.
                Err(crate::Error::InvalidInput { .. }) => None,
                Err(e) => Some(Err(e)),
            })
            .collect()
    }

    /// Embeds the single most confident face, if any.
    ///
    /// # Errors
    /// As [`FacePipeline::analyze`].
    pub fn embed_best(&self, img: &Image) -> Result<Option<AnalyzedFace>> {
        let Some(face) = self.detector.detect(img)?.into_iter().next() else { return Ok(None) };
        let embedding = self.recognizer.embed(img, &face)?;
        Ok(Some(AnalyzedFace { face, embedding }))
    }
}
