//! 1:1 verification at named operating points, with thresholds calibrated on LFW.
//!
//! `thresholds.tsv` is written by `facecore calibrate` (all same- and different-person pairs
//! that can be formed in an LFW split) and compiled in.

use crate::embed::Embedding;
use crate::error::{Error, Result};

/// The calibration table: space, operating point, threshold, measured FMR, TAR, pair counts.
pub const THRESHOLDS: &str = include_str!("thresholds.tsv");

/// A named decision threshold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum OperatingPoint {
    /// False match rate 1e-3 on the calibration impostor pairs. The default.
    #[default]
    Fmr1e3,
    /// False match rate 1e-4: stricter, for access control.
    Fmr1e4,
    /// The threshold with the best accuracy on the calibration pairs (balanced classes).
    BestAccuracy,
}

impl OperatingPoint {
    /// All operating points.
    pub const ALL: [OperatingPoint; 3] = [OperatingPoint::Fmr1e3, OperatingPoint::Fmr1e4, OperatingPoint::BestAccuracy];

    /// Name in the calibration table and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            OperatingPoint::Fmr1e3 => "fmr1e-3",
            OperatingPoint::Fmr1e4 => "fmr1e-4",
            OperatingPoint::BestAccuracy => "best-accuracy",
        }
    }

    /// The calibrated threshold for an embedding space.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] when the space has no calibrated threshold.
    pub fn threshold(self, space: &str) -> Result<f32> {
        THRESHOLDS
            .lines()
            .filter(|l| !l.starts_with('#'))
            .map(|l| l.split('\t').collect::<Vec<_>>())
            .find(|f| f.first() == Some(&space) && f.get(1) == Some(&self.name()))
            .and_then(|f| f.get(2)?.parse().ok())
            .ok_or_else(|| Error::input("operating point", format!("no calibrated {} threshold for {space}", self.name())))
    }
}

impl std::str::FromStr for OperatingPoint {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        OperatingPoint::ALL
            .into_iter()
            .find(|p| p.name() == s)
            .ok_or_else(|| Error::input("operating point", format!("unknown {s:?} (fmr1e-3, fmr1e-4, best-accuracy)")))
    }
}

/// The outcome of a 1:1 comparison.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Verification {
    /// Cosine similarity.
    pub similarity: f32,
    /// The threshold applied.
    pub threshold: f32,
    /// `similarity >= threshold`.
    pub same_person: bool,
}

/// Compares two embeddings at an operating point.
///
/// # Errors
/// [`Error::ModelMismatch`] across embedding spaces; [`Error::InvalidInput`] when the space
/// has no calibrated threshold.
pub fn verify(a: &Embedding, b: &Embedding, op: OperatingPoint) -> Result<Verification> {
    let similarity = a.similarity(b)?;
    let threshold = op.threshold(a.model())?;
    Ok(Verification { similarity, threshold, same_person: similarity >= threshold })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for op in OperatingPoint::ALL {
            assert_eq!(op.name().parse::<OperatingPoint>().ok(), Some(op));
        }
        assert!("fmr".parse::<OperatingPoint>().is_err());
        assert!(OperatingPoint::Fmr1e3.threshold("no-such-space").is_err());
    }
}
