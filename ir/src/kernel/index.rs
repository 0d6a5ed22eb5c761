//! Index arithmetic in a canonical affine form, simplified as it is built.
//!
//! Lowering computes every address as a composition of index maps (a
//! broadcast drops a dim, a transpose permutes, a reshape flattens and splits
//! again with `/` and `%`). Built naively those compositions pile up
//! divisions; built here they cancel: an [`Affine`] is a sum of
//! coefficient·atom terms plus a constant, kept sorted, where an atom is a
//! loop variable or a `/` or `%` by a constant that could not be removed.
//! [`Ranges`] knows each loop variable's extent, which is what proves a `%`
//! or `/` redundant (`i % 8` is `i` when `i < 8`). Two indices that are equal
//! as affine sums compare equal, which is how lowering checks that two
//! accesses touch the same element.

use super::{Index, Var};

/// `Σ coeff · atom + constant`, canonical: terms sorted by atom, atoms
/// distinct, coefficients positive.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Affine {
    terms: Vec<(Atom, u64)>,
    constant: u64,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum Atom {
    Var(u32),
    Div(Box<Affine>, u64),
    Rem(Box<Affine>, u64),
}

impl Affine {
    /// The index that is always `c`.
    pub fn constant(c: u64) -> Affine {
        Affine {
            terms: Vec::new(),
            constant: c,
        }
    }

    /// The value, if the index is a constant.
    pub fn as_const(&self) -> Option<u64> {
        self.terms.is_empty().then_some(self.constant)
    }

    /// Whether a `/` or `%` is left anywhere: the address needs more than
    /// multiply-adds.
    pub fn has_div_rem(&self) -> bool {
        self.terms.iter().any(|(a, _)| !matches!(a, Atom::Var(_)))
    }

    /// Calls `f` on every loop variable used.
    pub fn vars(&self, f: &mut impl FnMut(Var)) {
        for (a, _) in &self.terms {
            match a {
                Atom::Var(v) => f(Var(*v)),
                Atom::Div(x, _) | Atom::Rem(x, _) => x.vars(f),
            }
        }
    }

    /// The index expression, terms in canonical order (`i0 * 64 + i1 + 3`).
    pub fn to_index(&self) -> Index {
        let mut acc: Option<Index> = None;
        for (atom, c) in &self.terms {
            let t = match atom {
                Atom::Var(v) => Index::Var(Var(*v)),
                Atom::Div(x, n) => Index::Div(Box::new(x.to_index()), *n),
                Atom::Rem(x, n) => Index::Rem(Box::new(x.to_index()), *n),
            };
            let t = if *c == 1 {
                t
            } else {
                Index::Mul(Box::new(t), *c)
            };
            acc = Some(match acc {
                None => t,
                Some(a) => Index::Add(Box::new(a), Box::new(t)),
            });
        }
        match (acc, self.constant) {
            (None, c) => Index::Const(c),
            (Some(a), 0) => a,
            (Some(a), c) => Index::Add(Box::new(a), Box::new(Index::Const(c))),
        }
    }

    /// `(q, r)` with `self = n·q + r`, taking from each coefficient (and the
    /// constant) its multiple of `n`.
    fn split(&self, n: u64) -> (Affine, Affine) {
        let (mut q, mut r) = (
            Affine::constant(self.constant / n),
            Affine::constant(self.constant % n),
        );
        for (a, c) in &self.terms {
            if c / n > 0 {
                q.terms.push((a.clone(), c / n));
            }
            if c % n > 0 {
                r.terms.push((a.clone(), c % n));
            }
        }
        (q, r)
    }

    /// The single atom this index is, with coefficient 1 and no constant.
    fn as_atom(&self) -> Option<&Atom> {
        match self.terms.as_slice() {
            [(a, 1)] if self.constant == 0 => Some(a),
            _ => None,
        }
    }

    fn from_atom(a: Atom) -> Affine {
        Affine {
            terms: vec![(a, 1)],
            constant: 0,
        }
    }
}

/// The extents of a kernel's loop variables: what bounds every index.
#[derive(Clone, Debug, Default)]
pub struct Ranges {
    /// The extent of each variable, by id (0 for one not declared).
    extent: Vec<u64>,
}

