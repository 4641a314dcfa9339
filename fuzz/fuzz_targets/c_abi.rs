//! The C ABI (facecore-ffi, `include/facecore.h`) driven as C would drive it: the input is a
//! script of up to 24 calls with arguments taken from the input.
//!
//! Every pointer handed to the library is NULL or a real allocation of the size the call is
//! told (the caller's side of the contract); what is fuzzed is everything else: image
//! geometry (width, height, stride, format) against the buffer length given in `len`,
//! capacities and output lengths, counts, indices, dimensions, enum values, non-finite
//! floats, non-UTF-8 and over-long strings, gallery bytes, model bytes, and NULL in every
//! pointer position the script chooses.
//!
//! Checked on every call: no status is FACECORE_STATUS_PANIC (a panic caught at the boundary
//! is a bug; libFuzzer's panic hook also aborts on it before it is caught); the thread's last
//! error message is set exactly when the call failed and is a NUL-terminated string; output
//! counts respect the capacities given.
//!
//! Speed: the handles are made once: the detector (YuNet from memory, network input at most
//! 32 px, score threshold 0 so that every call returns faces), SFace (from models/, verified
//! against the manifest like every model the C ABI loads), a recognizer and a pipeline over
//! them. Detection runs at most once per input, and once per distinct image geometry. The calls that run SFace
//! (`facecore_recognizer_embed`, `facecore_embedder_embed_chip`, `facecore_pipeline_analyze`)
//! are not in the script: one SFace run costs more than a thousand other calls. Their
//! argument checks (image, face, output length) are the ones `facecore_align` and
//! `facecore_detect` share, which are fuzzed.
#![no_main]

use std::ffi::{CStr, c_char};
use std::ptr::{null, null_mut};
use std::sync::OnceLock;

use facecore_ffi::*;
use libfuzzer_sys::arbitrary::{Result, Unstructured};
use libfuzzer_sys::fuzz_target;

static YUNET: &[u8] = include_bytes!("../../facecore/models/yunet_2023mar.onnx");
/// A small ONNX graph: not a manifest model, so the C ABI must refuse it.
static TINY_EMBEDDER: &[u8] = include_bytes!("../seeds/tiny_embedder.onnx");

/// Whether the script may call the entry points that run SFace (off: see the top comment).
const RUN_SFACE: bool = false;

/// Image buffers are at most this long (a 64 x 64 RGBA frame).
const MAX_BUF: usize = 64 * 64 * 4;

struct Shared {
    det: *mut facecore_detector,
    emb: *mut facecore_embedder,
    rec: *mut facecore_recognizer,
    pipe: *mut facecore_pipeline,
    space: Vec<u8>,
}
// SAFETY: the header documents detector, embedder, recognizer and pipeline handles as usable
// from any thread; the fuzzer runs one thread anyway.
unsafe impl Send for Shared {}
// SAFETY: as above.
unsafe impl Sync for Shared {}

fn ok(st: facecore_status, what: &str) {
    assert_eq!(st, facecore_status::Ok, "{what}: {}", last_error().unwrap_or_default());
}

fn last_error() -> Option<String> {
    let p = facecore_last_error_message();
    // SAFETY: NULL or a NUL-terminated string owned by the library, valid until the next call.
    (!p.is_null()).then(|| unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned())
}

/// The invariants of every fallible call.
fn check(st: facecore_status, what: &str) -> facecore_status {
    let msg = last_error();
    assert_ne!(st, facecore_status::Panic, "{what}: panic at the C boundary: {msg:?}");
    if st == facecore_status::Ok {
        assert!(msg.is_none(), "{what}: succeeded but left an error message {msg:?}");
    } else {
        assert!(msg.as_deref().is_some_and(|m| !m.is_empty()), "{what}: failed ({st:?}) without a message");
    }
    st
}

