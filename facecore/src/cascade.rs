//! Cascade recognition: decide easy faces with one cheap network, run the full fusion only
//! for the uncertain ones.
//!
//! The `accurate` preset fuses SFace (weight 0.3) and the dlib ResNet (0.7), each averaged
//! with its mirror image: four network runs per face. Most decisions are not close. The
//! cascade runs the networks in three stages and stops as soon as a stage's score falls
//! outside that stage's band around the operating point:
//! 1. the dlib ResNet on the unmirrored chip (one run: the `fast` preset's embedding);
//! 2. SFace on the unmirrored chip (the most expensive network, run once), scored with the
//!    dlib run as the unmirrored fusion;
//! 3. the mirrored chips of both networks: the full fusion, compared with the operating
//!    point's fused threshold.
//!
//! Each stage reuses the runs before it. Gallery templates always hold the full fused
//! embedding (enrolment never uses the cascade). The fused vector is the concatenation of
//! `sqrt(w) * unit(branch)`, so a probe's partial score against a template is exact for the
//! part it has: at the first stage the cosine between the probe's unmirrored dlib embedding
//! and the dlib part of the template ([`crate::Recognizer::branch_layout`]), at the second
//! the dot product of the unmirrored fused probe with the template.
//!
//! # Decisions
//! With `s` a stage's score (for [`CascadeMode::Verify`]: the pair's similarity at that
//! stage; for [`CascadeMode::Identify`]: the probe's best person, by its best template, and
//! `s'` the second-best person):
//! - any face with `|yaw| > max_yaw` ([`crate::Quality::pose`] on the landmarks): full
//!   fusion. The bands were calibrated on faces up to that pose; on profile faces the dlib
//!   network alone is much weaker than the fusion (CFP frontal-profile: 84.9% against 95.1%).
//! - `s >= hi` (and, for identify, `s' < lo` or `s - s' >= margin`): accept at once;
//! - `s < lo`: reject at once;
//! - otherwise: the next stage.
//!
//! The bands are compiled in from `cascade.tsv`, written by `facecore calibrate --cascade`
//! on lfw-dev's all-pairs set: the bands that send the fewest pairs on under which the
//! cascade's decisions equal the full fusion's on all but 0.1% of the pairs the fusion
//! accepts (see the file's header and `docs/performance.md`).

use crate::error::{Error, Result};
use crate::verify::OperatingPoint;

/// The band table: space, mode, operating point, first-pass space, lo, hi, margin, the second
/// stage's lo, hi and margin, max_yaw, then the calibration figures. Written by `facecore calibrate --cascade`.
pub const CASCADE_BANDS: &str = include_str!("cascade.tsv");

/// What the cascade decides.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CascadeMode {
    /// 1:1: two probes, both partial (unmirrored) embeddings.
    Verify,
    /// 1:N: a partial probe against full templates (mirror-averaged), with the margin to the
    /// second-best person.
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
    /// The first network alone (the dlib ResNet, unmirrored), outside the first band.
    First,
    /// Every branch on the unmirrored chip (the dlib ResNet and SFace), outside the second band.
    Second,
    /// The full fusion (every branch and the mirrored chips).
    Full,
}

impl Stage {
    /// Lower-case name (`first`, `second`, `full`), as the CLI's JSON prints it.
    pub fn name(self) -> &'static str {
        match self {
            Stage::First => "first",
            Stage::Second => "second",
            Stage::Full => "full",
        }
    }
}

/// One stage's band: decide at once outside `[lo, hi)`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Band {
    /// Reject at once below this score.
    pub lo: f32,
    /// Accept at once at or above this score.
    pub hi: f32,
    /// Identify: least gap between the best and the second-best person for an accept at once
    /// (unless the second is below `lo`). Unused for verify.
    pub margin: f32,
}

impl Band {
    /// Verify: the decision from the pair's score at this stage, or `None` (go on).
    pub fn decide_pair(&self, score: f32) -> Option<bool> {
        if score >= self.hi {
            Some(true)
        } else if score < self.lo {
            Some(false)
        } else {
            None
        }
    }

    /// Identify: the decision from the best and second-best people's scores at this stage
    /// (`None` for no such person), or `None` (go on).
    pub fn decide_search(&self, best: Option<f32>, second: Option<f32>) -> Option<bool> {
        let Some(best) = best else { return Some(false) };
        if best < self.lo {
            return Some(false);
        }
        let clear = second.is_none_or(|s| s < self.lo || best - s >= self.margin);
        (best >= self.hi && clear).then_some(true)
    }

    fn valid(&self) -> bool {
        self.lo <= self.hi && self.margin >= 0.0
    }
}

