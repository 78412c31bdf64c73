//! Matrices, their file formats and deterministic generation.
//!
//! Two file formats are accepted (both row-major, little-endian):
//! - `.npy` (numpy, C order, 2-D, int8/int16/int32/int64), so people can bring numpy data;
//! - `.vfm`, veriflop's own: the 4 bytes `VFM1`, one byte element code
//!   (1 int8, 2 int16, 3 int32, 4 int64, 5 int128), three zero bytes, rows and cols as
//!   u32, then rows·cols entries. Nothing else; the file size must match exactly.

use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::Path;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha20Rng;

use crate::shape::{Dtype, MAX_DIM};
use crate::Error;

/// A dense row-major matrix.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Matrix<T> {
    pub rows: usize,
    pub cols: usize,
    pub data: Vec<T>,
}

/// Input matrices (A, B): entries fit the job's dtype, held as i32.
pub type InputMatrix = Matrix<i32>;
/// The exact integer product C.
pub type OutputMatrix = Matrix<i128>;

impl<T: Copy> Matrix<T> {
    pub fn new(rows: usize, cols: usize, data: Vec<T>) -> Result<Self, Error> {
        if rows == 0 || cols == 0 || rows > MAX_DIM as usize || cols > MAX_DIM as usize {
            return Err(Error::Shape(format!("matrix {rows}×{cols} is outside 1..={MAX_DIM} per side")));
        }
        if data.len() != rows * cols {
            return Err(Error::Shape(format!(
                "matrix {rows}×{cols} needs {} entries, got {}",
                rows * cols,
                data.len()
            )));
        }
        Ok(Matrix { rows, cols, data })
    }

    pub fn get(&self, r: usize, c: usize) -> T {
        self.data[r * self.cols + c]
    }

    pub fn row(&self, r: usize) -> &[T] {
        &self.data[r * self.cols..(r + 1) * self.cols]
    }
}

impl InputMatrix {
    /// Uniformly random entries over the full range of `dtype`, from a seed (reproducible).
    pub fn random(rows: usize, cols: usize, dtype: Dtype, seed: u64) -> Result<Self, Error> {
        let mut rng = ChaCha20Rng::seed_from_u64(seed);
        let (lo, hi) = (dtype.min() as i32, dtype.max() as i32);
        let data = (0..rows * cols).map(|_| rng.gen_range(lo..=hi)).collect();
        Matrix::new(rows, cols, data)
    }

    /// Checks every entry lies in the range of `dtype`.
    pub fn check_dtype(&self, dtype: Dtype) -> Result<(), Error> {
        match self.data.iter().position(|&v| (v as i64) < dtype.min() || (v as i64) > dtype.max()) {
            None => Ok(()),
            Some(i) => Err(Error::Range(format!(
                "entry ({}, {}) = {} does not fit {dtype}",
                i / self.cols,
                i % self.cols,
                self.data[i]
            ))),
        }
    }

    /// Narrowest dtype holding every entry.
    pub fn min_dtype(&self) -> Dtype {
        Dtype::ALL.into_iter().find(|d| self.check_dtype(*d).is_ok()).unwrap_or(Dtype::Int32)
    }
}

/// Element codes of the `.vfm` format.
const CODES: [(u8, usize); 5] = [(1, 1), (2, 2), (3, 4), (4, 8), (5, 16)];
const MAGIC: &[u8; 4] = b"VFM1";

fn is_npy(path: &Path) -> bool {
    path.extension().is_some_and(|e| e.eq_ignore_ascii_case("npy"))
}

fn open(path: &Path) -> Result<(File, u64), Error> {
    let f = File::open(path).map_err(|e| Error::Io(format!("cannot open {}: {e}", path.display())))?;
    let len = f.metadata().map_err(|e| Error::Io(format!("{}: {e}", path.display())))?.len();
    // Header plus the largest matrix we accept (4096² int128 entries).
    let max = 1024 + (MAX_DIM as u64).pow(2) * 16;
    if len > max {
        return Err(Error::Format(format!("{} is {len} bytes, larger than any accepted matrix", path.display())));
    }
    Ok((f, len))
}

