//! Matrices read and committed chunk by chunk, with bounded memory: the verifier
//! service checks uploads of up to 4096² entries against a job's commitments
//! without ever holding a whole matrix.
//!
//! [`MatrixReader`] reads `.npy` or `.vfm` (told apart by their magic bytes, not
//! a file name); [`commit_stream`] recomputes the commitment a job's circuit
//! defines for A, B or C, checking dimensions and the entries' range on the way.
//! Both agree exactly with the whole-matrix functions ([`crate::commit`],
//! [`crate::cp`]); the tests below hold them to it.

use std::io::{BufReader, Read};

use ark_bn254::{Fr, G1Affine, G1Projective};
use ark_ec::{AdditiveGroup, CurveGroup};

use crate::circuit::CircuitKind;
use crate::commit::{self, Role};
use crate::cp::{self, CommitKey};
use crate::matrix::{InputMatrix, Matrix};
use crate::shape::{Shape, MAX_DIM};
use crate::Error;

/// Entries read per chunk (16 MiB of i128 at most).
pub const CHUNK_ENTRIES: usize = 1 << 20;

const NPY_MAGIC: &[u8; 6] = b"\x93NUMPY";
const VFM_MAGIC: &[u8; 4] = b"VFM1";

type Entries = Box<dyn Iterator<Item = std::io::Result<i128>> + Send>;

enum Body<R: Read> {
    Npy(Entries),
    Vfm { r: BufReader<R>, width: usize },
}

/// A matrix file opened for reading entries in row-major order.
pub struct MatrixReader<R: Read + Send + 'static> {
    pub rows: usize,
    pub cols: usize,
    body: Body<R>,
    left: usize,
}

fn format(e: impl std::fmt::Display) -> Error {
    Error::Format(e.to_string())
}

/// `.vfm` element codes and widths (1 int8 … 5 int128).
const VFM_WIDTHS: [(u8, usize); 5] = [(1, 1), (2, 2), (3, 4), (4, 8), (5, 16)];

impl<R: Read + Send + 'static> MatrixReader<R> {
    /// Reads the header; the entries follow on demand.
    pub fn new(mut r: R) -> Result<Self, Error> {
        let mut magic = [0u8; 6];
        r.read_exact(&mut magic).map_err(|_| format("not a matrix: shorter than any header"))?;
        let chained = std::io::Cursor::new(magic).chain(r);
        if &magic == NPY_MAGIC {
            Self::npy(chained)
        } else if &magic[..4] == VFM_MAGIC {
            Self::vfm(chained)
        } else {
            Err(format("not a matrix: expected a .npy or .vfm file (bad magic)"))
        }
    }

    fn checked_dims(rows: u64, cols: u64) -> Result<(usize, usize), Error> {
        if rows == 0 || cols == 0 || rows > MAX_DIM as u64 || cols > MAX_DIM as u64 {
            return Err(Error::Shape(format!("matrix {rows}×{cols} is outside 1..={MAX_DIM} per side")));
        }
        Ok((rows as usize, cols as usize))
    }

    fn npy(r: std::io::Chain<std::io::Cursor<[u8; 6]>, R>) -> Result<Self, Error> {
        let npy = npyz::NpyFile::new(r).map_err(|e| format(format!("npy header: {e}")))?;
        let shape = npy.shape().to_vec();
        if shape.len() != 2 {
            return Err(format(format!("expected a 2-D array, found shape {shape:?}")));
        }
        if npy.order() != npyz::Order::C {
            return Err(format("Fortran-order arrays are not supported; save with np.ascontiguousarray"));
        }
        let (rows, cols) = Self::checked_dims(shape[0], shape[1])?;
        let descr = npy.dtype().descr();
        macro_rules! entries {
            ($t:ty) => {
                Box::new(npy.data::<$t>().map_err(format)?.map(|v| v.map(i128::from))) as Entries
            };
        }
        let entries = match descr.trim_matches('\'').trim_start_matches(['<', '|', '=']) {
            "i1" => entries!(i8),
            "i2" => entries!(i16),
            "i4" => entries!(i32),
            "i8" => entries!(i64),
            other => return Err(format(format!("unsupported dtype {other:?} (use int8, int16, int32 or int64)"))),
        };
        Ok(MatrixReader { rows, cols, body: Body::Npy(entries), left: rows * cols })
    }

    fn vfm(mut r: std::io::Chain<std::io::Cursor<[u8; 6]>, R>) -> Result<Self, Error> {
        let mut h = [0u8; 16];
        r.read_exact(&mut h).map_err(|_| format("truncated .vfm header"))?;
        if h[5..8] != [0, 0, 0] {
            return Err(format("not a veriflop matrix file (bad magic)"));
        }
        let width = VFM_WIDTHS
            .iter()
            .find(|(c, _)| *c == h[4])
            .map(|(_, w)| *w)
            .ok_or_else(|| format(format!("unknown element code {}", h[4])))?;
        let rows = u32::from_le_bytes(h[8..12].try_into().expect("4 bytes"));
        let cols = u32::from_le_bytes(h[12..16].try_into().expect("4 bytes"));
        let (rows, cols) = Self::checked_dims(rows.into(), cols.into())?;
        // The cursor holds 6 bytes already consumed into `h`; what remains is `R`.
        let (_, inner) = r.into_inner();
        Ok(MatrixReader {
            rows,
            cols,
            body: Body::Vfm { r: BufReader::with_capacity(1 << 16, inner), width },
            left: rows * cols,
        })
    }

    /// Appends up to `max` further entries to `out` (cleared first); 0 at the end.
    /// A file with fewer or more entries than its header says is an error.
    pub fn read_chunk(&mut self, out: &mut Vec<i128>, max: usize) -> Result<usize, Error> {
        out.clear();
        let n = self.left.min(max);
        match &mut self.body {
            Body::Npy(it) => {
                for _ in 0..n {
                    match it.next() {
                        Some(Ok(v)) => out.push(v),
                        Some(Err(e)) => return Err(format(format!("npy data: {e}"))),
                        None => return Err(format("npy data ends before the shape its header gives")),
                    }
                }
            }
            Body::Vfm { r, width } => {
                let w = *width;
                let mut buf = vec![0u8; n * w];
                r.read_exact(&mut buf).map_err(|_| format("the .vfm file ends before its rows × cols entries"))?;
                out.extend(buf.chunks_exact(w).map(|c| {
                    let mut b = [0u8; 16];
                    b[..w].copy_from_slice(c);
                    if c[w - 1] & 0x80 != 0 {
                        b[w..].fill(0xff); // sign-extend
                    }
                    i128::from_le_bytes(b)
                }));
            }
        }
        self.left -= n;
        if self.left == 0 && n > 0 {
            self.expect_end()?;
        }
        Ok(n)
    }

    fn expect_end(&mut self) -> Result<(), Error> {
        let extra = match &mut self.body {
            Body::Npy(it) => it.next().is_some(),
            Body::Vfm { r, .. } => {
                let mut b = [0u8; 1];
                matches!(r.read(&mut b), Ok(n) if n > 0)
            }
        };
        if extra {
            return Err(format("the file holds more entries than its header's rows × cols"));
        }
        Ok(())
    }
}

