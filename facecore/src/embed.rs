//! Face embedding networks and the [`Embedding`] type.

use std::sync::Arc;

use image::RgbImage;

use crate::error::{Error, Result};
use crate::model::Net;
use crate::models::ModelFile;

/// The embedding networks facecore runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum EmbedModel {
    /// SFace 2021dec: 112x112 RGB chips aligned on the ArcFace template, 128-d.
    Sface,
    /// dlib's face recognition ResNet v1 (face_recognition's model): 150x150 RGB chips, 128-d.
    DlibResnet,
}

impl EmbedModel {
    /// The model's id, carried by every embedding it makes.
    pub fn id(self) -> &'static str {
        match self {
            EmbedModel::Sface => "sface-2021dec",
            EmbedModel::DlibResnet => "dlib-resnet-v1",
        }
    }
    /// Side of the square input chip.
    pub fn input_size(self) -> u32 {
        match self {
            EmbedModel::Sface => 112,
            EmbedModel::DlibResnet => 150,
        }
    }
    /// Output dimension.
    pub fn dim(self) -> usize {
        128
    }
    pub(crate) fn file(self) -> ModelFile {
        match self {
            EmbedModel::Sface => ModelFile::Sface,
            EmbedModel::DlibResnet => ModelFile::DlibResnet,
        }
    }
}

/// An L2-normalised face embedding tagged with the id of the model (or fusion) that made it.
#[derive(Debug, Clone, PartialEq)]
pub struct Embedding {
    model: Arc<str>,
    values: Box<[f32]>,
}

impl Embedding {
    /// Normalises `values` and tags them with `model`.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] for an empty, non-finite or all-zero vector.
    pub fn new(model: impl Into<Arc<str>>, mut values: Vec<f32>) -> Result<Self> {
        let norm = values.iter().map(|v| f64::from(*v) * f64::from(*v)).sum::<f64>().sqrt();
        if values.is_empty() || !norm.is_finite() || norm < 1e-12 {
            return Err(Error::input("embedding", "empty, non-finite or zero vector"));
        }
        values.iter_mut().for_each(|v| *v = (f64::from(*v) / norm) as f32);
        Ok(Embedding { model: model.into(), values: values.into_boxed_slice() })
    }
    /// The values (unit length).
    pub fn as_slice(&self) -> &[f32] {
        &self.values
    }
    /// The id of the model or fusion that made it.
    pub fn model(&self) -> &str {
        &self.model
    }
    /// Number of dimensions.
    pub fn dim(&self) -> usize {
        self.values.len()
    }
    /// Cosine similarity in -1..1 (a dot product: both are unit length).
    ///
    /// # Errors
    /// [`Error::ModelMismatch`] when the two come from different models: a number computed
    /// across embedding spaces would be meaningless.
    ///
    /// # Examples
    /// ```
    /// use facecore::Embedding;
    /// let a = Embedding::new("m", vec![1.0, 0.0])?;
    /// let b = Embedding::new("m", vec![1.0, 1.0])?;
    /// assert!((a.similarity(&b)? - 0.70710677).abs() < 1e-6);
    /// assert!(a.similarity(&Embedding::new("other", vec![1.0, 0.0])?).is_err());
    /// # Ok::<(), facecore::Error>(())
    /// ```
    pub fn similarity(&self, other: &Embedding) -> Result<f32> {
        if self.model != other.model || self.values.len() != other.values.len() {
            return Err(Error::ModelMismatch { left: self.model.to_string(), right: other.model.to_string() });
        }
        Ok(dot(&self.values, &other.values))
    }
}

/// Dot product with eight independent partial sums, which the compiler keeps in SIMD
/// registers (a single running sum forces one add at a time). Gallery search is this loop.
pub(crate) fn dot(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mut acc = [0.0f32; 8];
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for i in 0..8 {
            acc[i] += x[i] * y[i];
        }
    }
    let tail: f32 = ra.iter().zip(rb).map(|(x, y)| x * y).sum();
    ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7])) + tail
}

/// One embedding network, loaded and shared; `Send + Sync`, cheap to clone.
#[derive(Clone)]
pub struct Embedder {
    net: Arc<Net>,
    model: EmbedModel,
    /// The embedding space its embeddings are tagged with: the model's id, or a custom
    /// network's own.
    space: Arc<str>,
}

impl std::fmt::Debug for Embedder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Embedder").field("model", &self.model).field("space", &self.space).finish()
    }
}

/// Largest custom embedding space id, in bytes.
pub const MAX_SPACE_ID_BYTES: usize = 256;

/// Whether `space` names one of facecore's own spaces (a model's or a fusion's), which a
/// custom network may not claim: it would inherit their calibrated thresholds.
pub(crate) fn is_builtin_space(space: &str) -> bool {
    [EmbedModel::Sface, EmbedModel::DlibResnet].iter().any(|m| m.id() == space) || space.starts_with("fused(")
}

impl Embedder {
    /// Loads `model` from ONNX bytes, which must be the manifest's file for it (same SHA-256):
    /// embeddings carry the model's space id, and with it the calibrated thresholds, so a
    /// different network may not claim it. Your own network goes through [`Embedder::custom`].
    ///
    /// # Errors
    /// [`Error::ModelLoad`] when the bytes are not the manifest's file.
    pub fn from_onnx(model: EmbedModel, onnx: &[u8]) -> Result<Self> {
        crate::models::verify(model.file(), onnx)?;
        Self::load(model, model.id().into(), onnx)
    }