fn shared() -> &'static Shared {
    static S: OnceLock<Shared> = OnceLock::new();
    S.get_or_init(|| unsafe {
        let opts = facecore_detector_options_new();
        assert!(!opts.is_null());
        ok(facecore_detector_options_set_input_size(opts, 32), "input size");
        ok(facecore_detector_options_set_score_threshold(opts, 0.0), "threshold");
        let mut det = null_mut();
        ok(facecore_detector_new_from_memory(YUNET.as_ptr(), YUNET.len(), opts, &mut det), "detector");
        facecore_detector_options_free(opts);
        let mut emb = null_mut();
        let st = facecore_embedder_new_from_memory(0, TINY_EMBEDDER.as_ptr(), TINY_EMBEDDER.len(), &mut emb);
        assert_eq!(st, facecore_status::ModelLoad, "a foreign model was accepted");
        let sface = concat!(env!("CARGO_MANIFEST_DIR"), "/../models/sface_2021dec.onnx\0");
        ok(facecore_embedder_new_from_file(0, sface.as_ptr().cast(), &mut emb), "SFace from models/");
        let embs = [emb as *const facecore_embedder];
        let mut rec = null_mut();
        ok(facecore_recognizer_new_from_embedders(embs.as_ptr(), null(), 1, true, &mut rec), "recognizer");
        let mut pipe = null_mut();
        ok(facecore_pipeline_new_from_parts(det, rec, &mut pipe), "pipeline");
        let space = CStr::from_ptr(facecore_recognizer_space(rec)).to_bytes().to_vec();
        Shared { det, emb, rec, pipe, space }
    })
}

/// A NUL-terminated string for the library, or None for NULL. Mostly from a small
/// dictionary (names that match, the known embedding spaces), else arbitrary bytes (not
/// necessarily UTF-8, sometimes longer than the library's limits).
fn cstring(u: &mut Unstructured<'_>, s: &Shared) -> Result<Option<Vec<u8>>> {
    let mut v = match u.int_in_range(0u8..=39)? {
        0 => return Ok(None),
        1 => b"alice".to_vec(),
        2 => b"bob".to_vec(),
        3 => s.space.clone(),
        4 => b"sface-2021dec".to_vec(),
        5 => b"fused(sface-2021dec*0.300+dlib-resnet-v1*0.700)".to_vec(),
        6 => vec![b'x'; if u.arbitrary()? { 1024 } else { 1025 }],
        7 => vec![b'm'; (1 << 20) + usize::from(u.arbitrary::<bool>()?)],
        8..=11 => s.space.clone(),
        12..=15 => b"alice".to_vec(),
        _ => {
            let n = u.int_in_range(0usize..=24)?;
            u.bytes(n)?.iter().copied().filter(|&b| b != 0).collect()
        }
    };
    v.push(0);
    Ok(Some(v))
}

/// A gallery key: NULL, 32 bytes (mostly one fixed key, so that saves and loads pair up) or
/// another length.
fn key(u: &mut Unstructured<'_>) -> Result<Option<Vec<u8>>> {
    Ok(match u.int_in_range(0u8..=7)? {
        0 => None,
        1 => Some(u.bytes(32.min(u.len()))?.to_vec()),
        2 => Some(vec![7u8; u.int_in_range(0..=64)?]),
        _ => Some(vec![7u8; 32]),
    })
}

fn cptr_u8(s: &Option<Vec<u8>>) -> *const u8 {
    s.as_ref().map_or(null(), |v| v.as_ptr())
}

fn cptr(s: &Option<Vec<u8>>) -> *const c_char {
    s.as_ref().map_or(null(), |v| v.as_ptr().cast())
}

/// A small or edge-case count.
fn count(u: &mut Unstructured<'_>, small: usize) -> Result<usize> {
    Ok(match u.int_in_range(0u8..=15)? {
        0 => usize::MAX,
        1 => usize::MAX / 2 + 1,
        2 => u.arbitrary::<u32>()? as usize,
        _ => u.int_in_range(0..=small)?,
    })
}

fn float(u: &mut Unstructured<'_>) -> Result<f32> {
    Ok(match u.int_in_range(0u8..=9)? {
        0 => f32::NAN,
        1 => f32::INFINITY,
        2 => -f32::INFINITY,
        3 => f32::from_bits(u.arbitrary()?),
        _ => u.int_in_range(-1000i32..=1000)? as f32 / 10.0,
    })
}

