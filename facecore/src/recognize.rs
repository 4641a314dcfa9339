//! Recognition: alignment + one or more embedding networks, flip averaging and fusion,
//! packaged as presets.
//!
//! Fusion is exact and gallery-friendly: each branch's unit embedding is scaled by the
//! square root of its weight and the branches are concatenated, so the fused vector is unit
//! length and its dot product is the weighted sum of the branch cosines.

use std::sync::Arc;

use image::RgbImage;

use crate::align::{ARCFACE_112, DLIB_150, align};
use crate::detect::Face;
use crate::dlib_align::{DlibPredictor, DlibRect};
use crate::embed::{EmbedModel, Embedder, Embedding};
use crate::error::{Error, Result};
use crate::image::Image;
use crate::models::ModelSource;

/// How a face is cut out for a network.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Alignment {
    /// Similarity of the detector's 5 landmarks onto ArcFace's 112x112 template (SFace).
    ArcFace112,
    /// Similarity of the detector's 5 landmarks onto a 150x150 template fitted to dlib chips.
    Template150,
    /// dlib's own path, as face_recognition does it: the 5-point shape predictor on the face
    /// box, then dlib's face chip (150 px, padding 0.25).
    DlibChip,
}

/// Named configurations, each measured on LFW (see the README).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum Preset {
    /// SFace and dlib ResNet, both flip-averaged, cosines fused 0.3 / 0.7. The default.
    #[default]
    Accurate,
    /// dlib ResNet on the 150 px template, no flip: one small network per face.
    Fast,
    /// face_recognition compatible: dlib's shape predictor and face chip, dlib ResNet.
    /// Embeddings live in the same space as face_recognition's encodings.
    Dlib,
    /// SFace alone with flip averaging (for comparison and evaluation).
    Sface,
}

impl Preset {
    /// All presets.
    pub const ALL: [Preset; 4] = [Preset::Accurate, Preset::Fast, Preset::Dlib, Preset::Sface];

    /// The preset's name on the command line and in bindings.
    pub fn name(self) -> &'static str {
        match self {
            Preset::Accurate => "accurate",
            Preset::Fast => "fast",
            Preset::Dlib => "dlib",
            Preset::Sface => "sface",
        }
    }
}

impl std::str::FromStr for Preset {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        Preset::ALL
            .into_iter()
            .find(|p| p.name() == s)
            .ok_or_else(|| Error::input("preset", format!("unknown preset {s:?} (accurate, fast, dlib, sface)")))
    }
}

/// One network with its alignment and fusion weight.
#[derive(Clone)]
pub struct Branch {
    /// The network.
    pub embedder: Embedder,
    /// How faces are cut out for it.
    pub alignment: Alignment,
    /// Weight of its cosine in the fused score (weights are normalised to sum to 1).
    pub weight: f32,
}

/// Turns detected faces into embeddings. `Send + Sync`, cheap to clone.
#[derive(Clone)]
pub struct Recognizer {
    branches: Arc<[Branch]>,
    flip: bool,
    space: Arc<str>,
    predictor: Option<Arc<DlibPredictor>>,
}

impl Recognizer {
    /// Builds a recognizer from the bundled models.
    ///
    /// # Errors
    /// [`Error::ModelLoad`] if a bundled model fails its checksum or does not load.
    pub fn from_preset(preset: Preset) -> Result<Self> {
        Self::from_preset_with(preset, &ModelSource::default())
    }

    /// A preset with its models from `source`.
    ///
    /// # Errors
    /// [`Error::ModelLoad`] if `source` lacks a model or holds a damaged one.
    pub fn from_preset_with(preset: Preset, source: &ModelSource) -> Result<Self> {
        let b = |m, a, w| Ok::<_, Error>(Branch { embedder: Embedder::from_source(source, m)?, alignment: a, weight: w });
        match preset {
            Preset::Accurate => Self::new_with(
                vec![b(EmbedModel::Sface, Alignment::ArcFace112, 0.3)?, b(EmbedModel::DlibResnet, Alignment::Template150, 0.7)?],
                true,
                source,
            ),
            Preset::Fast => Self::new_with(vec![b(EmbedModel::DlibResnet, Alignment::Template150, 1.0)?], false, source),
            Preset::Dlib => Self::new_with(vec![b(EmbedModel::DlibResnet, Alignment::DlibChip, 1.0)?], false, source),
            Preset::Sface => Self::new_with(vec![b(EmbedModel::Sface, Alignment::ArcFace112, 1.0)?], true, source),
        }
    }

    /// A custom combination of branches.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] for no branches, bad weights or a network paired with an
    /// alignment of another chip size.
    pub fn new(branches: Vec<Branch>, flip: bool) -> Result<Self> {
        Self::new_with(branches, flip, &ModelSource::default())
    }

