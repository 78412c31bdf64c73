//! The inference circuit's R1CS-to-QAP reduction (docs/PROTOCOL.md §16.5,
//! "Reduction"): arkworks' libsnark reduction without its row per public
//! input where the constraints already make that input's polynomial
//! independent, and with the quotient's query over the coset.
//!
//! - **Rows.** The libsnark reduction adds, for every public input x_i, a QAP
//!   row whose A side is x_i, so that the inputs' polynomials are linearly
//!   independent (the input bases of the verifying key then bind the values they
//!   commit to). An inference job has millions of committed inputs, and those
//!   rows doubled the second model's domain. Here an input gets that row only if
//!   it is not *pivoted*: the only input (with a nonzero coefficient) on one
//!   side of some constraint. A pivoted input's (u_i, v_i, w_i) has a Lagrange
//!   term at that row that no other input's has, so the inputs' polynomials
//!   stay independent. The inference circuit pivots all of its inputs
//!   ([`crate::circuit`]: α's witness copy keeps α out of the lookup rows), so
//!   it gets no extra row at all.
//! - **Quotient.** The h-query holds zt·L_i(τ)/δ over the Lagrange basis of
//!   the coset g·H, g = ω_2|H| ([`coset_shift`]), so the prover multiplies the
//!   quotient's values on the coset, which it has, without interpolating them.
//!   With that g, zt·L_i over g·H is −2·L'_(2i+1), L' the Lagrange basis of
//!   the domain of 2|H| points: a ceremony reads the h-query straight from a
//!   prepared `.ptau`, as it does for the matmul keys.
//!
//! Setup ([`R1CSToQAP::instance_map_with_evaluation`], `h_query_scalars`) and
//! proving (`witness_map_from_matrices`, and [`crate::prover`]) place the rows
//! the same way: constraint j at ω^j, then the extra rows in input order.

use ark_ff::{Field, PrimeField};
use ark_groth16::r1cs_to_qap::{evaluate_constraint, R1CSToQAP};
use ark_poly::EvaluationDomain;
use ark_relations::r1cs::{ConstraintMatrices, ConstraintSystemRef, SynthesisError};
use rayon::prelude::*;

/// The reduction for inference keys: `Groth16<Bn254, InferenceReduction>`.
pub struct InferenceReduction;

/// The public inputs that need a row of their own: those that are not the
/// only input on any side of any constraint, in input order.
pub fn unpivoted<F: Field>(m: &ConstraintMatrices<F>) -> Vec<usize> {
    let ni = m.num_instance_variables;
    let mut pivoted = vec![false; ni];
    for side in [&m.a, &m.b, &m.c] {
        for row in side {
            let mut inputs = row.iter().filter(|(c, i)| *i < ni && !c.is_zero());
            if let (Some(&(_, i)), None) = (inputs.next(), inputs.next()) {
                pivoted[i] = true;
            }
        }
    }
    (0..ni).filter(|&i| !pivoted[i]).collect()
}

/// The coset's shift for a domain of `n` points: ω_2n, a primitive 2n-th
/// root of unity (g^n = −1, so Z_H = −2 on the whole coset).
pub fn coset_shift<F: PrimeField>(n: usize) -> Option<F> {
    F::get_root_of_unity(2 * n as u64)
}

/// QAP rows for `num_constraints` constraints and these extra rows.
pub fn rows(num_constraints: usize, extra: &[usize]) -> usize {
    num_constraints + extra.len()
}

/// Each variable's (u_i, v_i, w_i) at τ, given the domain's Lagrange
/// coefficients at τ: Σ coefficient·L_row(τ) over its terms, and L_(nc+k)(τ)
/// on the A side of the k-th extra input.
pub fn columns<F: PrimeField>(m: &ConstraintMatrices<F>, extra: &[usize], lagrange: &[F]) -> (Vec<F>, Vec<F>, Vec<F>) {
    let nc = m.num_constraints;
    let vars = m.num_instance_variables + m.num_witness_variables;
    let (mut a, mut b, mut c) = (vec![F::zero(); vars], vec![F::zero(); vars], vec![F::zero(); vars]);
    for (row, l) in lagrange.iter().enumerate().take(nc) {
        for (side, out) in [(&m.a, &mut a), (&m.b, &mut b), (&m.c, &mut c)] {
            for &(coeff, i) in &side[row] {
                out[i] += coeff * l;
            }
        }
    }
    for (k, &i) in extra.iter().enumerate() {
        a[i] += lagrange[nc + k];
    }
    (a, b, c)
}

fn matrices<F: PrimeField>(cs: &ConstraintSystemRef<F>) -> Result<ConstraintMatrices<F>, SynthesisError> {
    cs.to_matrices().ok_or(SynthesisError::MissingCS)
}

impl R1CSToQAP for InferenceReduction {
    #[allow(clippy::type_complexity)]
    fn instance_map_with_evaluation<F: PrimeField, D: EvaluationDomain<F>>(
        cs: ConstraintSystemRef<F>,
        t: &F,
    ) -> Result<(Vec<F>, Vec<F>, Vec<F>, F, usize, usize), SynthesisError> {
        let m = matrices(&cs)?;
        let extra = unpivoted(&m);
        let domain = D::new(rows(m.num_constraints, &extra)).ok_or(SynthesisError::PolynomialDegreeTooLarge)?;
        let zt = domain.evaluate_vanishing_polynomial(*t);
        let (a, b, c) = columns(&m, &extra, &domain.evaluate_all_lagrange_coefficients(*t));
        let vars = a.len();
        Ok((a, b, c, zt, vars - 1, domain.size()))
    }