/// A float array of `n` elements (a real allocation), or None for NULL.
fn floats(u: &mut Unstructured<'_>, n: usize) -> Result<Option<Vec<f32>>> {
    if u.ratio(1u8, 12)? {
        return Ok(None);
    }
    let mut v = Vec::with_capacity(n);
    for _ in 0..n {
        v.push(if u.ratio(1u8, 20)? { float(u)? } else { u.int_in_range(-100i32..=100)? as f32 / 50.0 });
    }
    Ok(Some(v))
}

/// Pixels and a `facecore_image` describing them with fuzzed geometry; `len` is always the
/// real length of the buffer (or 0 with NULL data).
fn image(u: &mut Unstructured<'_>) -> Result<(Vec<u8>, facecore_image)> {
    let format = match u.int_in_range(0u8..=12)? {
        0 => u.arbitrary::<u32>()?,
        n => u32::from(n % 6),
    };
    let bpp = [3usize, 3, 4, 4, 1].get(format as usize).copied().unwrap_or(3);
    let dim = |u: &mut Unstructured<'_>| -> Result<u32> {
        Ok(match u.int_in_range(0u8..=15)? {
            0 => u.arbitrary()?,
            1 => 16_385,
            2 => 0,
            _ => u.int_in_range(1..=72)?,
        })
    };
    let (width, height) = (dim(u)?, dim(u)?);
    let row = width as usize * bpp;
    let stride = match u.int_in_range(0u8..=9)? {
        0 => u.arbitrary::<usize>()?,
        1 => row.saturating_sub(1),
        _ => row + u.int_in_range(0..=7)?,
    };
    let needed = stride.saturating_mul((height as usize).saturating_sub(1)).saturating_add(row);
    let len = match u.int_in_range(0u8..=9)? {
        0 => u.int_in_range(0..=MAX_BUF)?,
        1 => needed.saturating_sub(1).min(MAX_BUF),
        _ => needed.min(MAX_BUF),
    };
    // The pixels: input bytes, repeated (plain copies: a per-byte loop would be instrumented).
    let mut buf = vec![0u8; len];
    let fill = u.bytes(u.len().min(len / 4).min(256))?;
    if !fill.is_empty() {
        buf.chunks_mut(fill.len()).for_each(|c| c.copy_from_slice(&fill[..c.len()]));
    }
    let data = if u.ratio(1u8, 16)? { null() } else { buf.as_ptr() };
    let img = facecore_image { data, len: if data.is_null() { 0 } else { len }, width, height, stride, format };
    Ok((buf, img))
}

/// Whether a detection with this geometry ran before (a bounded memory). YuNet costs as much
/// as hundreds of other calls; what the C ABI adds to detection is the argument handling
/// (geometry, lengths, capacities), so each distinct geometry is run once. The detector's
/// answers on fuzzed pixels are the image_detect target's job.
fn seen(key: impl std::hash::Hash) -> bool {
    use std::hash::Hasher;
    static SEEN: std::sync::Mutex<Option<std::collections::HashSet<u64>>> = std::sync::Mutex::new(None);
    let mut h = std::hash::DefaultHasher::new();
    key.hash(&mut h);
    let mut guard = SEEN.lock().unwrap_or_else(|e| e.into_inner());
    let set = guard.get_or_insert_with(Default::default);
    if set.len() > 1 << 16 {
        set.clear();
    }
    !set.insert(h.finish())
}

fn face(u: &mut Unstructured<'_>) -> Result<facecore_face> {
    let mut f = facecore_face::default();
    let plausible = !u.ratio(1u8, 4)?;
    let v =
        |u: &mut Unstructured<'_>| -> Result<f32> { if plausible { Ok(u.int_in_range(-80i32..=800)? as f32 / 10.0) } else { float(u) } };
    f.x = v(u)?;
    f.y = v(u)?;
    f.width = v(u)?;
    f.height = v(u)?;
    f.score = if plausible { 0.9 } else { float(u)? };
    for l in &mut f.landmarks {
        *l = v(u)?;
    }
    Ok(f)
}