    /// Loads your own embedding network (a fine-tuned SFace, a retrained dlib ResNet) that
    /// takes the chips of `like` (same input size, alignment and pixel layout) and gives an
    /// output of `like`'s dimension. Its embeddings carry `space`, which must not be one of
    /// facecore's own: they get no bundled thresholds (calibrate your own, e.g. with
    /// `facecore calibrate`).
    ///
    /// # Errors
    /// [`Error::InvalidInput`] for an empty, over-long ([`MAX_SPACE_ID_BYTES`]) or built-in
    /// space id; [`Error::LimitExceeded`] over [`crate::limits::Limits::model_file_bytes`];
    /// [`Error::ModelLoad`] when the bytes are not a network of the expected shapes.
    pub fn custom(like: EmbedModel, space: &str, onnx: &[u8]) -> Result<Self> {
        if space.trim().is_empty() || space.len() > MAX_SPACE_ID_BYTES || space.chars().any(char::is_control) {
            return Err(Error::input("embedding space id", format!("must be 1 to {MAX_SPACE_ID_BYTES} bytes of printable text")));
        }
        if is_builtin_space(space) {
            return Err(Error::input(
                "embedding space id",
                format!("{space:?} is facecore's own space; a custom network needs its own id (its embeddings get no bundled thresholds)"),
            ));
        }
        crate::limits::check_len("model", onnx.len(), crate::limits::get().model_file_bytes)?;
        Self::load(like, space.into(), onnx)
    }

    /// Loads a network already verified (or custom), probing it once.
    fn load(model: EmbedModel, space: Arc<str>, onnx: &[u8]) -> Result<Self> {
        let net = Net::from_bytes(model.id(), onnx)?;
        let e = Embedder { net: Arc::new(net), model, space };
        let s = model.input_size();
        // Probe once: proves the file is the expected network and builds the plan now.
        let out = e
            .net
            .run([1, 3, s as usize, s as usize], &vec![128.0; 3 * (s * s) as usize])
            .map_err(|err| Error::ModelLoad { model: e.space.to_string(), detail: format!("not a {s}x{s} embedding network: {err}") })?;
        if out.len() != 1 || out[0].data.len() != model.dim() {
            return Err(Error::ModelLoad { model: e.space.to_string(), detail: format!("expected one output of {} values", model.dim()) });
        }
        Ok(e)
    }

    /// The bundled, checksum-verified model.
    ///
    /// # Errors
    /// As [`Embedder::from_onnx`], or a checksum mismatch.
    pub fn bundled(model: EmbedModel) -> Result<Self> {
        Self::from_source(&crate::models::ModelSource::default(), model)
    }

    /// `model` from `source`, verified against the manifest.
    ///
    /// # Errors
    /// As [`Embedder::from_onnx`], or when `source` lacks a valid file.
    pub fn from_source(source: &crate::models::ModelSource, model: EmbedModel) -> Result<Self> {
        // `load` verified the bytes against the manifest.
        Self::load(model, model.id().into(), &source.load(model.file())?)
    }

    /// The id of the embedding space this network's embeddings carry.
    pub fn space(&self) -> &str {
        &self.space
    }

    /// Whether this is a custom network ([`Embedder::custom`]).
    pub fn is_custom(&self) -> bool {
        &*self.space != self.model.id()
    }

    /// Which network this is (for a custom network: the one whose chips it takes).
    pub fn model(&self) -> EmbedModel {
        self.model
    }

    /// Raw (unnormalised) network outputs for a batch of aligned chips of the model's size.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] for chips of the wrong size, [`Error::Inference`] on failure.
    pub fn run_chips(&self, chips: &[&RgbImage]) -> Result<Vec<Vec<f32>>> {
        let s = self.model.input_size();
        if chips.is_empty() {
            return Ok(Vec::new());
        }
        if let Some(c) = chips.iter().find(|c| c.width() != s || c.height() != s) {
            return Err(Error::input("aligned face", format!("{}x{} chip, {} needs {s}x{s}", c.width(), c.height(), self.model.id())));
        }
        // One chip per run: a fixed batch of 1 keeps a single optimised plan, and tract 0.23
        // runs batch-2 SFace several times slower than two batch-1 runs.
        let plane = (s * s) as usize;
        let d = self.model.dim();
        let mut input = vec![0f32; 3 * plane];
        let mut outs = Vec::with_capacity(chips.len());
        for chip in chips {
            for (p, px) in chip.pixels().enumerate() {
                for c in 0..3 {
                    input[c * plane + p] = f32::from(px.0[c]);
                }
            }
            let out = self.net.run([1, 3, s as usize, s as usize], &input)?;
            let data = out.into_iter().next().map(|o| o.data).unwrap_or_default();
            if data.len() != d {
                return Err(Error::Inference { model: self.net.id(), source: "unexpected output size".into() });
            }
            outs.push(data);
        }
        Ok(outs)
    }

    /// Embeds one aligned chip.
    ///
    /// # Errors
    /// As [`Embedder::run_chips`].
    pub fn embed_chip(&self, chip: &RgbImage) -> Result<Embedding> {
        let raw = self.run_chips(&[chip])?.pop().unwrap_or_default();
        Embedding::new(self.space.clone(), raw)
    }
}