impl Ranges {
    /// No variables declared yet.
    pub fn new() -> Ranges {
        Ranges::default()
    }

    /// Declares that `v` runs over `0..extent`.
    pub fn set(&mut self, v: Var, extent: u64) {
        let i = v.0 as usize;
        if self.extent.len() <= i {
            self.extent.resize(i + 1, 0);
        }
        self.extent[i] = extent;
    }

    /// The variable `v`; `0` if its loop runs once. (A loop that never runs
    /// keeps its variable, so nothing inside it looks loop-invariant.)
    pub fn var(&self, v: Var) -> Affine {
        if self.extent.get(v.0 as usize) == Some(&1) {
            return Affine::constant(0);
        }
        Affine::from_atom(Atom::Var(v.0))
    }

    fn var_max(&self, v: u32) -> u64 {
        self.extent
            .get(v as usize)
            .map_or(0, |e| e.saturating_sub(1))
    }

    /// The largest value `a` can take.
    pub fn max(&self, a: &Affine) -> u64 {
        a.terms.iter().fold(a.constant, |acc, (atom, c)| {
            let m = match atom {
                Atom::Var(v) => self.var_max(*v),
                Atom::Div(x, n) => self.max(x) / n,
                Atom::Rem(x, n) => self.max(x).min(n - 1),
            };
            acc.saturating_add(m.saturating_mul(*c))
        })
    }

    /// `a + b`, simplified with what the ranges prove.
    pub fn add(&self, a: &Affine, b: &Affine) -> Affine {
        let mut terms = a.terms.clone();
        terms.extend(b.terms.iter().cloned());
        self.normalize(terms, a.constant.saturating_add(b.constant))
    }

    /// `a · c`, simplified with what the ranges prove; 0 when `c` is 0.
    pub fn mul(&self, a: &Affine, c: u64) -> Affine {
        if c == 0 {
            return Affine::constant(0);
        }
        let terms = a
            .terms
            .iter()
            .map(|(t, k)| (t.clone(), k.saturating_mul(c)))
            .collect();
        Affine {
            terms,
            constant: a.constant.saturating_mul(c),
        }
    }

    /// Floor division by `n > 0` (`n == 0` is treated as 1).
    pub fn div(&self, a: &Affine, n: u64) -> Affine {
        if n <= 1 {
            return a.clone();
        }
        let (q, r) = a.split(n);
        if self.max(&r) < n {
            return q;
        }
        // floor((n·q + r) / n) = q + floor(r / n) for non-negative q and r.
        let rest = match (self.factor(&r, n), r.as_atom()) {
            (Some((c, x, _)), _) => self.div(&x, n / c),
            (None, Some(Atom::Div(x, m))) => self.div(x, m.saturating_mul(n)),
            (None, _) => Affine::from_atom(Atom::Div(Box::new(r), n)),
        };
        self.add(&q, &rest)
    }

    /// Remainder by `n > 0` (`n == 0` is treated as 1).
    pub fn rem(&self, a: &Affine, n: u64) -> Affine {
        if n <= 1 {
            return Affine::constant(0);
        }
        let (_, r) = a.split(n);
        if self.max(&r) < n {
            return r;
        }
        if let Some((c, x, y)) = self.factor(&r, n) {
            return self.add(&self.mul(&self.rem(&x, n / c), c), &y);
        }
        match r.as_atom() {
            Some(Atom::Rem(x, m)) if m % n == 0 => self.rem(x, n),
            _ => Affine::from_atom(Atom::Rem(Box::new(r), n)),
        }
    }

    /// `a = c·x + y` with `c` dividing `n` and `0 ≤ y < c`, for the largest
    /// such `c > 1` among `a`'s coefficients: then `a / n = x / (n / c)` and
    /// `a % n = c·(x % (n / c)) + y`. This is a row-major index whose inner
    /// dims (`y`) fill whole rows of the divisor: `(i·128 + j) / 1792` with
    /// `j < 128` is `i / 14`.
    fn factor(&self, a: &Affine, n: u64) -> Option<(u64, Affine, Affine)> {
        let mut candidates: Vec<u64> = a
            .terms
            .iter()
            .map(|&(_, c)| c)
            .filter(|&c| c > 1 && n.is_multiple_of(c))
            .collect();
        candidates.sort_unstable_by(|p, q| q.cmp(p));
        candidates.dedup();
        candidates.into_iter().find_map(|c| {
            let (x, y) = a.split(c);
            (self.max(&y) < c).then_some((c, x, y))
        })
    }