/// Gallery bytes: arbitrary, with the trailing SHA-256 recomputed half of the time.
fn gallery_bytes(u: &mut Unstructured<'_>) -> Result<Vec<u8>> {
    use sha2::{Digest, Sha256};
    let n = u.int_in_range(0usize..=2048)?;
    let mut b = u.bytes(n.min(u.len()))?.to_vec();
    if u.arbitrary()? && b.len() >= 32 {
        let cut = b.len() - 32;
        let sum = Sha256::digest(&b[..cut]);
        b[cut..].copy_from_slice(&sum);
    }
    Ok(b)
}

struct State {
    gallery: *mut facecore_gallery,
    decoded: *mut facecore_decoded_image,
    network_calls: u32,
}

impl Drop for State {
    fn drop(&mut self) {
        // SAFETY: NULL or live handles created by this script.
        unsafe {
            facecore_gallery_free(self.gallery);
            facecore_decoded_image_free(self.decoded);
        }
    }
}

/// One call; returns Ok(()) when the input ran out.
unsafe fn step(u: &mut Unstructured<'_>, s: &Shared, st: &mut State) -> Result<()> {
    let op = u.int_in_range(0u8..=27)?;
    let net_ok = st.network_calls < 1;
    unsafe {
        match op {
            // Detection on a fuzzed buffer.
            0 | 1 if net_ok => {
                st.network_calls += 1;
                let (_buf, img) = image(u)?;
                let cap = count(u, 8)?.min(64);
                let mut faces = vec![facecore_face::default(); cap];
                let faces_ptr = if cap == 0 && u.arbitrary()? { null_mut() } else { faces.as_mut_ptr() };
                let det: *const facecore_detector = if u.ratio(1u8, 16)? { null() } else { s.det };
                if seen((img.len, img.width, img.height, img.stride, img.format, img.data.is_null(), det.is_null(), cap)) {
                    return Ok(());
                }
                let mut n = usize::MAX;
                let r = check(facecore_detect(det, &img, faces_ptr, cap, &mut n), "detect");
                match r {
                    facecore_status::Ok => assert!(n <= cap),
                    facecore_status::BufferTooSmall => assert!(n > cap),
                    _ => {}
                }
            }
            // The whole pipeline (detect + align + embed) on a fuzzed buffer.
            2 if RUN_SFACE && net_ok => {
                st.network_calls += 1;
                let (_buf, img) = image(u)?;
                let cap = count(u, 4)?.min(16);
                let mut faces = vec![facecore_face::default(); cap];
                let emb_len = count(u, 600)?.min(4096);
                let mut embs = vec![0f32; emb_len];
                let mut n = usize::MAX;
                let r =
                    check(facecore_pipeline_analyze(s.pipe, &img, faces.as_mut_ptr(), cap, embs.as_mut_ptr(), emb_len, &mut n), "analyze");
                if r == facecore_status::Ok {
                    assert!(n <= cap && n * 128 <= emb_len);
                }
            }
            // Alignment and embedding of a fuzzed face on a fuzzed buffer.
            3 => {
                let (_buf, img) = image(u)?;
                let f = face(u)?;
                let branch = count(u, 2)?;
                let out_len = count(u, 112 * 112 * 3 + 1)?.min(150 * 150 * 3);
                let mut out = vec![0u8; out_len];
                let mut side = u32::MAX;
                let r = check(facecore_align(s.rec, &img, &f, branch, out.as_mut_ptr(), out_len, &mut side), "align");
                if matches!(r, facecore_status::Ok | facecore_status::BufferTooSmall) {
                    assert_eq!(side, 112);
                    assert_eq!(r == facecore_status::Ok, out_len >= 112 * 112 * 3);
                }
            }
            4 if RUN_SFACE && net_ok => {
                st.network_calls += 1;
                let (_buf, img) = image(u)?;
                let f = face(u)?;
                let out_len = count(u, 130)?.min(1024);
                let mut out = vec![0f32; out_len];
                let r = check(facecore_recognizer_embed(s.rec, &img, &f, out.as_mut_ptr(), out_len), "recognizer_embed");
                if r == facecore_status::Ok {
                    assert!(out_len >= facecore_recognizer_dim(s.rec));
                }
            }
            5 if RUN_SFACE && net_ok => {
                st.network_calls += 1;
                let (_buf, img) = image(u)?;
                let out_len = count(u, 130)?.min(1024);
                let mut out = vec![0f32; out_len];
                check(facecore_embedder_embed_chip(s.emb, &img, out.as_mut_ptr(), out_len), "embed_chip");
            }
            // Decoded images.
            6 => {
                let n = u.int_in_range(0usize..=4096)?;
                let bytes = u.bytes(n.min(u.len()))?.to_vec();
                let data = if u.ratio(1u8, 16)? { null() } else { bytes.as_ptr() };
                let mut h = null_mut();
                if check(facecore_decoded_image_new_from_memory(data, bytes.len(), &mut h), "decode") == facecore_status::Ok {
                    facecore_decoded_image_free(st.decoded);
                    st.decoded = h;
                }
            }
            7 => {
                let mut v = facecore_image { data: null(), len: 0, width: 0, height: 0, stride: 0, format: 9 };
                if check(facecore_decoded_image_view(st.decoded, &mut v), "view") == facecore_status::Ok {
                    assert!(!v.data.is_null() && v.len == v.stride * v.height as usize && v.stride == v.width as usize * 3);
                    // Detect on the decoded pixels (network input at most 32 px).
                    if net_ok && !seen((v.len, v.width, v.height, v.stride)) {
                        st.network_calls += 1;
                        let mut n = 0;
                        check(facecore_detect(s.det, &v, null_mut(), 0, &mut n), "detect decoded");
                    }
                }
            }
            // Galleries.
            8 => {
                let b = gallery_bytes(u)?;
                let data = if u.ratio(1u8, 16)? { null() } else { b.as_ptr() };
                let mut g = null_mut();
                let r = if u.ratio(1u8, 4)? {
                    let key = key(u)?;
                    facecore_gallery_load_encrypted_from_memory(data, b.len(), cptr_u8(&key), key.as_ref().map_or(0, Vec::len), &mut g)
                } else {
                    facecore_gallery_load_from_memory(data, b.len(), &mut g)
                };
                if check(r, "gallery load") == facecore_status::Ok {
                    facecore_gallery_free(st.gallery);
                    st.gallery = g;
                }
            }
            9 => {
                let mut g = null_mut();
                check(facecore_gallery_new(&mut g), "gallery new");
                facecore_gallery_free(st.gallery);
                st.gallery = g;
            }
            10 | 11 => {
                let name = cstring(u, s)?;
                let space = cstring(u, s)?;
                let dim = count(u, 130)?.min(5000);
                let e = floats(u, dim)?;
                let before = facecore_gallery_len(st.gallery);
                let mut id = u64::MAX;
                let id_ptr = if u.ratio(1u8, 4)? { null_mut() } else { &mut id as *mut u64 };
                let r = check(
                    facecore_gallery_enroll(st.gallery, cptr(&name), cptr(&space), e.as_ref().map_or(null(), |v| v.as_ptr()), dim, id_ptr),
                    "enroll",
                );
                let after = facecore_gallery_len(st.gallery);
                assert!(after == before || (r == facecore_status::Ok && after == before + 1));
                if r == facecore_status::Ok && !id_ptr.is_null() {
                    // The id names the person just enrolled.
                    assert_ne!(id, FACECORE_NO_PERSON);
                    let mut size = 0;
                    let r = check(facecore_gallery_person_name(st.gallery, id, null_mut(), 0, &mut size), "name of new id");
                    assert_eq!(r, facecore_status::BufferTooSmall);
                    assert_eq!(Some(size), name.as_ref().map(Vec::len));
                }
            }
            12 => {
                let name = cstring(u, s)?;
                let meta = cstring(u, s)?;
                check(facecore_gallery_set_metadata(st.gallery, cptr(&name), cptr(&meta)), "set_metadata");
            }
            13 => {
                let mut removed = false;
                let before = facecore_gallery_len(st.gallery);
                let r = if u.arbitrary()? {
                    let name = cstring(u, s)?;
                    facecore_gallery_remove(st.gallery, cptr(&name), &mut removed)
                } else {
                    let id = if u.arbitrary()? { u.arbitrary()? } else { u.int_in_range(0..=4)? };
                    facecore_gallery_remove_id(st.gallery, id, &mut removed)
                };
                if check(r, "remove") == facecore_status::Ok {
                    assert_eq!(facecore_gallery_len(st.gallery), before - usize::from(removed));
                }
            }
            14 => {
                // An id from person_at (a live one) or made up, then its name or metadata.
                let index = count(u, 4)?;
                let mut id = if u.arbitrary()? { u.arbitrary()? } else { u.int_in_range(0..=4)? };
                let r = check(facecore_gallery_person_at(st.gallery, index, &mut id), "person_at");
                let live = r == facecore_status::Ok;
                if live {
                    assert!(index < facecore_gallery_len(st.gallery));
                }
                let out_len = count(u, 40)?.min(4096);
                let mut out = vec![0 as c_char; out_len];
                let out_ptr = if out_len == 0 && u.arbitrary()? { null_mut() } else { out.as_mut_ptr() };
                let mut size = usize::MAX;
                let (r, what) = if u.arbitrary()? {
                    (facecore_gallery_person_name(st.gallery, id, out_ptr, out_len, &mut size), "person_name")
                } else {
                    (facecore_gallery_person_metadata(st.gallery, id, out_ptr, out_len, &mut size), "person_metadata")
                };
                let r = check(r, what);
                if live {
                    assert!(matches!(r, facecore_status::Ok | facecore_status::BufferTooSmall), "{what} of a live id: {r:?}");
                }
                if r == facecore_status::Ok {
                    assert!(size >= 1 && size <= out_len && out[size - 1] == 0);
                    assert_eq!(CStr::from_ptr(out.as_ptr()).to_bytes().len(), size - 1);
                    if what == "person_name" {
                        // And back from the name to the id.
                        let mut back = 0u64;
                        ok(facecore_gallery_person_id(st.gallery, out.as_ptr(), &mut back), "person_id");
                        assert_eq!(back, id);
                    }
                } else if r == facecore_status::BufferTooSmall {
                    assert!(size > out_len);
                }
            }
            15 | 16 => {
                let space = cstring(u, s)?;
                let dim = count(u, 130)?.min(5000);
                let probe = floats(u, dim)?;
                let probe_ptr = probe.as_ref().map_or(null(), |v| v.as_ptr());
                if op == 15 {
                    let cap = count(u, 5)?.min(64);
                    let mut m = vec![facecore_match { id: 7, score: 7.0 }; cap];
                    let mut n = usize::MAX;
                    let r = check(facecore_gallery_search(st.gallery, cptr(&space), probe_ptr, dim, m.as_mut_ptr(), cap, &mut n), "search");
                    if r == facecore_status::Ok {
                        let len = facecore_gallery_len(st.gallery);
                        assert!(n <= cap && n <= len);
                        assert!(m[..n].iter().all(|m| m.id != FACECORE_NO_PERSON));
                    }
                } else {
                    let mut best = facecore_match { id: 7, score: 7.0 };
                    let mut known = false;
                    let t = float(u)?;
                    check(facecore_gallery_identify(st.gallery, cptr(&space), probe_ptr, dim, t, &mut best, &mut known), "identify");
                }
            }
            17 => {
                let out_len = count(u, 2048)?.min(1 << 16);
                let mut out = vec![0u8; out_len];
                let out_ptr = if out_len == 0 && u.arbitrary()? { null_mut() } else { out.as_mut_ptr() };
                let mut size = usize::MAX;
                let key = if u.ratio(1u8, 3)? { Some(key(u)?) } else { None };
                let r = match &key {
                    Some(k) => facecore_gallery_save_encrypted_to_memory(
                        st.gallery,
                        cptr_u8(k),
                        k.as_ref().map_or(0, Vec::len),
                        out_ptr,
                        out_len,
                        &mut size,
                    ),
                    None => facecore_gallery_save_to_memory(st.gallery, out_ptr, out_len, &mut size),
                };
                let r = check(r, "save_to_memory");
                if r == facecore_status::Ok {
                    // What was written loads back (with the same key), with the same people.
                    assert!(size <= out_len);
                    let mut g = null_mut();
                    match &key {
                        Some(k) => ok(
                            facecore_gallery_load_encrypted_from_memory(
                                out.as_ptr(),
                                size,
                                cptr_u8(k),
                                k.as_ref().map_or(0, Vec::len),
                                &mut g,
                            ),
                            "reload encrypted",
                        ),
                        None => ok(facecore_gallery_load_from_memory(out.as_ptr(), size, &mut g), "reload"),
                    }
                    assert_eq!(facecore_gallery_len(g), facecore_gallery_len(st.gallery));
                    facecore_gallery_free(g);
                } else if r == facecore_status::BufferTooSmall {
                    assert!(size > out_len);
                }
            }
            // Embedding arithmetic and thresholds.
            18 => {
                let dim = count(u, 130)?.min(5000);
                let (a, b) = (floats(u, dim)?, floats(u, dim)?);
                let mut out = f32::NAN;
                let r = check(
                    facecore_similarity(
                        a.as_ref().map_or(null(), |v| v.as_ptr()),
                        b.as_ref().map_or(null(), |v| v.as_ptr()),
                        dim,
                        &mut out,
                    ),
                    "similarity",
                );
                if r == facecore_status::Ok {
                    assert!(out.is_finite());
                }
            }
            19 => {
                let space = cstring(u, s)?;
                let op = if u.arbitrary()? { u.arbitrary()? } else { u.int_in_range(0..=3)? };
                let dim = count(u, 130)?.min(5000);
                let (a, b) = (floats(u, dim)?, floats(u, dim)?);
                let mut t = f32::NAN;
                check(facecore_threshold(cptr(&space), op, &mut t), "threshold");
                let (mut sim, mut same) = (f32::NAN, false);
                check(
                    facecore_verify(
                        cptr(&space),
                        a.as_ref().map_or(null(), |v| v.as_ptr()),
                        b.as_ref().map_or(null(), |v| v.as_ptr()),
                        dim,
                        op,
                        &mut sim,
                        &mut same,
                    ),
                    "verify",
                );
            }
            // Detector options, and loading models from (small) memory buffers.
            20 => {
                let o = facecore_detector_options_new();
                assert!(!o.is_null());
                for _ in 0..u.int_in_range(0..=4)? {
                    let r = match u.int_in_range(0u8..=4)? {
                        0 => facecore_detector_options_set_score_threshold(o, float(u)?),
                        1 => facecore_detector_options_set_nms_iou(o, float(u)?),
                        2 => facecore_detector_options_set_min_face_size(o, float(u)?),
                        3 => facecore_detector_options_set_max_faces(o, count(u, 300)?),
                        _ => facecore_detector_options_set_input_size(
                            o,
                            if u.arbitrary()? { u.arbitrary()? } else { u.int_in_range(0..=5000)? },
                        ),
                    };
                    check(r, "options");
                }
                // A garbage model through the options (a NULL model is refused first).
                let n = u.int_in_range(0usize..=64)?;
                let bytes = u.bytes(n.min(u.len()))?.to_vec();
                let data = if u.arbitrary()? { null() } else { bytes.as_ptr() };
                let mut d = null_mut();
                if check(facecore_detector_new_from_memory(data, bytes.len(), o, &mut d), "detector from memory") == facecore_status::Ok {
                    facecore_detector_free(d);
                }
                facecore_detector_options_free(o);
            }
            21 => {
                let n = u.int_in_range(0usize..=64)?;
                let bytes = u.bytes(n.min(u.len()))?.to_vec();
                let model = if u.arbitrary()? { u.arbitrary()? } else { u.int_in_range(0..=2)? };
                let data = if u.arbitrary()? { null() } else { bytes.as_ptr() };
                let mut e = null_mut();
                if check(facecore_embedder_new_from_memory(model, data, bytes.len(), &mut e), "embedder from memory") == facecore_status::Ok
                {
                    facecore_embedder_free(e);
                }
            }
            22 => {
                let count_files = u.int_in_range(0usize..=5)?;
                let mut names = Vec::new();
                let mut datas = Vec::new();
                for _ in 0..count_files {
                    let name = if u.arbitrary()? {
                        let i = u.int_in_range(0..=4)?;
                        let p = facecore_model_file_name(i);
                        (!p.is_null()).then(|| CStr::from_ptr(p).to_bytes_with_nul().to_vec())
                    } else {
                        cstring(u, s)?
                    };
                    let n = u.int_in_range(0usize..=32)?;
                    names.push(name);
                    datas.push(u.bytes(n.min(u.len()))?.to_vec());
                }
                let bufs: Vec<facecore_model_buffer> = names
                    .iter()
                    .zip(&datas)
                    .map(|(n, d)| facecore_model_buffer { file_name: cptr(n), data: d.as_ptr(), len: d.len() })
                    .collect();
                let mut m = null_mut();
                let files = if bufs.is_empty() && u.arbitrary()? { null() } else { bufs.as_ptr() };
                if check(facecore_models_new_from_memory(files, bufs.len(), &mut m), "models from memory") == facecore_status::Ok {
                    assert!(bufs.is_empty(), "foreign model bytes accepted");
                    facecore_models_free(m);
                }
            }
            23 => {
                let i = count(u, 6)?;
                let p = facecore_model_file_name(i);
                let n = facecore_model_file_count();
                assert_eq!(p.is_null(), i >= n, "model file name {i} of {n}");
                let v = CStr::from_ptr(facecore_version());
                assert!(!v.to_bytes().is_empty());
            }
            // NULL everywhere a handle goes.
            24 => {
                facecore_gallery_free(null_mut());
                facecore_decoded_image_free(null_mut());
                facecore_detector_free(null_mut());
                facecore_detector_options_free(null_mut());
                facecore_embedder_free(null_mut());
                facecore_recognizer_free(null_mut());
                facecore_pipeline_free(null_mut());
                facecore_models_free(null_mut());
                assert_eq!(facecore_gallery_len(null()), 0);
                assert_eq!(facecore_pipeline_dim(null()), 0);
                assert_eq!(facecore_recognizer_dim(null()), 0);
                assert_eq!(facecore_pipeline_threads(null()), 0);
                assert!(facecore_pipeline_space(null()).is_null());
                assert!(facecore_recognizer_space(null()).is_null());
                let mut n = 0usize;
                check(facecore_detect(null(), null(), null_mut(), 0, &mut n), "detect NULL");
                check(facecore_gallery_new(null_mut()), "gallery_new NULL");
                check(facecore_gallery_search(null(), null(), null(), 0, null_mut(), 0, null_mut()), "search NULL");
                check(facecore_similarity(null(), null(), 0, null_mut()), "similarity NULL");
            }
            25 => {
                let threads = count(u, 8)?;
                let mut p = null_mut();
                if check(facecore_pipeline_with_threads(s.pipe, threads, &mut p), "with_threads") == facecore_status::Ok {
                    let t = facecore_pipeline_threads(p);
                    assert!(t >= 1);
                    facecore_pipeline_free(p);
                }
            }
            26 => {
                let cnt = u.int_in_range(0usize..=3)?;
                let embs: Vec<*const facecore_embedder> = (0..cnt).map(|_| s.emb as *const _).collect();
                let w = floats(u, cnt)?;
                let mut r = null_mut();
                let flip = u.arbitrary()?;
                let ptr = if cnt == 0 && u.arbitrary()? { null() } else { embs.as_ptr() };
                if check(
                    facecore_recognizer_new_from_embedders(ptr, w.as_ref().map_or(null(), |v| v.as_ptr()), cnt, flip, &mut r),
                    "recognizer",
                ) == facecore_status::Ok
                {
                    assert_eq!(facecore_recognizer_dim(r), 128 * cnt);
                    facecore_recognizer_free(r);
                }
            }
            _ => {
                // A call that runs a network, over budget: skip its arguments' bytes.
                u.bytes(1.min(u.len()))?;
            }
        }
    }
    Ok(())
}

fuzz_target!(init: { shared(); }, |data: &[u8]| {
    let s = shared();
    let mut u = Unstructured::new(data);
    let mut st = State { gallery: null_mut(), decoded: null_mut(), network_calls: 0 };
    for _ in 0..24 {
        if u.is_empty() {
            break;
        }
        // SAFETY: every pointer passed is NULL or a live allocation of the size given.
        if unsafe { step(&mut u, s, &mut st) }.is_err() {
            break;
        }
    }
});
