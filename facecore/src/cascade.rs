//! Cascade recognition: decide easy faces with one cheap network, run the full fusion only
//! for the uncertain ones.
//!
//! The `accurate` preset fuses SFace (weight 0.3) and the dlib ResNet (0.7), each averaged
//! with its mirror image: four network runs per face. Most decisions are not close: the dlib
//! ResNet on the unmirrored chip alone (one run, the `fast` preset's embedding) already puts
//! the pair, or the probe's best gallery match, far above or far below the operating point.
//! The cascade runs that network first and decides at once when its score falls outside a
//! band around the operating point; inside the band (and for turned faces) it runs SFace and
//! the mirrored chips and decides with the full fusion, reusing the first run.
//!
//! Gallery templates always hold the full fused embedding (enrolment never uses the
//! cascade). The fused vector is the concatenation of `sqrt(w) * unit(branch)`, so a probe's
//! first-pass score against a template is exact for the part it has: the cosine between the
//! probe's unmirrored dlib embedding and the dlib part of the template
//! ([`crate::Recognizer::branch_layout`]).
//!
//! # Decisions
//! With `s1` the first-pass score (for [`CascadeMode::Verify`]: the cosine of the two
//! unmirrored dlib embeddings; for [`CascadeMode::Identify`]: the probe's best person, by its
//! best template, and `s2` the second-best person):
//! - any face with `|yaw| > max_yaw` ([`crate::Quality::pose`] on the landmarks): full
//!   fusion. The bands were calibrated on faces up to that pose; on profile faces the dlib
//!   network alone is much weaker than the fusion (CFP frontal-profile: 84.9% against 95.1%).
//! - `s1 >= hi` (and, for identify, `s2 < lo` or `s1 - s2 >= margin`): accept at once;
//! - `s1 < lo`: reject at once;
//! - otherwise: full fusion, compared with the operating point's fused threshold.
//!
//! The bands are compiled in from `cascade.tsv`, written by `facecore calibrate --cascade`
//! on lfw-dev's all-pairs set: the widest-saving bands under which the cascade's decisions
//! equal the full fusion's on all but 0.1% of the pairs the fusion accepts (see the file's
//! header and `docs/performance.md`).

use crate::error::{Error, Result};
use crate::verify::OperatingPoint;

/// The band table: space, mode, operating point, first-pass space, lo, hi, margin, max_yaw,
/// then the calibration figures. Written by `facecore calibrate --cascade`.
pub const CASCADE_BANDS: &str = include_str!("cascade.tsv");

/// What the cascade decides.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CascadeMode {
    /// 1:1: two probes, both first-pass (unmirrored) embeddings.
    Verify,
    /// 1:N: a first-pass probe against full templates (mirror-averaged), with the margin to
    /// the second-best person.
    Identify,
}

impl CascadeMode {
    /// Name in the band table.
    pub fn name(self) -> &'static str {
        match self {
            CascadeMode::Verify => "verify",
            CascadeMode::Identify => "identify",
        }
    }
}

/// Which networks decided a face.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Stage {
    /// The first network alone (the dlib ResNet, unmirrored), outside the uncertainty band.
    First,
    /// The full fusion (every branch and the mirrored chips).
    Full,
}

/// The bands of one fused space, mode and operating point.
#[derive(Debug, Clone, PartialEq)]
pub struct CascadeBands {
    /// The space of the branch that runs first (a branch of the fused recognizer).
    pub first: String,
    /// Reject at once below this first-pass score.
    pub lo: f32,
    /// Accept at once at or above this first-pass score.
    pub hi: f32,
    /// Identify: least gap between the best and the second-best person for an accept at once
    /// (unless the second is below `lo`). Unused for verify.
    pub margin: f32,
    /// Faces turned further than this (`|yaw|`, degrees) always get the full fusion.
    pub max_yaw: f32,
}

impl CascadeBands {
    /// The calibrated bands for a fused space, from the compiled-in table; `None` when the
    /// space has none (single-network presets, custom fusions): everything then takes the
    /// full path.
    pub fn lookup(space: &str, mode: CascadeMode, op: OperatingPoint) -> Option<CascadeBands> {
        Self::from_table(CASCADE_BANDS, space, mode, op).ok().flatten()
    }

