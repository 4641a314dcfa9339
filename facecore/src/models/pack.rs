//! Decoder of the compact forms the model crates store (see `tools/build_model_crates.py`,
//! which writes them and documents the layout).
//!
//! `fcmp` ("facecore model pack") holds an ONNX file with its block-quantised weight tensors
//! in their published int8 form. Decoding redoes the float arithmetic of
//! `tools/sface_fold_dequant.py` operation for operation, so the output is the fp32 file
//! byte for byte (the caller then checks its SHA-256 against the manifest).

use crate::error::{Error, Result};

/// Largest output an fcmp header may announce: the largest model facecore knows is 39 MB.
const MAX_OUTPUT: u64 = 256 << 20;

struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if n > self.buf.len() {
            return None;
        }
        let (head, rest) = self.buf.split_at(n);
        self.buf = rest;
        Some(head)
    }
    fn u8(&mut self) -> Option<u8> {
        self.take(1).map(|b| b[0])
    }
    fn u32(&mut self) -> Option<u32> {
        self.take(4).and_then(|b| b.try_into().ok()).map(u32::from_le_bytes)
    }
    fn u64(&mut self) -> Option<u64> {
        self.take(8).and_then(|b| b.try_into().ok()).map(u64::from_le_bytes)
    }
}

fn bad(model: &str, what: &str) -> Error {
    Error::ModelLoad { model: model.into(), detail: format!("damaged model pack: {what}") }
}

/// Decodes an fcmp pack into the file it stands for.
///
/// # Errors
/// [`Error::ModelLoad`] for a truncated or inconsistent pack (never panics, never allocates
/// more than the announced output, itself capped).
pub fn decode_fcmp(model: &str, pack: &[u8]) -> Result<Vec<u8>> {
    let mut r = Reader { buf: pack };
    if r.take(4) != Some(b"FCMP".as_slice()) {
        return Err(bad(model, "no FCMP magic"));
    }
    if r.u32() != Some(1) {
        return Err(bad(model, "unknown version"));
    }
    let out_len = r.u64().ok_or_else(|| bad(model, "truncated header"))?;
    if out_len > MAX_OUTPUT {
        return Err(bad(model, "announced size too large"));
    }
    let segments = r.u32().ok_or_else(|| bad(model, "truncated header"))?;
    let mut out = Vec::with_capacity(out_len as usize);
    for _ in 0..segments {
        match r.u8() {
            Some(0) => {
                let n = r.u64().ok_or_else(|| bad(model, "truncated segment"))?;
                let bytes = usize::try_from(n).ok().and_then(|n| r.take(n)).ok_or_else(|| bad(model, "truncated bytes"))?;
                out.extend_from_slice(bytes);
            }
            Some(1) => block_tensor(model, &mut r, &mut out)?,
            _ => return Err(bad(model, "unknown segment kind")),
        }
        if out.len() as u64 > out_len {
            return Err(bad(model, "output longer than announced"));
        }
    }
    if !r.buf.is_empty() || out.len() as u64 != out_len {
        return Err(bad(model, "length mismatch"));
    }
    Ok(out)
}

