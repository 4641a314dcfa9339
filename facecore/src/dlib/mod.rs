//! Native re-implementations of the parts of dlib that face_recognition's pipelines use: the
//! shape predictor (an ensemble of regression trees, parsed from dlib's `.dat` file; the
//! bundled 5-point model, or any other such as face_recognition's 68-point one) and the
//! aligned face chip (`dlib.get_face_chip`, for 5- and 68-point shapes).
//!
//! Both follow dlib 20.0.1 operation for operation, so the landmarks equal dlib's integer
//! points and the chips equal dlib's pixels on the reference images.

pub mod chip;
pub(crate) mod geometry;
pub(crate) mod serialize;
pub mod shape_predictor;

/// Errors from parsing dlib model files and from the dlib-compatible image operations.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum DlibError {
    /// The input ended in the middle of a value.
    #[error("shape predictor file is truncated at byte {offset}")]
    Truncated {
        /// Byte offset at which more data was needed.
        offset: usize,
    },
    /// The bytes do not form a valid dlib serialised value.
    #[error("malformed shape predictor file at byte {offset}: {what}")]
    Malformed {
        /// Byte offset of the offending value.
        offset: usize,
        /// What was wrong.
        what: String,
    },
    /// The file is well formed but not a usable model (wrong version, inconsistent sizes,
    /// out-of-range indices, non-finite values, wrong number of landmarks).
    #[error("invalid shape predictor model: {0}")]
    InvalidModel(String),
    /// An argument of a dlib image operation is out of its domain.
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
}