/// The bands of one fused space, mode and operating point.
#[derive(Debug, Clone, PartialEq)]
pub struct CascadeBands {
    /// The space of the branch that runs first (a branch of the fused recognizer).
    pub first: String,
    /// The first stage's band, on the first network's score.
    pub first_band: Band,
    /// The second stage's band, on the unmirrored fused score; `None`: straight to the full
    /// fusion after the first stage.
    pub second_band: Option<Band>,
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

    /// The bands of a row of `table` (the format of [`CASCADE_BANDS`]: space, mode, op, first
    /// space, lo, hi, margin, lo2, hi2, margin2 (`-` for no second stage), max_yaw, figures).
    ///
    /// # Errors
    /// [`Error::InvalidInput`] when the matching row is malformed.
    pub fn from_table(table: &str, space: &str, mode: CascadeMode, op: OperatingPoint) -> Result<Option<CascadeBands>> {
        let Some(f) = table
            .lines()
            .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
            .map(|l| l.split('\t').collect::<Vec<_>>())
            .find(|f| f.len() >= 11 && f[0] == space && f[1] == mode.name() && f[2] == op.name())
        else {
            return Ok(None);
        };
        let num = |i: usize| -> Result<f32> {
            f[i].parse::<f32>()
                .ok()
                .filter(|v| v.is_finite())
                .ok_or_else(|| Error::input("cascade bands", format!("bad value {:?} in column {}", f[i], i + 1)))
        };
        let first_band = Band { lo: num(4)?, hi: num(5)?, margin: num(6)? };
        let second_band = if f[7..10].iter().all(|v| *v == "-") { None } else { Some(Band { lo: num(7)?, hi: num(8)?, margin: num(9)? }) };
        let b = CascadeBands { first: f[3].to_string(), first_band, second_band, max_yaw: num(10)? };
        if !b.first_band.valid() || b.second_band.is_some_and(|s| !s.valid()) || b.max_yaw < 0.0 {
            return Err(Error::input("cascade bands", format!("inconsistent row for {space} {} {}", mode.name(), op.name())));
        }
        Ok(Some(b))
    }

    /// Whether a face at this yaw (degrees) may be decided before the full fusion.
    pub fn pose_ok(&self, yaw: f32) -> bool {
        yaw.is_finite() && yaw.abs() <= self.max_yaw
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
                assert!(b.first_band.lo < b.first_band.hi && b.max_yaw > 0.0, "{b:?}");
                assert!(b.second_band.is_some_and(|s| s.lo < s.hi), "{b:?}");
            }
        }
        assert!(CascadeBands::lookup("dlib-resnet-v1", CascadeMode::Verify, OperatingPoint::Fmr1e3).is_none());
    }

    #[test]
    fn decisions() {
        let b = Band { lo: 0.5, hi: 0.8, margin: 0.1 };
        assert_eq!(b.decide_pair(0.9), Some(true));
        assert_eq!(b.decide_pair(0.8), Some(true));
        assert_eq!(b.decide_pair(0.6), None);
        assert_eq!(b.decide_pair(0.4), Some(false));
        assert_eq!(b.decide_search(None, None), Some(false));
        assert_eq!(b.decide_search(Some(0.9), None), Some(true));
        assert_eq!(b.decide_search(Some(0.9), Some(0.85)), None);
        assert_eq!(b.decide_search(Some(0.9), Some(0.75)), Some(true));
        assert_eq!(b.decide_search(Some(0.3), Some(0.2)), Some(false));
        let c = CascadeBands { first: "x".into(), first_band: b, second_band: None, max_yaw: 30.0 };
        assert!(c.pose_ok(-29.0) && !c.pose_ok(31.0) && !c.pose_ok(f32::NAN));
        let bad = format!("{SPACE}\tverify\tfmr1e-3\tdlib-resnet-v1\t0.9\t0.5\t0\t-\t-\t-\t30\n");
        assert!(CascadeBands::from_table(&bad, SPACE, CascadeMode::Verify, OperatingPoint::Fmr1e3).is_err());
        let one = format!("{SPACE}\tverify\tfmr1e-3\tdlib-resnet-v1\t0.5\t0.9\t0\t-\t-\t-\t30\n");
        let one = CascadeBands::from_table(&one, SPACE, CascadeMode::Verify, OperatingPoint::Fmr1e3).ok().flatten();
        assert!(one.is_some_and(|b| b.second_band.is_none() && b.first_band.hi == 0.9));
        let bad = format!("{SPACE}\tverify\tfmr1e-3\tdlib-resnet-v1\t0.5\t0.9\t0\t0.8\t0.7\t0\t30\n");
        assert!(CascadeBands::from_table(&bad, SPACE, CascadeMode::Verify, OperatingPoint::Fmr1e3).is_err());
    }
}
