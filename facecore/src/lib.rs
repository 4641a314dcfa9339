//! facecore: embeddable face recognition on licence-clean models.
//!
//! Detection (YuNet), alignment, embedding (SFace, dlib ResNet, fused), 1:1 verification
//! and 1:N identification against galleries, all on tract, with the models bundled (the
//! default `bundled-models` feature) or loaded from a directory or memory ([`ModelSource`]).
//!
//! ```no_run
//! use facecore::{FacePipeline, Gallery, Image, Preset};
//! let pipeline = FacePipeline::from_preset(Preset::Accurate)?;
//! let mut gallery = Gallery::new();
//! if let Some(f) = pipeline.embed_best(&Image::open("obama.jpg")?)? {
//!     gallery.enroll("obama", &f.embedding)?;
//! }
//! for f in pipeline.analyze(&Image::open("two_people.jpg")?)? {
//!     println!("{:?}", gallery.search(&f.embedding, 1)?);
//! }
//! # Ok::<(), facecore::Error>(())
//! ```

mod align;
pub mod cascade;
mod detect;
pub mod dlib;
mod dlib_align;
mod embed;
mod error;
pub mod eval;
mod gallery;
mod geometry;
mod image;
pub mod limits;
pub mod liveness;
mod model;
pub mod models;
mod persist;
mod pipeline;
pub mod quality;
mod recognize;
pub mod store;
pub mod stream;
mod verify;

pub use crate::align::{ARCFACE_112, Affine, DLIB_150, align, warp};
pub use crate::cascade::{Band, CascadeBands, CascadeMode, Stage};
pub use crate::detect::{DETECTABLE_FACE_PX, Detector, DetectorConfig, Face, InputSize, MAX_NATIVE_SIDE};
pub use crate::dlib_align::{DlibPredictor, DlibRect, DlibShapePredictor};
pub use crate::embed::{EmbedModel, Embedder, Embedding};
pub use crate::error::{BoxError, Error, Result};
pub use crate::gallery::{Gallery, GalleryKey, Identity, MAX_DIM, MAX_NAME_BYTES, MAX_TEXT_BYTES, Match, Person, PersonId};
pub use crate::geometry::{Point, Rect};
pub use crate::image::{ColorRange, Image, ImageView, MAX_FILE_BYTES, MAX_PIXELS, MAX_SIDE, PixelFormat, Plane};
pub use crate::liveness::{Liveness, LivenessConfig, LivenessDecision, LivenessOp, LivenessResult};
pub use crate::model::{NodeTime, PlanStats, plan_stats, profile_onnx, time_onnx_pair};
pub use crate::models::{ModelFile, ModelSource};
pub use crate::pipeline::{AnalyzedFace, EnrollOptions, Enrolled, FacePipeline, Identified, MAX_THREADS, Verified};
pub use crate::quality::{Quality, QualityConfig};
pub use crate::recognize::{Alignment, Branch, FirstPass, Preset, Recognizer};
pub use crate::store::{FileStore, GalleryStore, PersonRef};
pub use crate::stream::{FaceStream, StreamEvent, StreamEventKind, StreamOptions, StreamStats, TrackIdentity, TrackInfo};
pub use crate::verify::{OperatingPoint, THRESHOLDS, Verification, verify};

/// The `image` crate version facecore's [`Image::as_rgb`] returns (for conversions).
pub use ::image as image_crate;