    /// The canonical form of an index expression.
    pub fn affine(&self, i: &Index) -> Affine {
        match i {
            Index::Const(c) => Affine::constant(*c),
            Index::Var(v) => self.var(*v),
            Index::Add(a, b) => self.add(&self.affine(a), &self.affine(b)),
            Index::Mul(a, c) => self.mul(&self.affine(a), *c),
            Index::Div(a, n) => self.div(&self.affine(a), *n),
            Index::Rem(a, n) => self.rem(&self.affine(a), *n),
        }
    }

    /// Sorts and merges terms, then undoes the splits of mixed-radix
    /// decomposition: `x % a + a·(x / a) = x` and
    /// `x % a + a·((x / a) % b) = x % (a·b)`, which is what turns a reshape
    /// followed by its inverse back into the index it started from.
    fn normalize(&self, mut terms: Vec<(Atom, u64)>, mut constant: u64) -> Affine {
        loop {
            terms.sort_by(|x, y| x.0.cmp(&y.0));
            let mut merged: Vec<(Atom, u64)> = Vec::with_capacity(terms.len());
            for (a, c) in terms {
                match merged.last_mut() {
                    Some((last, k)) if *last == a => *k = k.saturating_add(c),
                    _ => merged.push((a, c)),
                }
            }
            merged.retain(|(_, c)| *c > 0);
            match self.recompose(&merged) {
                None => {
                    return Affine {
                        terms: merged,
                        constant,
                    }
                }
                Some((i, j, replacement)) => {
                    let (hi, lo) = (i.max(j), i.min(j));
                    merged.remove(hi);
                    merged.remove(lo);
                    constant = constant.saturating_add(replacement.constant);
                    merged.extend(replacement.terms);
                    terms = merged;
                }
            }
        }
    }

