//! Identify and verify on whole images: detection, then only the networks each decision needs
//! (the cascade of the `accurate` preset; see docs/performance.md).

use facecore::{Identified, Identity, LivenessDecision, LivenessResult, OperatingPoint, Stage, Verified};

use crate::boundary::{Fail, boundary, facecore_status, handle_ref, out_arg, slice_mut, write};
use crate::gallery::{FACECORE_NO_PERSON, facecore_gallery, facecore_match};
use crate::image::{facecore_face, facecore_image, image_arg};
use crate::liveness::facecore_liveness_decision;
use crate::pipeline::facecore_pipeline;
use crate::verify::operating_point;

/// Which networks decided a face or a pair (`facecore_identified.stage`,
/// `facecore_verified.stage`). Values are stable: new ones are appended.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum facecore_stage {
    /// The first network alone (the dlib ResNet on the unmirrored chip): its score was far
    /// enough from the threshold. Score and threshold are that network's cosine and the
    /// band bound it passed.
    First = 1,
    /// Both networks on the unmirrored chip (the unmirrored fusion), outside the second band.
    Second = 2,
    /// The full embedding, compared with the operating point's calibrated threshold: the
    /// mirrored chips of both networks for `accurate` (turned faces always go here); the one
    /// stage of every other preset.
    Full = 3,
}

/// One face named by `facecore_pipeline_identify`.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct facecore_identified {
    /// The face: box, detector score, landmarks.
    pub face: facecore_face,
    /// The best candidate: the person's id and score at the deciding stage (the identity when
    /// `known`, else the nearest person, for inspection). `id` FACECORE_NO_PERSON and `score`
    /// -INFINITY when the gallery is empty. The name: `facecore_gallery_person_name`.
    pub best: facecore_match,
    /// Whether the face is `best.id`: true exactly when `best.score >= threshold`.
    pub known: bool,
    /// What `best.score` was compared with: the operating point's calibrated threshold at
    /// FACECORE_STAGE_FULL; at the earlier stages the band bound it passed (upper for a
    /// known face, lower for an unknown one).
    pub threshold: f32,
    /// A `facecore_stage` value: which networks decided.
    pub stage: u32,
    /// Quality score of the face for recognition, 0..1 (size, sharpness, exposure, pose).
    pub quality: f32,
    /// Live score in 0..1 with a pipeline that checks liveness
    /// (`facecore_pipeline_with_liveness`) and a face it could judge, else NAN.
    pub live: f32,
    /// A `facecore_liveness_decision` value (LIVE or SPOOF) along with `live`;
    /// FACECORE_LIVENESS_DECISION_UNKNOWN when the face was not judged or not checked.
    pub liveness: u32,
}

/// The answer of `facecore_pipeline_verify`.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct facecore_verified {
    /// The pair's score at the deciding stage: the fused cosine at FACECORE_STAGE_FULL, the
    /// first network's cosine at FACECORE_STAGE_FIRST, the unmirrored fusion's at SECOND.
    pub similarity: f32,
    /// What `similarity` was compared with: the operating point's calibrated threshold at
    /// FACECORE_STAGE_FULL, else the band bound it passed.
    pub threshold: f32,
    /// Whether both faces are the same person: true exactly when `similarity >= threshold`.
    pub same_person: bool,
    /// A `facecore_stage` value: which networks decided.
    pub stage: u32,
    /// The faces compared: the most confident face of each image.
    pub faces: [facecore_face; 2],
}

/// The C value of a core stage.
fn stage(s: Stage) -> Result<u32, Fail> {
    Ok(match s {
        Stage::First => facecore_stage::First,
        Stage::Second => facecore_stage::Second,
        Stage::Full => facecore_stage::Full,
        // `Stage` is non-exhaustive: a new core stage needs its own C value first.
        other => return Err(Fail::new(facecore_status::Unknown, format!("stage {:?} has no C value in this version", other.name()))),
    } as u32)
}

/// `live` and `liveness` of a face's liveness result.
fn live(r: Option<LivenessResult>) -> (f32, u32) {
    let decision = match r.map(|r| r.decision) {
        Some(LivenessDecision::Live) => facecore_liveness_decision::Live,
        Some(LivenessDecision::Spoof) => facecore_liveness_decision::Spoof,
        _ => facecore_liveness_decision::Unknown,
    };
    (r.and_then(|r| r.score).unwrap_or(f32::NAN), decision as u32)
}

fn identified(f: &Identified) -> Result<facecore_identified, Fail> {
    let to_c = |m: &facecore::Match| facecore_match { id: m.id.0, score: m.score };
    let (best, known) = match &f.identity {
        Identity::Known(m) => (to_c(m), true),
        Identity::Unknown(Some(m)) => (to_c(m), false),
        Identity::Unknown(None) => (facecore_match { id: FACECORE_NO_PERSON, score: f32::NEG_INFINITY }, false),
    };
    let (live, liveness) = live(f.liveness);
    Ok(facecore_identified {
        face: facecore_face::from(&f.face),
        best,
        known,
        threshold: f.threshold,
        stage: stage(f.stage)?,
        quality: f.quality.score,
        live,
        liveness,
    })
}

/// The operating point's threshold in the pipeline's space, or NO_THRESHOLD (checked before
/// any network runs).
fn threshold(p: &facecore_pipeline, op: OperatingPoint) -> Result<f32, Fail> {
    op.threshold(p.pipeline.recognizer().space()).map_err(|e| Fail::new(facecore_status::NoThreshold, e.to_string()))
}