/// Reads a matrix of integers (`.npy` or `.vfm`, chosen by extension).
pub fn read_matrix(path: &Path) -> Result<Matrix<i128>, Error> {
    let (f, len) = open(path)?;
    let what = |e: &dyn std::fmt::Display| Error::Format(format!("{}: {e}", path.display()));
    if is_npy(path) {
        let npy = npyz::NpyFile::new(BufReader::new(f)).map_err(|e| what(&e))?;
        let shape = npy.shape().to_vec();
        if shape.len() != 2 {
            return Err(what(&format!("expected a 2-D array, found shape {shape:?}")));
        }
        if npy.order() != npyz::Order::C {
            return Err(what(&"Fortran-order arrays are not supported; save with np.ascontiguousarray"));
        }
        let (rows, cols) = (shape[0] as usize, shape[1] as usize);
        if rows as u64 > MAX_DIM as u64 || cols as u64 > MAX_DIM as u64 {
            return Err(Error::Shape(format!("{}: {rows}×{cols} exceeds {MAX_DIM} per side", path.display())));
        }
        let descr = npy.dtype().descr();
        let data: Vec<i128> = match descr.trim_matches('\'').trim_start_matches(['<', '|', '=']) {
            "i1" => npy.into_vec::<i8>().map_err(|e| what(&e))?.into_iter().map(i128::from).collect(),
            "i2" => npy.into_vec::<i16>().map_err(|e| what(&e))?.into_iter().map(i128::from).collect(),
            "i4" => npy.into_vec::<i32>().map_err(|e| what(&e))?.into_iter().map(i128::from).collect(),
            "i8" => npy.into_vec::<i64>().map_err(|e| what(&e))?.into_iter().map(i128::from).collect(),
            other => return Err(what(&format!("unsupported dtype {other:?} (use int8, int16, int32 or int64)"))),
        };
        return Matrix::new(rows, cols, data);
    }
    let mut r = BufReader::new(f);
    let mut header = [0u8; 16];
    r.read_exact(&mut header).map_err(|_| what(&"truncated header"))?;
    if &header[0..4] != MAGIC || header[5..8] != [0, 0, 0] {
        return Err(what(&"not a veriflop matrix file (bad magic)"));
    }
    let width = CODES
        .iter()
        .find(|(c, _)| *c == header[4])
        .map(|(_, w)| *w)
        .ok_or_else(|| what(&format!("unknown element code {}", header[4])))?;
    let rows = u32::from_le_bytes(header[8..12].try_into().unwrap()) as usize;
    let cols = u32::from_le_bytes(header[12..16].try_into().unwrap()) as usize;
    if rows == 0 || cols == 0 || rows > MAX_DIM as usize || cols > MAX_DIM as usize {
        return Err(Error::Shape(format!("{}: {rows}×{cols} is outside 1..={MAX_DIM} per side", path.display())));
    }
    if len != 16 + (rows * cols * width) as u64 {
        return Err(what(&format!("size {len} does not match a {rows}×{cols} matrix of {width}-byte entries")));
    }
    let mut bytes = vec![0u8; rows * cols * width];
    r.read_exact(&mut bytes).map_err(|e| what(&e))?;
    let data = bytes
        .chunks_exact(width)
        .map(|c| {
            let mut buf = [0u8; 16];
            buf[..width].copy_from_slice(c);
            if c[width - 1] & 0x80 != 0 {
                buf[width..].fill(0xff); // sign-extend
            }
            i128::from_le_bytes(buf)
        })
        .collect();
    Matrix::new(rows, cols, data)
}

/// Reads an input matrix and checks it fits `dtype`.
pub fn read_input(path: &Path, dtype: Dtype) -> Result<InputMatrix, Error> {
    narrow_input(read_matrix(path)?, dtype, path)
}

/// The matrix read from `path` as an input matrix: every entry must fit `dtype`.
pub fn narrow_input(m: Matrix<i128>, dtype: Dtype, path: &Path) -> Result<InputMatrix, Error> {
    let data = m
        .data
        .iter()
        .enumerate()
        .map(|(i, &v)| {
            if v < dtype.min() as i128 || v > dtype.max() as i128 {
                Err(Error::Range(format!("{}: entry {i} = {v} does not fit {dtype}", path.display())))
            } else {
                Ok(v as i32)
            }
        })
        .collect::<Result<_, _>>()?;
    Matrix::new(m.rows, m.cols, data)
}