/// Reads a whole matrix file, `.npy` or `.vfm` whatever its name (downloads have none).
pub fn read_file(path: &std::path::Path) -> Result<Matrix<i128>, Error> {
    let f = std::fs::File::open(path).map_err(|e| Error::Io(format!("cannot open {}: {e}", path.display())))?;
    let mut r = MatrixReader::new(f).map_err(|e| Error::Format(format!("{}: {e}", path.display())))?;
    let mut data = Vec::with_capacity(r.rows * r.cols);
    let mut chunk = Vec::new();
    while r.read_chunk(&mut chunk, CHUNK_ENTRIES)? > 0 {
        data.extend_from_slice(&chunk);
    }
    Matrix::new(r.rows, r.cols, data)
}

/// [`read_file`] for an input matrix whose entries must fit `dtype`.
pub fn read_input_file(path: &std::path::Path, dtype: crate::Dtype) -> Result<InputMatrix, Error> {
    crate::matrix::narrow_input(read_file(path)?, dtype, path)
}

/// Accumulates a commitment over entries given in order.
enum Acc<'a> {
    Poseidon(commit::Absorber),
    Pedersen { bases: &'a [G1Affine], sum: G1Projective },
}

/// The commitment `circuit` defines for `role`'s matrix of a job of `shape`,
/// read from `r`: dimensions must match the shape and every entry its range
/// (the job's dtype for A and B, ±`shape.max_abs_output()` for C; an inference
/// job's output C is int8), else an error naming the first offending entry.
/// `ck` is needed for the committed circuit, and for an inference job holds the
/// model key's input bases (as `a`) and output bases (as `c`).
pub fn commit_stream<R: Read + Send + 'static>(
    circuit: CircuitKind,
    shape: &Shape,
    role: Role,
    ck: Option<&CommitKey>,
    r: &mut MatrixReader<R>,
) -> Result<Fr, Error> {
    let (rows, cols) = commit::dims(shape, role);
    if (r.rows, r.cols) != (rows as usize, cols as usize) {
        return Err(Error::Shape(format!(
            "{role:?} is {}×{}, the job's shape {shape} needs {rows}×{cols}",
            r.rows, r.cols
        )));
    }
    let (lo, hi) = match role {
        Role::A | Role::B => (shape.dtype.min() as i128, shape.dtype.max() as i128),
        // An inference job's output is the network's int8 output.
        Role::C if circuit == CircuitKind::Inference => (shape.dtype.min() as i128, shape.dtype.max() as i128),
        Role::C => {
            let m = shape.max_abs_output() as i128;
            (-m, m)
        }
    };
    let mut acc = match circuit {
        CircuitKind::Committed | CircuitKind::Inference => {
            let ck = ck.ok_or_else(|| {
                Error::Format(format!("the {circuit} circuit needs the commitment key of shape {shape}"))
            })?;
            if ck.shape != *shape {
                return Err(Error::Format(format!("commitment key is for shape {}, not {shape}", ck.shape)));
            }
            let bases = match role {
                Role::A => &ck.a,
                Role::B => &ck.b,
                Role::C => &ck.c,
            };
            Acc::Pedersen { bases, sum: G1Projective::ZERO }
        }
        CircuitKind::Poseidon | CircuitKind::Naive => Acc::Poseidon(commit::Absorber::new(shape, role)),
    };
    let mut chunk = Vec::new();
    let mut at = 0usize;
    loop {
        let n = r.read_chunk(&mut chunk, CHUNK_ENTRIES)?;
        if n == 0 {
            break;
        }
        if let Some(i) = chunk.iter().position(|v| *v < lo || *v > hi) {
            let i = at + i;
            return Err(Error::Range(format!(
                "{role:?}[{}][{}] = {} is outside {lo}..={hi}",
                i / cols as usize,
                i % cols as usize,
                chunk[i - at]
            )));
        }
        match &mut acc {
            Acc::Poseidon(a) => a.absorb(&chunk),
            Acc::Pedersen { bases, sum } => *sum += crate::msm::small_msm(&bases[at..at + n], &chunk),
        }
        at += n;
    }
    Ok(match acc {
        Acc::Poseidon(a) => a.finish(),
        Acc::Pedersen { sum, .. } => cp::digest(&sum.into_affine()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::matrix::write_matrix;
    use crate::shape::Dtype;

    fn reader(path: &std::path::Path) -> MatrixReader<std::fs::File> {
        MatrixReader::new(std::fs::File::open(path).unwrap()).unwrap()
    }

    #[test]
    fn streamed_commitments_equal_whole_matrix_ones() {
        let dir = tempfile::tempdir().unwrap();
        let s = Shape::new(5, 7, 3, Dtype::Int8).unwrap();
        let a = InputMatrix::random(5, 7, Dtype::Int8, 1).unwrap();
        let b = InputMatrix::random(7, 3, Dtype::Int8, 2).unwrap();
        let c = crate::execute::matmul(&s, &a, &b).unwrap();
        for ext in ["npy", "vfm"] {
            let (pa, pb, pc) = (
                dir.path().join(format!("a.{ext}")),
                dir.path().join(format!("b.{ext}")),
                dir.path().join(format!("c.{ext}")),
            );
            write_matrix(&pa, &a).unwrap();
            write_matrix(&pb, &b).unwrap();
            write_matrix(&pc, &c).unwrap();
            let got = commit_stream(CircuitKind::Poseidon, &s, Role::A, None, &mut reader(&pa)).unwrap();
            assert_eq!(got, commit::commit_input(&s, Role::A, &a));
            let got = commit_stream(CircuitKind::Poseidon, &s, Role::C, None, &mut reader(&pc)).unwrap();
            assert_eq!(got, commit::commit_output(&s, &c));
            // Pedersen under arbitrary bases: the sum over chunks is the MSM.
            let g = <ark_bn254::G1Affine as ark_ec::AffineRepr>::generator();
            let bases: Vec<G1Affine> = (1..=35u64).map(|i| (g * Fr::from(i)).into_affine()).collect();
            let ck = CommitKey { shape: s, a: bases[..35].to_vec(), b: bases[..21].to_vec(), c: bases[..15].to_vec() };
            let got = commit_stream(CircuitKind::Committed, &s, Role::B, Some(&ck), &mut reader(&pb)).unwrap();
            assert_eq!(got, cp::digest(&ck.commit_b(&b)));
            let got = commit_stream(CircuitKind::Committed, &s, Role::C, Some(&ck), &mut reader(&pc)).unwrap();
            assert_eq!(got, cp::digest(&ck.commit_c(&c)));
        }
    }

    #[test]
    fn wrong_dimensions_ranges_and_lengths_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let s = Shape::new(4, 4, 4, Dtype::Int8).unwrap();
        let p = dir.path().join("x.vfm");
        write_matrix(&p, &Matrix::new(4, 3, vec![1i32; 12]).unwrap()).unwrap();
        let e = commit_stream(CircuitKind::Poseidon, &s, Role::A, None, &mut reader(&p)).unwrap_err();
        assert!(matches!(e, Error::Shape(_)), "{e}");
        let mut big = vec![1i32; 16];
        big[6] = 200;
        write_matrix(&p, &Matrix::new(4, 4, big).unwrap()).unwrap();
        let e = commit_stream(CircuitKind::Poseidon, &s, Role::A, None, &mut reader(&p)).unwrap_err();
        assert_eq!(e.to_string(), "value out of range: A[1][2] = 200 is outside -128..=127");
        // Truncated and over-long files.
        let bytes = std::fs::read(&p).unwrap();
        for bad in [&bytes[..bytes.len() - 3], &[bytes.as_slice(), &[0, 0]].concat()[..]] {
            std::fs::write(&p, bad).unwrap();
            assert!(commit_stream(CircuitKind::Poseidon, &s, Role::A, None, &mut reader(&p)).is_err());
        }
        assert!(MatrixReader::new(std::io::Cursor::new(b"garbage!".to_vec())).is_err());
        assert!(MatrixReader::new(std::io::Cursor::new(Vec::new())).is_err());
    }
}