    /// As [`Recognizer::new`], with dlib's shape predictor (for [`Alignment::DlibChip`]
    /// branches) from `source`.
    ///
    /// # Errors
    /// As [`Recognizer::new`].
    pub fn new_with(branches: Vec<Branch>, flip: bool, source: &ModelSource) -> Result<Self> {
        if branches.is_empty() {
            return Err(Error::input("recognizer", "no embedding network"));
        }
        let total: f32 = branches.iter().map(|b| b.weight).sum();
        if branches.iter().any(|b| !b.weight.is_finite() || b.weight <= 0.0) || total.is_nan() || total <= 0.0 {
            return Err(Error::input("recognizer", "weights must be positive"));
        }
        for b in &branches {
            let size = match b.alignment {
                Alignment::ArcFace112 => 112,
                Alignment::Template150 | Alignment::DlibChip => 150,
            };
            if size != b.embedder.model().input_size() {
                return Err(Error::input("recognizer", format!("{:?} alignment does not fit {}", b.alignment, b.embedder.space())));
            }
        }
        let branches: Vec<Branch> = branches.into_iter().map(|b| Branch { weight: b.weight / total, ..b }).collect();
        let space: Arc<str> = if branches.len() == 1 {
            branches[0].embedder.space().into()
        } else {
            let parts: Vec<String> = branches.iter().map(|b| format!("{}*{:.3}", b.embedder.space(), b.weight)).collect();
            format!("fused({})", parts.join("+")).into()
        };
        let predictor = if branches.iter().any(|b| b.alignment == Alignment::DlibChip) {
            Some(Arc::new(DlibPredictor::from_source(source)?))
        } else {
            None
        };
        Ok(Recognizer { branches: branches.into(), flip, space, predictor })
    }

    /// The id of the embedding space this recognizer writes (model or fusion).
    pub fn space(&self) -> &str {
        &self.space
    }

    /// Whether mirrored chips are averaged in.
    pub fn flip(&self) -> bool {
        self.flip
    }

    /// The chips one branch would embed for `face` (for inspection and tests).
    ///
    /// # Errors
    /// [`Error::DegenerateFace`] for degenerate landmarks, [`Error::InvalidInput`] for an unknown
    /// branch index.
    pub fn chip(&self, img: &Image, face: &Face, branch: usize) -> Result<RgbImage> {
        let b = self.branches.get(branch).ok_or_else(|| Error::input("branch", format!("no branch {branch}")))?;
        match b.alignment {
            Alignment::ArcFace112 => align(img.as_rgb(), &face.landmarks, &ARCFACE_112, 112),
            Alignment::Template150 => align(img.as_rgb(), &face.landmarks, &DLIB_150, 150),
            Alignment::DlibChip => {
                let p = self.predictor.as_ref().ok_or_else(|| Error::input("recognizer", "no shape predictor"))?;
                p.chip_for_box(img.as_rgb(), &DlibRect::from_face(face))
            }
        }
    }

    /// Embeds one detected face.
    ///
    /// # Errors
    /// [`Error::DegenerateFace`] for degenerate landmarks, [`Error::Inference`] on engine failure.
    pub fn embed(&self, img: &Image, face: &Face) -> Result<Embedding> {
        self.embed_fused(img, face, None)
    }

    /// Where branch `branch`'s part sits in this recognizer's fused embedding: `(offset, dim,
    /// weight)`. The fused vector is `sqrt(weight) * unit(branch embedding)` for every branch,
    /// concatenated, so `dot(part, probe) / sqrt(weight)` is the cosine between a unit `probe`
    /// of that branch and the branch embedding the template was made of (exact up to f32
    /// rounding).
    pub fn branch_layout(&self, branch: usize) -> Option<(usize, usize, f32)> {
        let offset = self.branches.iter().take(branch).map(|b| b.embedder.model().dim()).sum();
        self.branches.get(branch).map(|b| (offset, b.embedder.model().dim(), b.weight))
    }

    /// The index of the branch whose embeddings carry `space`, if any.
    pub fn branch_of_space(&self, space: &str) -> Option<usize> {
        self.branches.iter().position(|b| b.embedder.space() == space)
    }

    /// Number of branches.
    pub fn branches(&self) -> usize {
        self.branches.len()
    }

    /// The first pass of a cascade: branch `branch` on the unmirrored chip only (one network
    /// run). Its embedding lives in that branch's own space (for the `accurate` preset's dlib
    /// ResNet branch: the space of the `fast` preset, which runs exactly this). Continue with
    /// [`Recognizer::embed_second`] or finish with [`Recognizer::embed_rest`], which reuse the run.
    ///
    /// # Errors
    /// As [`Recognizer::embed`], and [`Error::InvalidInput`] for an unknown branch.
    pub fn embed_first(&self, img: &Image, face: &Face, branch: usize) -> Result<FirstPass> {
        let b = self.branches.get(branch).ok_or_else(|| Error::input("branch", format!("no branch {branch}")))?;
        let chip = self.chip(img, face, branch)?;
        let raw = b.embedder.run_chips(&[&chip])?.pop().unwrap_or_default();
        let embedding = Embedding::new(b.embedder.space(), raw.clone())?;
        let mut plain = vec![None; self.branches.len()];
        plain[branch] = Some(raw);
        Ok(FirstPass { branch, embedding, plain })
    }

