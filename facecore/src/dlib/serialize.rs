//! A bounds-checked reader for dlib's portable serialisation format (`dlib/serialize.h`).
//!
//! * Integers are written as a control byte followed by 1..=8 little-endian magnitude
//!   bytes. The control byte holds the byte count in its low nibble and, for signed types,
//!   the sign in bit 7.
//! * Floating point values are a `float_details`: an `int64` mantissa and an `int16`
//!   exponent (value = mantissa * 2^exponent; exponents 32000/32001/32002 mean +inf, -inf
//!   and NaN).
//! * `std::vector<T>` is an `unsigned long` length then the elements; `dlib::matrix` is two
//!   `long`s (rows, columns; both negated in the current format) then the elements in
//!   row-major order; `dlib::vector<T,2>` is `x` then `y`.
//!
//! Every read checks the remaining input: a truncated or garbage file gives a
//! [`DlibError`], never a panic, and container lengths are checked against the bytes left
//! so that a corrupt length cannot trigger a huge allocation.

use super::DlibError;

/// A cursor over a serialised dlib object.
#[derive(Debug, Clone)]
pub(crate) struct Reader<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    /// A reader at the start of `data`.
    pub(crate) fn new(data: &'a [u8]) -> Self {
        Reader { data, pos: 0 }
    }

    /// Bytes not yet consumed.
    pub(crate) fn remaining(&self) -> usize {
        self.data.len().saturating_sub(self.pos)
    }

    fn byte(&mut self) -> Result<u8, DlibError> {
        let b = *self.data.get(self.pos).ok_or(DlibError::Truncated { offset: self.pos })?;
        self.pos += 1;
        Ok(b)
    }

    fn peek(&self) -> Result<u8, DlibError> {
        self.data.get(self.pos).copied().ok_or(DlibError::Truncated { offset: self.pos })
    }

    fn malformed(&self, offset: usize, what: impl Into<String>) -> DlibError {
        DlibError::Malformed { offset, what: what.into() }
    }

    /// Reads `size` little-endian magnitude bytes.
    fn magnitude(&mut self, size: u8) -> Result<u64, DlibError> {
        let start = self.pos;
        let end = start.checked_add(usize::from(size)).ok_or(DlibError::Truncated { offset: start })?;
        let bytes = self.data.get(start..end).ok_or(DlibError::Truncated { offset: self.data.len() })?;
        self.pos = end;
        Ok(bytes.iter().rev().fold(0u64, |acc, &b| (acc << 8) | u64::from(b)))
    }

    /// An unsigned integer of a type `type_bytes` wide (`unpack_int`, unsigned overload).
    pub(crate) fn unsigned(&mut self, type_bytes: u8, what: &str) -> Result<u64, DlibError> {
        let at = self.pos;
        let size = self.byte()? & 0x8F;
        if size == 0 || size > type_bytes {
            return Err(self.malformed(at, format!("bad integer control byte for {what}")));
        }
        self.magnitude(size)
    }

    /// A signed integer of a type `type_bytes` wide (`unpack_int`, signed overload).
    pub(crate) fn signed(&mut self, type_bytes: u8, what: &str) -> Result<i64, DlibError> {
        let at = self.pos;
        let ctrl = self.byte()?;
        let negative = ctrl & 0x80 != 0;
        let size = ctrl & 0x0F;
        if size == 0 || size > type_bytes {
            return Err(self.malformed(at, format!("bad integer control byte for {what}")));
        }
        let mag = self.magnitude(size)?;
        // dlib accumulates into the target type (wrapping), then negates.
        let v = mag as i64;
        Ok(if negative { v.wrapping_neg() } else { v })
    }

    /// A C++ `int` (4 bytes).
    pub(crate) fn int(&mut self, what: &str) -> Result<i32, DlibError> {
        Ok(self.signed(4, what)? as i32)
    }

    /// A C++ `long` (8 bytes on the LP64 platforms the models are written on).
    pub(crate) fn long(&mut self, what: &str) -> Result<i64, DlibError> {
        self.signed(8, what)
    }

    /// A C++ `unsigned long` (8 bytes).
    pub(crate) fn ulong(&mut self, what: &str) -> Result<u64, DlibError> {
        self.unsigned(8, what)
    }

    /// A `float` stored as `float_details`.
    pub(crate) fn f32(&mut self, what: &str) -> Result<f32, DlibError> {
        let at = self.pos;
        if self.peek()? & 0x70 != 0 {
            return Err(self.malformed(at, format!("{what}: old ASCII floating point format is not supported")));
        }
        let mantissa = self.signed(8, what)?;
        let exponent = self.signed(2, what)? as i16;
        Ok(float_details_to_f32(mantissa, exponent))
    }

    /// A container length, checked against the remaining input (every element takes at
    /// least `min_elem_bytes` bytes), so that corrupt lengths cannot allocate much.
    pub(crate) fn read_len(&mut self, min_elem_bytes: usize, what: &str) -> Result<usize, DlibError> {
        let at = self.pos;
        let n = self.ulong(what)?;
        let need = usize::try_from(n).ok().and_then(|n| n.checked_mul(min_elem_bytes.max(1)));
        match need {
            Some(need) if need <= self.remaining() => Ok(n as usize),
            _ => Err(DlibError::Malformed { offset: at, what: format!("{what}: length {n} exceeds the {} bytes left", self.remaining()) }),
        }
    }

    /// A `std::vector<T>` whose elements are read by `elem`.
    pub(crate) fn vec<T>(
        &mut self,
        min_elem_bytes: usize,
        what: &str,
        mut elem: impl FnMut(&mut Self) -> Result<T, DlibError>,
    ) -> Result<Vec<T>, DlibError> {
        let n = self.read_len(min_elem_bytes, what)?;
        let mut out = Vec::with_capacity(n);
        for _ in 0..n {
            out.push(elem(self)?);
        }
        Ok(out)
    }

    /// A `dlib::matrix<float,0,1>` (column vector); returns its elements.
    pub(crate) fn f32_column(&mut self, what: &str) -> Result<Vec<f32>, DlibError> {
        let mut out = Vec::new();
        self.f32_column_into(what, &mut out)?;
        Ok(out)
    }

    /// A `dlib::matrix<float,0,1>` (column vector) whose elements are appended to `out`;
    /// returns how many there were. Lets large models fill one flat array without a
    /// temporary vector per column.
    pub(crate) fn f32_column_into(&mut self, what: &str, out: &mut Vec<f32>) -> Result<usize, DlibError> {
        let at = self.pos;
        let mut nr = self.long(what)?;
        let mut nc = self.long(what)?;
        if nr < 0 || nc < 0 {
            nr = nr.wrapping_neg();
            nc = nc.wrapping_neg();
        }
        if nc != 1 || nr < 0 {
            return Err(self.malformed(at, format!("{what}: expected a column vector, found {nr} x {nc}")));
        }
        // Each float takes at least 4 bytes (two integers of >= 2 bytes each).
        let n = usize::try_from(nr).unwrap_or(usize::MAX);
        if n.saturating_mul(4) > self.remaining() {
            return Err(self.malformed(at, format!("{what}: {n} elements exceed the {} bytes left", self.remaining())));
        }
        out.reserve(n);
        for _ in 0..n {
            out.push(self.f32(what)?);
        }
        Ok(n)
    }
}