    /// A pair of terms `(i, j)` that recombine, and what replaces them.
    fn recompose(&self, terms: &[(Atom, u64)]) -> Option<(usize, usize, Affine)> {
        for (i, (ai, ci)) in terms.iter().enumerate() {
            let Atom::Rem(x, a) = ai else { continue };
            for (j, (aj, cj)) in terms.iter().enumerate() {
                if *cj != ci.saturating_mul(*a) {
                    continue;
                }
                match aj {
                    Atom::Div(y, b) if y == x && b == a => return Some((i, j, self.mul(x, *ci))),
                    Atom::Rem(y, b) => {
                        let Some(Atom::Div(z, d)) = y.as_atom() else {
                            continue;
                        };
                        if z == x && d == a {
                            let whole = self.rem(x, a.saturating_mul(*b));
                            return Some((i, j, self.mul(&whole, *ci)));
                        }
                    }
                    _ => {}
                }
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ranges(extents: &[u64]) -> Ranges {
        let mut r = Ranges::new();
        for (i, &e) in extents.iter().enumerate() {
            r.set(Var(i as u32), e);
        }
        r
    }

    /// `f` split into the row-major multi-index of `shape`, and put back.
    fn round_trip(r: &Ranges, f: &Affine, shape: &[u64]) -> Affine {
        let mut stride = shape.iter().product::<u64>();
        let mut flat = Affine::constant(0);
        for &d in shape {
            stride /= d;
            let i = r.rem(&r.div(f, stride), d);
            flat = r.add(&flat, &r.mul(&i, stride));
        }
        flat
    }

    #[test]
    fn whole_rows_of_a_divisor_factor_out() {
        // i < 196, j < 128: (128 i + j) / 1792 = i / 14, and % 1792 keeps j.
        let r = ranges(&[196, 128]);
        let (i, j) = (r.var(Var(0)), r.var(Var(1)));
        let a = r.add(&r.mul(&i, 128), &j);
        assert_eq!(r.div(&a, 1792), r.div(&i, 14));
        assert_eq!(r.rem(&a, 1792), r.add(&r.mul(&r.rem(&i, 14), 128), &j));
        // A remainder of whole rows, after the quotient is taken: 6 i / 4
        // is i + 2 i / 4, which is i + i / 2 (and stays so when built again).
        let r3 = ranges(&[3]);
        let i = r3.var(Var(0));
        let six = r3.div(&r3.mul(&i, 6), 4);
        assert_eq!(six, r3.add(&i, &r3.div(&i, 2)));
        assert_eq!(r3.affine(&six.to_index()), six);
        // j may reach 128: no such split, the division stays.
        let wide = ranges(&[196, 129]);
        let b = wide.add(&wide.mul(&wide.var(Var(0)), 128), &wide.var(Var(1)));
        assert!(wide.div(&b, 1792).has_div_rem());
        // Exhaustively, on small extents, against integer arithmetic.
        let r = ranges(&[7, 6, 4]);
        let v: Vec<Affine> = (0..3).map(|k| r.var(Var(k))).collect();
        let a = r.add(&r.add(&r.mul(&v[0], 24), &r.mul(&v[1], 4)), &v[2]);
        for n in [2, 4, 8, 12, 24, 48, 72] {
            let (d, m) = (r.div(&a, n), r.rem(&a, n));
            for x in 0..7u64 {
                for y in 0..6u64 {
                    for z in 0..4u64 {
                        let env = [x, y, z];
                        let flat = 24 * x + 4 * y + z;
                        assert_eq!(eval(&d, &env), flat / n, "/ {n} at {env:?}");
                        assert_eq!(eval(&m, &env), flat % n, "% {n} at {env:?}");
                    }
                }
            }
        }
    }

    /// `a` with each variable `k` set to `env[k]`.
    fn eval(a: &Affine, env: &[u64]) -> u64 {
        a.terms.iter().fold(a.constant, |acc, (atom, c)| {
            let v = match atom {
                Atom::Var(k) => env[*k as usize],
                Atom::Div(x, n) => eval(x, env) / n,
                Atom::Rem(x, n) => eval(x, env) % n,
            };
            acc + c * v
        })
    }

    #[test]
    fn reshape_round_trips_cancel() {
        let r = ranges(&[24]);
        let f = r.var(Var(0));
        for shape in [&[24][..], &[4, 6], &[2, 3, 4], &[2, 1, 3, 4]] {
            assert_eq!(round_trip(&r, &f, shape), f, "{shape:?}");
        }
    }

    #[test]
    fn nested_loops_flatten_and_split() {
        let r = ranges(&[4, 6]);
        let (i, j) = (r.var(Var(0)), r.var(Var(1)));
        let flat = r.add(&r.mul(&i, 6), &j);
        assert_eq!(r.div(&flat, 6), i);
        assert_eq!(r.rem(&flat, 6), j);
        assert_eq!(r.rem(&flat, 3), r.rem(&j, 3));
        assert_eq!(r.div(&flat, 3), r.add(&r.mul(&i, 2), &r.div(&j, 3)));
        assert_eq!(
            flat.to_index(),
            Index::Add(
                Box::new(Index::Mul(Box::new(Index::Var(Var(0))), 6)),
                Box::new(Index::Var(Var(1)))
            )
        );
    }

    #[test]
    fn bounds_remove_division() {
        let r = ranges(&[8, 1]);
        let i = r.var(Var(0));
        assert_eq!(r.rem(&i, 8), i);
        assert_eq!(r.div(&i, 8), Affine::constant(0));
        assert_eq!(r.var(Var(1)), Affine::constant(0));
        assert!(r.rem(&i, 3).has_div_rem());
        assert_eq!(r.div(&r.div(&i, 2), 2), r.div(&i, 4));
        assert_eq!(r.max(&r.add(&r.mul(&i, 3), &Affine::constant(2))), 23);
    }

    #[test]
    fn canonical_index_evaluates_like_the_original() {
        let r = ranges(&[5, 7]);
        let e = Index::Rem(
            Box::new(Index::Add(
                Box::new(Index::Mul(Box::new(Index::Var(Var(0))), 7)),
                Box::new(Index::Var(Var(1))),
            )),
            3,
        );
        let canon = r.affine(&e).to_index();
        for a in 0..5u64 {
            for b in 0..7u64 {
                let val = |v: Var| Some(if v.0 == 0 { a } else { b });
                assert_eq!(canon.eval(&val), e.eval(&val));
            }
        }
    }
}
