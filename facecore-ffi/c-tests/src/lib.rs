//! Runs the C and C++ tests of `facecore.h` (compiled by build.rs) under `cargo test`, and
//! checks that the C API gives the same results as the Rust API on the fixtures.
//!
//! The C side is linked against `facecore_ffi` as an ordinary Rust dependency (its rlib holds
//! the same `extern "C"` functions as libfacecore.a and libfacecore.so).

// Keep the ABI crate linked: only the C code refers to it.
use facecore_ffi as _;

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]
mod tests {
    use std::ffi::{CString, c_char, c_int};
    use std::path::PathBuf;
    use std::sync::Mutex;

    use facecore_ffi::{
        facecore_face, facecore_liveness_decision, facecore_liveness_result, facecore_liveness_unknown_reason, facecore_preset,
    };

    unsafe extern "C" {
        fn fc_set_fixtures(dir: *const c_char);
        fn fc_test_version() -> c_int;
        fn fc_test_nulls() -> c_int;
        fn fc_test_garbage() -> c_int;
        fn fc_test_images() -> c_int;
        fn fc_test_buffers() -> c_int;
        fn fc_test_gallery_files(tmpdir: *const c_char) -> c_int;
        fn fc_test_cpp() -> c_int;
        fn fc_test_models(models_dir: *const c_char) -> c_int;
        fn fc_test_gallery_security(tmpdir: *const c_char, yunet_path: *const c_char) -> c_int;
        fn fc_test_threads(tmpdir: *const c_char, seconds: c_int) -> c_int;
        fn fc_test_pixel_formats(fixtures_dir: *const c_char) -> c_int;
        fn fc_test_liveness(fixtures_dir: *const c_char) -> c_int;
        fn fc_test_pipeline_liveness(fixtures_dir: *const c_char) -> c_int;
        fn fc_test_stream(fixtures_dir: *const c_char) -> c_int;
        fn fc_test_identify(fixtures_dir: *const c_char) -> c_int;
        fn fc_identify_file(
            path: *const c_char,
            gallery_path: *const c_char,
            preset: u32,
            op: u32,
            out: *mut facecore_ffi::facecore_identified,
            capacity: usize,
            count: *mut usize,
        ) -> c_int;
        fn fc_verify_files(
            path_a: *const c_char,
            path_b: *const c_char,
            preset: u32,
            op: u32,
            out: *mut facecore_ffi::facecore_verified,
        ) -> c_int;
        fn fc_stream_events(
            fixtures_dir: *const c_char,
            gallery_path: *const c_char,
            out: *mut facecore_ffi::facecore_stream_event,
            capacity: usize,
            count: *mut usize,
        ) -> c_int;
        fn fc_liveness_file(
            path: *const c_char,
            faces: *mut facecore_face,
            capacity: usize,
            results: *mut facecore_liveness_result,
            count: *mut usize,
        ) -> c_int;
        fn fc_analyze_file(
            path: *const c_char,
            preset: u32,
            faces: *mut facecore_face,
            capacity: usize,
            embeddings: *mut f32,
            embeddings_len: usize,
            count: *mut usize,
            dim: *mut usize,
        ) -> c_int;
    }

    /// The C tests share statics (failure counter, cached handles): one at a time.
    static C_LOCK: Mutex<()> = Mutex::new(());