/// `float_details` -> `float`: `ldexp((float)mantissa, exponent)`, with dlib's special
/// exponents for infinities and NaN.
pub(crate) fn float_details_to_f32(mantissa: i64, exponent: i16) -> f32 {
    const IS_INF: i16 = 32000;
    const IS_NINF: i16 = 32001;
    if exponent < IS_INF {
        ldexp_f32(mantissa as f32, i32::from(exponent))
    } else if exponent == IS_INF {
        f32::INFINITY
    } else if exponent == IS_NINF {
        f32::NEG_INFINITY
    } else {
        f32::NAN
    }
}

/// `ldexpf(x, e)` with a single rounding, for `x` an integer-valued `f32` (|x| < 2^64).
fn ldexp_f32(x: f32, e: i32) -> f32 {
    if x == 0.0 || !x.is_finite() {
        return x;
    }
    if e > 300 {
        return if x > 0.0 { f32::INFINITY } else { f32::NEG_INFINITY };
    }
    if e < -400 {
        return if x > 0.0 { 0.0 } else { -0.0 };
    }
    // x * 2^e is exact in f64 for these ranges; the cast then rounds once, like ldexpf.
    // 2^e built from its bits (e + 1023 is in 623..=1323, a normal exponent).
    let scale = f64::from_bits(((e + 1023) as u64) << 52);
    (f64::from(x) * scale) as f32
}