/// One block-quantised tensor: element i is `f32((q - zp) * s)` with its block's scale and
/// zero point, times `multiplier[i / (numel / m)]` in f64 when there are multipliers.
fn block_tensor(model: &str, r: &mut Reader<'_>, out: &mut Vec<u8>) -> Result<()> {
    let trunc = || bad(model, "truncated tensor");
    let qtype = r.u8().ok_or_else(trunc)?;
    let ndim = r.u8().ok_or_else(trunc)? as usize;
    if !(1..=8).contains(&ndim) || qtype > 1 {
        return Err(bad(model, "bad tensor header"));
    }
    let mut dims = [0usize; 8];
    for d in dims.iter_mut().take(ndim) {
        *d = r.u32().ok_or_else(trunc)? as usize;
    }
    let dims = &dims[..ndim];
    let axis = r.u8().ok_or_else(trunc)? as usize;
    let block = r.u32().ok_or_else(trunc)? as usize;
    let m = r.u32().ok_or_else(trunc)? as usize;
    let numel = dims.iter().try_fold(1usize, |a, &d| a.checked_mul(d)).ok_or_else(|| bad(model, "tensor too large"))?;
    if axis >= ndim || block == 0 || numel == 0 || (numel as u64).saturating_mul(4) > MAX_OUTPUT || (m > 0 && numel % m != 0) {
        return Err(bad(model, "bad tensor header"));
    }
    let along = dims[axis];
    let blocks = along.div_ceil(block);
    let inner: usize = dims[axis + 1..].iter().product();
    let outer = numel / (along * inner);
    let nscale = outer * blocks * inner;
    let q = r.take(numel).ok_or_else(trunc)?;
    let zp = r.take(nscale).ok_or_else(trunc)?;
    let scales = r.take(4 * nscale).ok_or_else(trunc)?;
    let mults = r.take(8 * m).ok_or_else(trunc)?;
    let int = |b: u8| if qtype == 0 { b as i8 as f32 } else { b as f32 };
    let scale = |i: usize| f32::from_le_bytes([scales[4 * i], scales[4 * i + 1], scales[4 * i + 2], scales[4 * i + 3]]);
    let per_mult = numel.checked_div(m).unwrap_or(usize::MAX);
    out.reserve(4 * numel);
    let mut i = 0usize;
    for o in 0..outer {
        for a in 0..along {
            let row = (o * blocks + a / block) * inner;
            for k in 0..inner {
                let s = row + k;
                let mut v = (int(q[i]) - int(zp[s])) * scale(s);
                if m > 0 {
                    let j = 8 * (i / per_mult);
                    let mut b = [0u8; 8];
                    b.copy_from_slice(&mults[j..j + 8]);
                    v = (f64::from(v) * f64::from_le_bytes(b)) as f32;
                }
                out.extend_from_slice(&v.to_le_bytes());
                i += 1;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn header(out_len: u64, segments: u32) -> Vec<u8> {
        let mut p = b"FCMP".to_vec();
        p.extend(1u32.to_le_bytes());
        p.extend(out_len.to_le_bytes());
        p.extend(segments.to_le_bytes());
        p
    }

    /// A 2x3 int8 tensor, blocks of 2 along axis 1, two multipliers, between two byte runs:
    /// the values are worked out by hand.
    fn sample() -> (Vec<u8>, Vec<u8>) {
        let mut p = header(2 + 24 + 1, 3);
        p.extend([0u8, 2, 0, 0, 0, 0, 0, 0, 0, b'a', b'b']);
        p.extend([1u8, 0, 2]);
        p.extend(2u32.to_le_bytes());
        p.extend(3u32.to_le_bytes());
        p.push(1);
        p.extend(2u32.to_le_bytes());
        p.extend(2u32.to_le_bytes());
        p.extend([1u8, 2, 3, 0xff, 0xfe, 0x00]); // q: [[1, 2, 3], [-1, -2, 0]]
        p.extend([1u8, 0, 0, 0xff]); // zp: [[1, 0], [0, -1]]
        for s in [0.5f32, 2.0, 1.0, 0.25] {
            p.extend(s.to_le_bytes());
        }
        for m in [1.0f64, -2.0] {
            p.extend(m.to_le_bytes());
        }
        p.extend([0u8, 1, 0, 0, 0, 0, 0, 0, 0, b'z']);
        let mut want = b"ab".to_vec();
        for v in [0.0f32, 0.5, 6.0, 2.0, 4.0, -0.5] {
            want.extend(v.to_le_bytes());
        }
        want.push(b'z');
        (p, want)
    }

    #[test]
    fn decodes_a_hand_made_pack() {
        let (p, want) = sample();
        assert_eq!(decode_fcmp("t", &p).unwrap(), want);
    }

    #[test]
    fn every_truncation_and_byte_flip_is_an_error_or_a_value_never_a_panic() {
        let (p, _) = sample();
        for cut in 0..p.len() {
            assert!(decode_fcmp("t", &p[..cut]).is_err(), "prefix {cut} decoded");
        }
        for i in 0..p.len() {
            for bit in 0..8 {
                let mut d = p.clone();
                d[i] ^= 1 << bit;
                let _ = decode_fcmp("t", &d);
            }
        }
        let mut huge = header(u64::MAX, 0);
        huge.push(0);
        assert!(decode_fcmp("t", &huge).unwrap_err().to_string().contains("too large"));
    }
}