    fn fixtures() -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures").canonicalize().unwrap()
    }

    fn run(name: &str, f: impl FnOnce() -> c_int) {
        let _guard = C_LOCK.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let dir = CString::new(fixtures().to_str().unwrap()).unwrap();
        // SAFETY: a NUL-terminated string; the C side copies it.
        unsafe { fc_set_fixtures(dir.as_ptr()) };
        let failures = f();
        assert_eq!(failures, 0, "{name}: {failures} C check(s) failed (see stderr)");
    }

    #[test]
    fn c_version() {
        // SAFETY: test functions without arguments.
        run("version", || unsafe { fc_test_version() });
    }

    #[test]
    fn c_null_arguments() {
        // SAFETY: as above.
        run("nulls", || unsafe { fc_test_nulls() });
    }

    #[test]
    fn c_garbage_arguments() {
        // SAFETY: as above.
        run("garbage", || unsafe { fc_test_garbage() });
    }

    #[test]
    fn c_images_strides_and_formats() {
        // SAFETY: as above.
        run("images", || unsafe { fc_test_images() });
    }

    /// NV12, NV21, I420 and YUYV frames made in C from the fixtures (one buffer and separate
    /// planes, both ranges) find the RGB image's faces; truncated planes and bad strides fail.
    #[test]
    fn c_camera_pixel_formats() {
        let dir = CString::new(fixtures().to_str().unwrap()).unwrap();
        // SAFETY: a NUL-terminated path.
        run("pixel formats", || unsafe { fc_test_pixel_formats(dir.as_ptr()) });
    }

    /// Liveness from C: operating points, a 10 px face and a face cut by the edge (UNKNOWN,
    /// NAN), configs, model sets from memory, NULLs, bad operating points and thresholds.
    #[test]
    fn c_liveness() {
        let dir = CString::new(fixtures().to_str().unwrap()).unwrap();
        // SAFETY: a NUL-terminated path.
        run("liveness", || unsafe { fc_test_liveness(dir.as_ptr()) });
    }

    /// The C liveness scores equal the Rust API's bit for bit on every detected face of the
    /// fixtures, with the same decisions.
    #[test]
    fn c_liveness_equals_the_rust_api() {
        let detector = facecore::Detector::bundled(facecore::DetectorConfig::default()).unwrap();
        let liveness = facecore::Liveness::bundled().unwrap();
        let mut judged = 0;
        for name in ["obama.jpg", "obama2.jpg", "biden.jpg", "two_people.jpg", "obama_small.jpg", "astronaut.png"] {
            let path = fixtures().join(name);
            let img = facecore::Image::open(&path).unwrap();
            let expected = detector.detect(&img).unwrap();
            let mut faces = [facecore_face::default(); 16];
            let nan = facecore_liveness_result { score: f32::NAN, decision: 99, unknown_reason: 99 };
            let mut results = [nan; 16];
            let mut count = 0usize;
            let c = CString::new(path.to_str().unwrap()).unwrap();
            run(name, || {
                // SAFETY: buffers sized as passed; out-pointer valid.
                unsafe { fc_liveness_file(c.as_ptr(), faces.as_mut_ptr(), faces.len(), results.as_mut_ptr(), &mut count) }
            });
            assert_eq!(count, expected.len(), "{name}: face count");
            for (i, f) in expected.iter().enumerate() {
                assert_eq!(faces[i], facecore_face::from(f), "{name}: face {i}");
                let r = liveness.check(&img, f, facecore::LivenessOp::Default).unwrap();
                let c = results[i];
                let (decision, reason) = match r.decision {
                    facecore::LivenessDecision::Live => (facecore_liveness_decision::Live, facecore_liveness_unknown_reason::None),
                    facecore::LivenessDecision::Spoof => (facecore_liveness_decision::Spoof, facecore_liveness_unknown_reason::None),
                    facecore::LivenessDecision::Unknown(facecore::liveness::UnknownReason::TooSmall) => {
                        (facecore_liveness_decision::Unknown, facecore_liveness_unknown_reason::TooSmall)
                    }
                    facecore::LivenessDecision::Unknown(_) => {
                        (facecore_liveness_decision::Unknown, facecore_liveness_unknown_reason::CutByEdge)
                    }
                };
                assert_eq!((c.decision, c.unknown_reason), (decision as u32, reason as u32), "{name}: face {i}");
                match r.score {
                    Some(s) => {
                        assert_eq!(c.score.to_bits(), s.to_bits(), "{name}: face {i}: C {} vs Rust {s}", c.score);
                        judged += 1;
                    }
                    None => assert!(c.score.is_nan(), "{name}: face {i}"),
                }
            }
        }
        assert!(judged >= 5, "only {judged} faces judged");
    }

    #[test]
    fn c_too_small_buffers() {
        // SAFETY: as above.
        run("buffers", || unsafe { fc_test_buffers() });
    }

    #[test]
    fn c_gallery_files() {
        let dir = std::env::temp_dir().join(format!("facecore-c-tests-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let c = CString::new(dir.to_str().unwrap()).unwrap();
        // SAFETY: a NUL-terminated path.
        run("gallery files", || unsafe { fc_test_gallery_files(c.as_ptr()) });
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn c_model_sets_from_a_directory_and_from_memory() {
        let dir = std::env::temp_dir().join(format!("facecore-c-models-{}", std::process::id()));
        facecore::models::export(&facecore::ModelSource::default(), &dir).unwrap();
        let c = CString::new(dir.to_str().unwrap()).unwrap();
        // SAFETY: a NUL-terminated path.
        run("model sets", || unsafe { fc_test_models(c.as_ptr()) });
        let _ = std::fs::remove_dir_all(&dir);
    }

    fn temp_dir(tag: &str) -> (PathBuf, CString) {
        let dir = std::env::temp_dir().join(format!("facecore-c-{tag}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let c = CString::new(dir.to_str().unwrap()).unwrap();
        (dir, c)
    }

    #[test]
    fn c_encrypted_galleries_ids_limits_and_models_from_memory() {
        let (dir, c) = temp_dir("security");
        let yunet = CString::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../../facecore/models/yunet_2023mar.onnx")).unwrap();
        // SAFETY: NUL-terminated paths.
        run("gallery security", || unsafe { fc_test_gallery_security(c.as_ptr(), yunet.as_ptr()) });
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// Eight pthreads on one gallery for three seconds: four identify, two enrol, one removes,
    /// one saves and loads. No deadlock, no lost enrolment, no id under another's name.
    #[test]
    fn c_eight_threads_share_one_gallery() {
        let (dir, c) = temp_dir("threads");
        // SAFETY: a NUL-terminated path.
        run("threads", || unsafe { fc_test_threads(c.as_ptr(), 3) });
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// A pipeline with liveness: C streams decide each track's liveness once.
    #[test]
    fn c_pipeline_with_liveness_drives_stream_liveness() {
        let dir = CString::new(fixtures().to_str().unwrap()).unwrap();
        // SAFETY: a NUL-terminated path.
        run("pipeline liveness", || unsafe { fc_test_pipeline_liveness(dir.as_ptr()) });
    }

    #[test]
    fn cpp_header() {
        // SAFETY: as above.
        run("c++", || unsafe { fc_test_cpp() });
    }

    #[test]
    fn header_version_matches_cargo() {
        let header = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../include/facecore.h")).unwrap();
        let v: Vec<&str> = env!("CARGO_PKG_VERSION").split('.').collect();
        for (name, value) in ["MAJOR", "MINOR", "PATCH"].iter().zip(&v) {
            assert!(header.contains(&format!("#define FACECORE_VERSION_{name} {value}\n")), "FACECORE_VERSION_{name} is not {value}");
        }
    }

    /// The C pipeline and the Rust pipeline agree on every fixture: same boxes, scores,
    /// landmarks and embeddings.
    #[test]
    fn c_results_equal_the_rust_api() {
        let preset = facecore::Preset::Accurate;
        let rust = facecore::FacePipeline::from_preset(preset).unwrap();
        for name in ["obama.jpg", "biden.jpg", "two_people.jpg"] {
            let path = fixtures().join(name);
            let expected = rust.analyze(&facecore::Image::open(&path).unwrap()).unwrap();
            let mut faces = [facecore_face::default(); 16];
            let mut embeddings = vec![0f32; 16 * 256];
            let (mut count, mut dim) = (0usize, 0usize);
            let c = CString::new(path.to_str().unwrap()).unwrap();
            run(name, || {
                // SAFETY: buffers sized as passed; out-pointers valid.
                unsafe {
                    fc_analyze_file(
                        c.as_ptr(),
                        facecore_preset::Accurate as u32,
                        faces.as_mut_ptr(),
                        faces.len(),
                        embeddings.as_mut_ptr(),
                        embeddings.len(),
                        &mut count,
                        &mut dim,
                    )
                }
            });
            assert_eq!(count, expected.len(), "{name}: face count");
            assert!(count > 0, "{name}: no face");
            for (i, e) in expected.iter().enumerate() {
                assert_eq!(faces[i], facecore_face::from(&e.face), "{name}: face {i}");
                assert_eq!(dim, e.embedding.dim(), "{name}: dim");
                assert_eq!(&embeddings[i * dim..(i + 1) * dim], e.embedding.as_slice(), "{name}: embedding {i}");
            }
        }
    }

    /// Face streams from C: synthetic frames, an event array of 1 and of 0 (nothing lost),
    /// NV12 frames, bad frames and timestamps (the stream goes on), options, galleries of
    /// another space, names, NULLs and wrong handles.
    #[test]
    fn c_stream() {
        let dir = CString::new(fixtures().to_str().unwrap()).unwrap();
        // SAFETY: a NUL-terminated path.
        run("stream", || unsafe { fc_test_stream(dir.as_ptr()) });
    }

    /// The C stream gives the Rust API's events, field for field, on the same frames (built
    /// in C by `make_frame` in tests/stream.c and here the same way) with the same gallery.
    #[test]
    fn c_stream_events_equal_the_rust_api() {
        use facecore::{FaceStream, Gallery, Image, Preset, StreamOptions, image_crate::RgbImage};
        let pipeline = facecore::FacePipeline::from_preset(Preset::Fast).unwrap();
        let mut gallery = Gallery::new();
        for (name, file) in [("obama", "obama.jpg"), ("biden", "biden.jpg")] {
            let face = pipeline.analyze(&Image::open(fixtures().join(file)).unwrap()).unwrap().remove(0);
            gallery.enroll(name, &face.embedding).unwrap();
        }
        let (dir, _) = temp_dir("stream");
        let path = dir.join("people.gallery");
        gallery.save(&path).unwrap();
        let sprite = Image::open(fixtures().join("obama_small.jpg")).unwrap();
        let (sw, sh) = (sprite.width() as usize, sprite.height() as usize);
        let mut stream = FaceStream::new(pipeline, Some(gallery), StreamOptions::default()).unwrap();
        let mut expected = Vec::new();
        for i in 0..16usize {
            let mut rgb = vec![90u8; 640 * 360 * 3];
            let x0 = 10 * i;
            for y in 0..sh.min(360 - 60) {
                let w = sw.min(640 - x0);
                let src = &sprite.as_rgb().as_raw()[y * sw * 3..][..w * 3];
                rgb[((60 + y) * 640 + x0) * 3..][..w * 3].copy_from_slice(src);
            }
            let frame = Image::from_rgb(RgbImage::from_raw(640, 360, rgb).unwrap()).unwrap();
            expected.extend(stream.push(&frame, i as f64 / 25.0).unwrap());
        }
        expected.extend(stream.finish());
        let nan = facecore_ffi::facecore_stream_event {
            kind: facecore_ffi::facecore_stream_event_kind::Started,
            track: 0,
            timestamp: 0.0,
            frame: 0,
            x: 0.0,
            y: 0.0,
            width: 0.0,
            height: 0.0,
            quality: 0.0,
            person: 0,
            score: 0.0,
            previous: 0,
            duration: 0.0,
            live: 0.0,
            liveness: 0,
        };
        let mut events = [nan; 64];
        let mut count = 0usize;
        let fixtures_c = CString::new(fixtures().to_str().unwrap()).unwrap();
        let gallery_c = CString::new(path.to_str().unwrap()).unwrap();
        run("stream events", || {
            // SAFETY: NUL-terminated paths; the array holds `events.len()` events.
            unsafe { fc_stream_events(fixtures_c.as_ptr(), gallery_c.as_ptr(), events.as_mut_ptr(), events.len(), &mut count) }
        });
        assert!(expected.len() >= 3, "{expected:#?}");
        assert_eq!(count, expected.len(), "C events: {:#?}\nRust events: {expected:#?}", &events[..count.min(64)]);
        for (i, e) in expected.iter().enumerate() {
            // Debug formatting compares NaN scores as equal and every other field exactly.
            assert_eq!(format!("{:?}", events[i]), format!("{:?}", facecore_ffi::facecore_stream_event::from(e)), "event {i}");
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
    /// Identify and verify on images from C (tests/identify.c): on every fixture and operating
    /// point the cascade's decisions equal the full fusion's as a C caller computes it
    /// (`facecore_pipeline_analyze` + `facecore_gallery_identify` / `facecore_verify`), with
    /// the same score at the full stage; both people of two_people.jpg are named; NULLs, wrong
    /// handles, unknown operating points, bad images, images without a face, too small arrays,
    /// empty and foreign galleries, and an uncalibrated fusion (NO_THRESHOLD).
    #[test]
    fn c_identify_and_verify() {
        let dir = CString::new(fixtures().to_str().unwrap()).unwrap();
        // SAFETY: a NUL-terminated path.
        run("identify", || unsafe { fc_test_identify(dir.as_ptr()) });
    }

    /// `facecore_pipeline_identify` and `facecore_pipeline_verify` give the Rust API's
    /// `FacePipeline::identify` and `verify` results field for field (faces, person, score,
    /// threshold, stage, quality), and those decide like the full fusion
    /// (`with_cascade(false)`).
    #[test]
    fn c_identify_and_verify_equal_the_rust_api() {
        use facecore::{EnrollOptions, Gallery, Identity, Image, OperatingPoint, Preset, QualityConfig, Stage};
        use facecore_ffi::{facecore_identified, facecore_stage, facecore_verified};
        let pipeline = facecore::FacePipeline::from_preset(Preset::Accurate).unwrap();
        let full = pipeline.clone().with_cascade(false);
        let mut gallery = Gallery::new();
        for (name, file) in [("obama", "obama.jpg"), ("biden", "biden.jpg")] {
            let opts = EnrollOptions { quality: QualityConfig::NONE };
            pipeline.enroll(&mut gallery, name, &Image::open(fixtures().join(file)).unwrap(), &opts).unwrap();
        }
        let (dir, _) = temp_dir("identify");
        let path = dir.join("people.gallery");
        gallery.save(&path).unwrap();
        let gallery_c = CString::new(path.to_str().unwrap()).unwrap();
        let stage_c = |s: Stage| match s {
            Stage::First => facecore_stage::First as u32,
            Stage::Second => facecore_stage::Second as u32,
            _ => facecore_stage::Full as u32,
        };
        let ops = [(OperatingPoint::Fmr1e3, 0u32), (OperatingPoint::Fmr1e4, 1), (OperatingPoint::BestAccuracy, 2)];
        let mut compared = 0;
        for name in ["obama.jpg", "obama2.jpg", "biden.jpg", "two_people.jpg", "astronaut.png"] {
            let img = Image::open(fixtures().join(name)).unwrap();
            let file = CString::new(fixtures().join(name).to_str().unwrap()).unwrap();
            for (op, op_c) in ops {
                let expected = pipeline.identify(&img, &gallery, op).unwrap();
                let reference = full.identify(&img, &gallery, op).unwrap();
                // SAFETY: plain data; every field is overwritten by a successful call.
                let mut out: [facecore_identified; 8] = unsafe { std::mem::zeroed() };
                let mut count = 0usize;
                run(name, || {
                    // SAFETY: NUL-terminated paths; the array holds `out.len()` results.
                    unsafe {
                        fc_identify_file(
                            file.as_ptr(),
                            gallery_c.as_ptr(),
                            facecore_preset::Accurate as u32,
                            op_c,
                            out.as_mut_ptr(),
                            out.len(),
                            &mut count,
                        )
                    }
                });
                assert_eq!(count, expected.len(), "{name}");
                for ((c, e), r) in out.iter().zip(&expected).zip(&reference) {
                    let (m, known) = match &e.identity {
                        Identity::Known(m) => (Some(m), true),
                        Identity::Unknown(m) => (m.as_ref(), false),
                    };
                    assert_eq!(c.face, facecore_face::from(&e.face), "{name}");
                    assert_eq!(c.known, known, "{name} at {}", op.name());
                    assert_eq!(c.best.id, m.map_or(0, |m| m.id.0), "{name}");
                    assert_eq!(c.best.score.to_bits(), m.map_or(f32::NEG_INFINITY, |m| m.score).to_bits(), "{name}");
                    assert_eq!(c.threshold.to_bits(), e.threshold.to_bits(), "{name}");
                    assert_eq!(c.stage, stage_c(e.stage), "{name}");
                    assert_eq!(c.quality.to_bits(), e.quality.score.to_bits(), "{name}");
                    let reference_known = matches!(r.identity, Identity::Known(_));
                    assert_eq!(known, reference_known, "{name} at {}: cascade {e:?} / full {r:?}", op.name());
                    compared += 1;
                }
            }
        }
        assert!(compared >= 15, "{compared}");
        for (a, b) in [("obama.jpg", "obama2.jpg"), ("obama.jpg", "biden.jpg"), ("two_people.jpg", "biden.jpg")] {
            let (ia, ib) = (Image::open(fixtures().join(a)).unwrap(), Image::open(fixtures().join(b)).unwrap());
            let (fa, fb) =
                (CString::new(fixtures().join(a).to_str().unwrap()).unwrap(), CString::new(fixtures().join(b).to_str().unwrap()).unwrap());
            for (op, op_c) in ops {
                let e = pipeline.verify(&ia, &ib, op).unwrap();
                let r = full.verify(&ia, &ib, op).unwrap();
                // SAFETY: plain data, overwritten by a successful call.
                let mut c: facecore_verified = unsafe { std::mem::zeroed() };
                run(a, || {
                    // SAFETY: NUL-terminated paths; `c` is valid for one write.
                    unsafe { fc_verify_files(fa.as_ptr(), fb.as_ptr(), facecore_preset::Accurate as u32, op_c, &mut c) }
                });
                let v = e.verification;
                assert_eq!(c.similarity.to_bits(), v.similarity.to_bits(), "{a} / {b}");
                assert_eq!(c.threshold.to_bits(), v.threshold.to_bits(), "{a} / {b}");
                assert_eq!((c.same_person, c.stage), (v.same_person, stage_c(e.stage)), "{a} / {b}");
                assert_eq!(c.faces, [facecore_face::from(&e.faces[0]), facecore_face::from(&e.faces[1])], "{a} / {b}");
                assert_eq!(v.same_person, r.verification.same_person, "{a} / {b} at {}: cascade {e:?} / full {r:?}", op.name());
            }
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}