    /// The quotient's values on the coset g·H (what the h-query multiplies).
    fn witness_map_from_matrices<F: PrimeField, D: EvaluationDomain<F>>(
        m: &ConstraintMatrices<F>,
        _num_inputs: usize,
        num_constraints: usize,
        z: &[F],
    ) -> Result<Vec<F>, SynthesisError> {
        let extra = unpivoted(m);
        let domain = D::new(rows(num_constraints, &extra)).ok_or(SynthesisError::PolynomialDegreeTooLarge)?;
        let g = coset_shift::<F>(domain.size()).ok_or(SynthesisError::PolynomialDegreeTooLarge)?;
        let coset = domain.get_coset(g).ok_or(SynthesisError::PolynomialDegreeTooLarge)?;
        let eval = |side: &[Vec<(F, usize)>], with_extra: bool| -> Vec<F> {
            let mut v = vec![F::zero(); domain.size()];
            v[..num_constraints].par_iter_mut().zip(side).for_each(|(o, row)| *o = evaluate_constraint(row, z));
            if with_extra {
                for (k, &i) in extra.iter().enumerate() {
                    v[num_constraints + k] = z[i];
                }
            }
            domain.ifft_in_place(&mut v);
            coset.fft_in_place(&mut v);
            v
        };
        let (mut a, b, c) = (eval(&m.a, true), eval(&m.b, false), eval(&m.c, false));
        let z_inv = domain.evaluate_vanishing_polynomial(g).inverse().ok_or(SynthesisError::DivisionByZero)?;
        a.par_iter_mut().zip(b).zip(c).for_each(|((a, b), c)| *a = (*a * b - c) * z_inv);
        Ok(a)
    }

    /// zt·L_i(τ)/δ over the coset g·H, all |H| of them (`max_power` is |H| − 1).
    fn h_query_scalars<F: PrimeField, D: EvaluationDomain<F>>(
        max_power: usize,
        t: F,
        zt: F,
        delta_inverse: F,
    ) -> Result<Vec<F>, SynthesisError> {
        let domain = D::new(max_power + 1).ok_or(SynthesisError::PolynomialDegreeTooLarge)?;
        let g = coset_shift::<F>(domain.size()).ok_or(SynthesisError::PolynomialDegreeTooLarge)?;
        let coset = domain.get_coset(g).ok_or(SynthesisError::PolynomialDegreeTooLarge)?;
        let by = zt * delta_inverse;
        let mut s = coset.evaluate_all_lagrange_coefficients(t);
        s.par_iter_mut().for_each(|x| *x *= by);
        Ok(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ark_bn254::{Bn254, Fr};
    use ark_groth16::Groth16;
    use ark_relations::lc;
    use ark_relations::r1cs::{ConstraintSynthesizer, ConstraintSystem, Variable};
    use ark_snark::SNARK;

    /// x·y = z with x, z public and an extra public input w that no
    /// constraint uses, and a public v only beside x on a side.
    struct Toy {
        x: Fr,
        y: Fr,
        w: Fr,
        v: Fr,
    }

    impl ConstraintSynthesizer<Fr> for Toy {
        fn generate_constraints(self, cs: ConstraintSystemRef<Fr>) -> Result<(), SynthesisError> {
            let x = cs.new_input_variable(|| Ok(self.x))?;
            let z = cs.new_input_variable(|| Ok(self.x * self.y))?;
            let w = cs.new_input_variable(|| Ok(self.w))?;
            let v = cs.new_input_variable(|| Ok(self.v))?;
            let y = cs.new_witness_variable(|| Ok(self.y))?;
            cs.enforce_constraint(lc!() + x, lc!() + y, lc!() + z)?;
            // (x + v)·1 = (x + v): v never alone among the inputs.
            let s = cs.new_witness_variable(|| Ok(self.x + self.v))?;
            cs.enforce_constraint(lc!() + x + v, lc!() + Variable::One, lc!() + s)?;
            let _ = w;
            Ok(())
        }
    }

    #[test]
    fn unpivoted_inputs_get_rows_and_stay_bound() {
        let toy = || Toy { x: Fr::from(3u64), y: Fr::from(5u64), w: Fr::from(7u64), v: Fr::from(11u64) };
        let cs = ConstraintSystem::<Fr>::new_ref();
        toy().generate_constraints(cs.clone()).unwrap();
        cs.finalize();
        let m = cs.to_matrices().unwrap();
        // 1 is alone on the second row's B side, x on the first's A side, z on its C side.
        assert_eq!(unpivoted(&m), vec![3, 4], "w (unused) and v (never alone) need rows");

        let mut rng = rand::thread_rng();
        let (pk, vk) = Groth16::<Bn254, InferenceReduction>::circuit_specific_setup(toy(), &mut rng).unwrap();
        assert_eq!(pk.h_query.len(), 4, "|H| = 2 constraints + 2 extra rows, all on the coset");
        let proof = Groth16::<Bn254, InferenceReduction>::prove(&pk, toy(), &mut rng).unwrap();
        let inputs = [Fr::from(3u64), Fr::from(15u64), Fr::from(7u64), Fr::from(11u64)];
        assert!(Groth16::<Bn254, InferenceReduction>::verify(&vk, &inputs, &proof).unwrap());
        // Every input is bound, the one no constraint reads included.
        for i in 0..inputs.len() {
            let mut forged = inputs;
            forged[i] += Fr::from(1u64);
            assert!(!Groth16::<Bn254, InferenceReduction>::verify(&vk, &forged, &proof).unwrap(), "input {i}");
        }
    }
}