/// Narrowest `.vfm` element code and width holding all values.
fn narrowest(values: &[i128]) -> (u8, usize) {
    let (lo, hi) = values.iter().fold((0i128, 0i128), |(l, h), &v| (l.min(v), h.max(v)));
    *CODES
        .iter()
        .find(|(_, w)| {
            let bits = (*w * 8) as u32;
            bits == 128 || (lo >= -(1i128 << (bits - 1)) && hi < (1i128 << (bits - 1)))
        })
        .expect("int128 holds every i128")
}

/// Writes a matrix (`.npy` or `.vfm` by extension) in the narrowest integer type
/// that holds every entry. Written to a temporary file and renamed, so a crash
/// never leaves half a matrix behind.
pub fn write_matrix<T: Copy + Into<i128>>(path: &Path, m: &Matrix<T>) -> Result<(), Error> {
    let values: Vec<i128> = m.data.iter().map(|&v| v.into()).collect();
    let (code, width) = narrowest(&values);
    let tmp = path.with_extension(format!("{}.tmp", path.extension().and_then(|e| e.to_str()).unwrap_or("")));
    let io = |e: std::io::Error| Error::Io(format!("writing {}: {e}", path.display()));
    {
        let mut w = BufWriter::new(File::create(&tmp).map_err(io)?);
        if is_npy(path) {
            use npyz::WriterBuilder;
            let shape = [m.rows as u64, m.cols as u64];
            macro_rules! npy {
                ($t:ty) => {{
                    let mut npy = npyz::WriteOptions::<$t>::new()
                        .default_dtype()
                        .shape(&shape)
                        .writer(&mut w)
                        .begin_nd()
                        .map_err(io)?;
                    npy.extend(values.iter().map(|&v| v as $t)).map_err(io)?;
                    npy.finish().map_err(io)?;
                }};
            }
            match width {
                1 => npy!(i8),
                2 => npy!(i16),
                4 => npy!(i32),
                8 => npy!(i64),
                _ => {
                    drop(w);
                    let _ = std::fs::remove_file(&tmp);
                    return Err(Error::Range(format!(
                        "{}: entries exceed int64, which .npy cannot hold; use a .vfm file",
                        path.display()
                    )));
                }
            }
        } else {
            w.write_all(MAGIC).map_err(io)?;
            w.write_all(&[code, 0, 0, 0]).map_err(io)?;
            w.write_all(&(m.rows as u32).to_le_bytes()).map_err(io)?;
            w.write_all(&(m.cols as u32).to_le_bytes()).map_err(io)?;
            for v in &values {
                w.write_all(&v.to_le_bytes()[..width]).map_err(io)?;
            }
        }
        w.into_inner().map_err(|e| io(e.into_error()))?.sync_all().map_err(io)?;
    }
    std::fs::rename(&tmp, path).map_err(io)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_both_formats() {
        let dir = tempfile::tempdir().unwrap();
        for dtype in Dtype::ALL {
            let m = InputMatrix::random(3, 5, dtype, 7).unwrap();
            for ext in ["npy", "vfm"] {
                let p = dir.path().join(format!("m.{ext}"));
                write_matrix(&p, &m).unwrap();
                assert_eq!(read_input(&p, dtype).unwrap(), m, "{dtype} {ext}");
            }
        }
        let big = Matrix::new(1, 2, vec![i128::MIN / 3, 1i128 << 80]).unwrap();
        let p = dir.path().join("c.vfm");
        write_matrix(&p, &big).unwrap();
        assert_eq!(read_matrix(&p).unwrap(), big);
        assert!(write_matrix(&dir.path().join("c.npy"), &big).is_err());
    }

    #[test]
    fn rejects_garbage_and_out_of_range() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.vfm");
        std::fs::write(&p, b"VFM1\x03\0\0\0\xff\xff\xff\xff\x01\0\0\0").unwrap();
        assert!(read_matrix(&p).is_err());
        std::fs::write(&p, b"VFM1\x01\0\0\0\x02\0\0\0\x02\0\0\0abc").unwrap();
        assert!(read_matrix(&p).is_err());
        let m = Matrix::new(1, 2, vec![300i32, 0]).unwrap();
        write_matrix(&p, &m).unwrap();
        assert!(read_input(&p, Dtype::Int8).is_err());
        assert!(read_input(&p, Dtype::Int16).is_ok());
        let q = dir.path().join("x.npy");
        std::fs::write(&q, b"\x93NUMPY\x01\x00garbage").unwrap();
        assert!(read_matrix(&q).is_err());
    }
}