    /// The second pass of a cascade: every other branch on its unmirrored chip (for the
    /// `accurate` preset: one SFace run), reusing `first`. Its embedding is in the fused space,
    /// `sqrt(w) * unit(branch)` concatenated as in the full embedding but without the mirrored
    /// chips, so its dot product with a full template is the weighted sum of the cosines
    /// between each unmirrored branch embedding and the template's (mirror-averaged) part.
    /// It is a probe, not a template: enrol full embeddings only.
    ///
    /// # Errors
    /// As [`Recognizer::embed`].
    pub fn embed_second(&self, img: &Image, face: &Face, first: &FirstPass) -> Result<FirstPass> {
        let mut plain = first.plain.clone();
        let mut fused = Vec::with_capacity(self.branches.len() * 128);
        for (i, b) in self.branches.iter().enumerate() {
            let raw = match &plain[i] {
                Some(r) => r.clone(),
                None => b.embedder.run_chips(&[&self.chip(img, face, i)?])?.pop().unwrap_or_default(),
            };
            let w = b.weight.sqrt();
            fused.extend(unit(&raw).iter().map(|v| v * w));
            plain[i] = Some(raw);
        }
        Ok(FirstPass { branch: first.branch, embedding: Embedding::new(self.space.clone(), fused)?, plain })
    }

    /// The full fused embedding of a face whose first (or second) pass is done: the remaining
    /// branches and the mirrored chips. Bit for bit what [`Recognizer::embed`] gives (the same
    /// networks on the same chips, one chip per run either way).
    ///
    /// # Errors
    /// As [`Recognizer::embed`].
    pub fn embed_rest(&self, img: &Image, face: &Face, pass: &FirstPass) -> Result<Embedding> {
        self.embed_fused(img, face, Some(pass))
    }

    fn embed_fused(&self, img: &Image, face: &Face, pass: Option<&FirstPass>) -> Result<Embedding> {
        let mut fused = Vec::with_capacity(self.branches.len() * 128);
        for (i, b) in self.branches.iter().enumerate() {
            let chip = self.chip(img, face, i)?;
            let done = pass.and_then(|p| p.plain.get(i)).and_then(|r| r.as_deref());
            let part = self.embed_branch_chip(b, &chip, done)?;
            let w = b.weight.sqrt();
            fused.extend(part.as_slice().iter().map(|v| v * w));
        }
        Embedding::new(self.space.clone(), fused)
    }

    /// Embeds a chip that is already aligned for a single-branch recognizer.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] when the recognizer has several branches or the chip size is wrong.
    pub fn embed_chip(&self, chip: &RgbImage) -> Result<Embedding> {
        match &*self.branches {
            [b] => self.embed_branch_chip(b, chip, None),
            _ => Err(Error::input("recognizer", "a fused recognizer needs the whole image, not one chip")),
        }
    }

    /// One branch's embedding of `chip`; `plain` is the network's output for the unmirrored
    /// chip when it already ran.
    fn embed_branch_chip(&self, b: &Branch, chip: &RgbImage, plain: Option<&[f32]>) -> Result<Embedding> {
        let plain = match plain {
            Some(p) => p.to_vec(),
            None => b.embedder.run_chips(&[chip])?.pop().unwrap_or_default(),
        };
        let raw = if self.flip {
            let mirrored = image::imageops::flip_horizontal(chip);
            let m = b.embedder.run_chips(&[&mirrored])?.pop().unwrap_or_default();
            let (a, m) = (unit(&plain), unit(&m));
            a.iter().zip(&m).map(|(x, y)| x + y).collect()
        } else {
            plain
        };
        Embedding::new(b.embedder.space(), raw)
    }

    /// The shape predictor, when a branch uses dlib's alignment.
    pub fn dlib_predictor(&self) -> Option<&DlibPredictor> {
        self.predictor.as_deref()
    }
}

/// A cascade's partial embedding of one face: after [`Recognizer::embed_first`] (one branch,
/// unmirrored) or [`Recognizer::embed_second`] (every branch, unmirrored).
#[derive(Debug, Clone)]
pub struct FirstPass {
    branch: usize,
    embedding: Embedding,
    /// The network outputs for the unmirrored chips, per branch, where they ran.
    plain: Vec<Option<Vec<f32>>>,
}

impl FirstPass {
    /// After the first pass: the unit embedding of the first branch alone, unmirrored, in that
    /// branch's space. After the second: the unmirrored fused embedding, in the fused space.
    pub fn embedding(&self) -> &Embedding {
        &self.embedding
    }

    /// Whether every branch has run (the second pass is done).
    pub fn is_second(&self) -> bool {
        self.plain.iter().all(Option::is_some)
    }

    /// The branch that ran first.
    pub fn branch(&self) -> usize {
        self.branch
    }
}

fn unit(v: &[f32]) -> Vec<f32> {
    let n = v.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-12);
    v.iter().map(|x| x / n).collect()
}