/// @brief Detects every face of `image` and names it against `gallery` at operating point
/// `op` (a `facecore_operating_point`), in detection order (most confident first). With the
/// `accurate` preset this runs the cascade: the dlib ResNet first, SFace and the mirrored
/// chips only for faces it cannot decide (and for turned faces), so most faces cost a
/// fraction of `facecore_pipeline_analyze`; the decisions equal the full fusion's on all but
/// a calibrated sliver of faces (docs/performance.md). Other presets embed every face fully
/// and search the gallery, as `facecore_gallery_identify` at `facecore_threshold` does.
///
/// The results go to `results[0 .. *out_count - 1]`, one per face, in detection order (faces
/// that cannot be aligned are skipped, as by `facecore_pipeline_analyze`). When `capacity` is less than the number of faces detected,
/// no network beyond the detector runs, nothing is written to `results`, the call returns
/// FACECORE_STATUS_BUFFER_TOO_SMALL and `*out_count` holds the number of faces detected
/// (enough room for the results).
///
/// The gallery is read under its lock, held while the recognition networks run (not during
/// detection): searches of it from other threads go on, enrolments wait for the call. An
/// empty gallery gives every face `known` false and `best.id` FACECORE_NO_PERSON. Errors:
/// MODEL_MISMATCH for a gallery of another embedding space than the pipeline's,
/// NO_THRESHOLD for a pipeline whose space has no calibrated thresholds (a custom
/// embedder), INVALID_ARGUMENT for an unknown `op` or a bad image. Thread-safe.
///
/// # Safety
/// `pipeline` and `gallery` are live handles; `image` is valid; `results` is writable for
/// `capacity` entries (NULL when 0); `out_count` is valid for one write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn facecore_pipeline_identify(
    pipeline: *const facecore_pipeline,
    image: *const facecore_image,
    gallery: *const facecore_gallery,
    op: u32,
    results: *mut facecore_identified,
    capacity: usize,
    out_count: *mut usize,
) -> facecore_status {
    boundary(|| {
        // SAFETY: forwarded caller contract.
        let p = unsafe { handle_ref(pipeline, "pipeline") }?;
        // SAFETY: forwarded caller contract.
        let image = unsafe { image_arg(image, "image") }?;
        // SAFETY: forwarded caller contract.
        let g = unsafe { handle_ref(gallery, "gallery") }?;
        let op = operating_point(op)?;
        // SAFETY: forwarded caller contract.
        let results = unsafe { slice_mut(results, capacity, "results") }?;
        let out_count = out_arg(out_count, "out_count")?;
        threshold(p, op)?;
        let faces = p.pipeline.detector().detect(&image)?;
        if faces.len() > results.len() {
            // SAFETY: `out_count` checked non-NULL; valid per the caller's contract.
            unsafe { write(out_count, faces.len()) };
            return Err(Fail::too_small(format!("{} faces found; results holds {}", faces.len(), results.len())));
        }
        let found = {
            let g = g.read();
            let space = p.pipeline.recognizer().space();
            if let Some(s) = g.space().filter(|s| *s != space) {
                let (left, right) = (format!("gallery of {s}"), format!("pipeline of {space}"));
                return Err(facecore::Error::ModelMismatch { left, right }.into());
            }
            p.pipeline.identify_faces(&image, &faces, &g, op)?
        };
        let converted = found.iter().map(identified).collect::<Result<Vec<_>, Fail>>()?;
        results[..converted.len()].copy_from_slice(&converted);
        // SAFETY: `out_count` checked non-NULL; valid per the caller's contract.
        unsafe { write(out_count, converted.len()) };
        Ok(())
    })
}

/// @brief Are the most confident faces of `image_a` and `image_b` the same person, at
/// operating point `op` (a `facecore_operating_point`)? With the `accurate` preset this runs
/// the cascade (the dlib ResNet decides pairs far from the threshold with both faces near
/// frontal; the others get SFace, then the mirrored chips); other presets compare the full
/// embeddings, as `facecore_verify` does. `*out` receives the score, the threshold it was
/// compared with, the decision, the stage and both faces.
///
/// Errors: INVALID_ARGUMENT when an image holds no face (the message says which: "first
/// image" or "second image"), for an unknown `op` or a bad image; NO_THRESHOLD for a
/// pipeline whose space has no calibrated thresholds. Thread-safe.
///
/// # Safety
/// `pipeline` is a live handle; `image_a` and `image_b` are valid; `out` is valid for one
/// write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn facecore_pipeline_verify(
    pipeline: *const facecore_pipeline,
    image_a: *const facecore_image,
    image_b: *const facecore_image,
    op: u32,
    out: *mut facecore_verified,
) -> facecore_status {
    boundary(|| {
        // SAFETY: forwarded caller contract.
        let p = unsafe { handle_ref(pipeline, "pipeline") }?;
        // SAFETY: forwarded caller contract.
        let a = unsafe { image_arg(image_a, "image_a") }?;
        // SAFETY: forwarded caller contract.
        let b = unsafe { image_arg(image_b, "image_b") }?;
        let op = operating_point(op)?;
        let out = out_arg(out, "out")?;
        threshold(p, op)?;
        let Verified { verification: v, stage: s, faces } = p.pipeline.verify(&a, &b, op)?;
        let result = facecore_verified {
            similarity: v.similarity,
            threshold: v.threshold,
            same_person: v.same_person,
            stage: stage(s)?,
            faces: [facecore_face::from(&faces[0]), facecore_face::from(&faces[1])],
        };
        // SAFETY: `out` checked non-NULL; valid per the caller's contract.
        unsafe { write(out, result) };
        Ok(())
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn every_stage_has_a_distinct_c_value() {
        let all = [Stage::First, Stage::Second, Stage::Full].map(|s| stage(s).unwrap());
        assert_eq!(all, [facecore_stage::First as u32, facecore_stage::Second as u32, facecore_stage::Full as u32]);
        assert!(all.iter().all(|v| *v != 0), "0 stays free as a sentinel");
    }
}