/// dlib's serialisation, written: for the synthetic models of the unit tests.
#[cfg(test)]
pub(crate) mod test_pack {
    /// dlib's `pack_int` (a length byte with the sign in its top bit, then little-endian
    /// magnitude bytes); unsigned values encode the same way with the sign bit clear.
    pub(crate) fn pack_int(v: i64, out: &mut Vec<u8>) {
        let mut m = v.unsigned_abs();
        let mut bytes = Vec::new();
        loop {
            bytes.push((m & 0xFF) as u8);
            m >>= 8;
            if m == 0 {
                break;
            }
        }
        out.push(bytes.len() as u8 | if v < 0 { 0x80 } else { 0 });
        out.extend(bytes);
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::test_pack::pack_int as pack_signed;
    use super::*;

    /// dlib's float_details conversion from a float.
    fn pack_f32(v: f32, out: &mut Vec<u8>) {
        if v == 0.0 {
            pack_signed(0, out);
            pack_signed(0, out);
            return;
        }
        let bits = v.to_bits();
        let exp = ((bits >> 23) & 0xFF) as i32;
        let frac = (bits & 0x7F_FFFF) as i64;
        let (mut man, mut e) = if exp == 0 { (frac, -149) } else { (frac | 0x80_0000, exp - 150) };
        if v < 0.0 {
            man = -man;
        }
        while man & 0xFF == 0 {
            man >>= 8;
            e += 8;
        }
        pack_signed(man, out);
        pack_signed(i64::from(e), out);
    }

    #[test]
    fn integers_roundtrip() {
        for v in [0i64, 1, -1, 255, 256, -300, 1 << 40, i64::MAX, -i64::MAX] {
            let mut b = Vec::new();
            pack_signed(v, &mut b);
            assert_eq!(Reader::new(&b).long("x").unwrap(), v);
        }
        // unsigned: 500 = 0x01F4
        assert_eq!(Reader::new(&[2, 0xF4, 0x01]).ulong("x").unwrap(), 500);
    }

    #[test]
    fn floats_roundtrip() {
        for v in [0.0f32, 1.0, -1.5, 0.1, 3.4e38, 1e-40, -7.25e-3, 123456.78] {
            let mut b = Vec::new();
            pack_f32(v, &mut b);
            assert_eq!(Reader::new(&b).f32("x").unwrap().to_bits(), v.to_bits(), "{v}");
        }
        // The first float of the 5-point model: mantissa 0xc6b86e, exponent -24.
        let b = [3, 0x6e, 0xb8, 0xc6, 0x81, 0x18];
        let v = Reader::new(&b).f32("x").unwrap();
        assert_eq!(v, 0xc6b86e as f32 / 16_777_216.0);
        assert_eq!(float_details_to_f32(5, 32000), f32::INFINITY);
        assert_eq!(float_details_to_f32(5, 32001), f32::NEG_INFINITY);
        assert!(float_details_to_f32(5, 32002).is_nan());
    }

    #[test]
    fn truncation_and_garbage_are_errors() {
        assert!(matches!(Reader::new(&[]).int("v"), Err(DlibError::Truncated { offset: 0 })));
        assert!(matches!(Reader::new(&[3, 1]).int("v"), Err(DlibError::Truncated { .. })));
        assert!(matches!(Reader::new(&[0]).int("v"), Err(DlibError::Malformed { .. })));
        assert!(matches!(Reader::new(&[9, 0, 0, 0, 0, 0, 0, 0, 0, 0]).ulong("v"), Err(DlibError::Malformed { .. })));
        // A huge vector length is rejected before allocating.
        let huge = [8u8, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F];
        assert!(matches!(Reader::new(&huge).vec(1, "v", |r| r.int("e")), Err(DlibError::Malformed { .. })));
        // ASCII floats are refused.
        assert!(Reader::new(b"1.5 ").f32("v").is_err());
    }

    #[test]
    fn column_matrix() {
        let mut b = Vec::new();
        pack_signed(-3, &mut b);
        pack_signed(-1, &mut b);
        for v in [1.0f32, -2.0, 0.5] {
            pack_f32(v, &mut b);
        }
        assert_eq!(Reader::new(&b).f32_column("m").unwrap(), vec![1.0, -2.0, 0.5]);
        // wrong shape
        let mut b = Vec::new();
        pack_signed(-3, &mut b);
        pack_signed(-2, &mut b);
        assert!(Reader::new(&b).f32_column("m").is_err());
    }
}