    /// The bands of a row of `table` (the format of [`CASCADE_BANDS`]).
    ///
    /// # Errors
    /// [`Error::InvalidInput`] when the matching row is malformed.
    pub fn from_table(table: &str, space: &str, mode: CascadeMode, op: OperatingPoint) -> Result<Option<CascadeBands>> {
        let Some(f) = table
            .lines()
            .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
            .map(|l| l.split('\t').collect::<Vec<_>>())
            .find(|f| f.len() >= 8 && f[0] == space && f[1] == mode.name() && f[2] == op.name())
        else {
            return Ok(None);
        };
        let num = |i: usize| -> Result<f32> {
            f[i].parse::<f32>()
                .ok()
                .filter(|v| v.is_finite())
                .ok_or_else(|| Error::input("cascade bands", format!("bad value {:?} in column {}", f[i], i + 1)))
        };
        let b = CascadeBands { first: f[3].to_string(), lo: num(4)?, hi: num(5)?, margin: num(6)?, max_yaw: num(7)? };
        if b.lo > b.hi || b.margin < 0.0 || b.max_yaw < 0.0 {
            return Err(Error::input("cascade bands", format!("inconsistent row for {space} {} {}", mode.name(), op.name())));
        }
        Ok(Some(b))
    }

    /// Whether a face at this yaw (degrees) may be decided by the first network.
    pub fn pose_ok(&self, yaw: f32) -> bool {
        yaw.is_finite() && yaw.abs() <= self.max_yaw
    }

    /// Verify: the decision from the first-pass score, or `None` (run the full fusion).
    pub fn decide_pair(&self, s1: f32) -> Option<bool> {
        if s1 >= self.hi {
            Some(true)
        } else if s1 < self.lo {
            Some(false)
        } else {
            None
        }
    }

    /// Identify: the decision from the best and second-best people's first-pass scores
    /// (`None` for no such person), or `None` (run the full fusion).
    pub fn decide_search(&self, best: Option<f32>, second: Option<f32>) -> Option<bool> {
        let Some(best) = best else { return Some(false) };
        if best < self.lo {
            return Some(false);
        }
        let clear = second.is_none_or(|s| s < self.lo || best - s >= self.margin);
        (best >= self.hi && clear).then_some(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SPACE: &str = "fused(sface-2021dec*0.300+dlib-resnet-v1*0.700)";

    #[test]
    fn table_has_every_mode_and_op() {
        for mode in [CascadeMode::Verify, CascadeMode::Identify] {
            for op in OperatingPoint::ALL {
                let b = CascadeBands::from_table(CASCADE_BANDS, SPACE, mode, op);
                let b = b.ok().flatten();
                assert!(b.is_some(), "no {} {} row", mode.name(), op.name());
                let b = b.unwrap_or_else(|| unreachable!());
                assert_eq!(b.first, "dlib-resnet-v1");
                assert!(b.lo < b.hi && b.max_yaw > 0.0, "{b:?}");
            }
        }
        assert!(CascadeBands::lookup("dlib-resnet-v1", CascadeMode::Verify, OperatingPoint::Fmr1e3).is_none());
    }

    #[test]
    fn decisions() {
        let b = CascadeBands { first: "x".into(), lo: 0.5, hi: 0.8, margin: 0.1, max_yaw: 30.0 };
        assert_eq!(b.decide_pair(0.9), Some(true));
        assert_eq!(b.decide_pair(0.8), Some(true));
        assert_eq!(b.decide_pair(0.6), None);
        assert_eq!(b.decide_pair(0.4), Some(false));
        assert_eq!(b.decide_search(None, None), Some(false));
        assert_eq!(b.decide_search(Some(0.9), None), Some(true));
        assert_eq!(b.decide_search(Some(0.9), Some(0.85)), None);
        assert_eq!(b.decide_search(Some(0.9), Some(0.75)), Some(true));
        assert_eq!(b.decide_search(Some(0.3), Some(0.2)), Some(false));
        assert!(b.pose_ok(-29.0) && !b.pose_ok(31.0) && !b.pose_ok(f32::NAN));
        let bad = format!("{SPACE}\tverify\tfmr1e-3\tdlib-resnet-v1\t0.9\t0.5\t0\t30\n");
        assert!(CascadeBands::from_table(&bad, SPACE, CascadeMode::Verify, OperatingPoint::Fmr1e3).is_err());
    }
}
