//! Minibatches (a train item's `batch N`): inputs fed from files, cut along axis 0
//! into batches of N rows, in an order reshuffled every epoch.
//!
//! All batched inputs share one permutation, so row `i` of one stays with
//! row `i` of the others. The permutation of each epoch is a Fisher–Yates
//! shuffle drawn from splitmix64 seeded by `--seed`, so a run is the same on
//! every machine. A last partial batch is dropped, as
//! `tf.data.Dataset.batch(N, drop_remainder=True)` does, so every step sees
//! the same shapes and the step graph is specialised once.
//!
//! Under data parallelism every rank draws the same permutation and takes its
//! own equal share of each batch ([`Batches::share`]): rank `r` of `n` gets
//! rows `r·N/n .. (r+1)·N/n` of it, so the ranks together see exactly the
//! batch one process would.

use tfg_ir::init::SplitMix64;
use tfg_ir::{Data, Tensor};

pub struct Batches {
    /// Each batched input's name and whole tensor.
    inputs: Vec<(String, Tensor)>,
    size: usize,
    order: Vec<usize>,
    /// The batch of this epoch that comes next.
    next: usize,
    rng: SplitMix64,
    /// This rank's share of each batch, as a range of its rows.
    share: std::ops::Range<usize>,
}

impl Batches {
    /// Batches of `size` rows of `inputs`, which must all have the same
    /// length along axis 0, of at least `size` rows.
    pub fn new(inputs: Vec<(String, Tensor)>, size: usize, seed: u64) -> Result<Batches, String> {
        let Some((first, t)) = inputs.first() else {
            return Err("no input to cut into batches".into());
        };
        if let Some((name, t)) = inputs.iter().find(|(_, t)| t.shape.is_empty()) {
            return Err(format!(
                "input `{name}` is a scalar ({}), with no axis 0 to cut",
                t.ty()
            ));
        }
        let rows = t.shape[0];
        if let Some((name, other)) = inputs.iter().find(|(_, t)| t.shape[0] != rows) {
            return Err(format!(
                "`{first}` has {rows} rows but `{name}` has {}; inputs cut into batches must have the same length along axis 0",
                other.shape[0]
            ));
        }
        if size > rows {
            return Err(format!(
                "batch {size} is larger than the {rows} rows of input `{first}`"
            ));
        }
        let mut batches = Batches {
            inputs,
            size,
            order: (0..rows).collect(),
            next: 0,
            rng: SplitMix64::for_param(seed, "batch/shuffle"),
            share: 0..size,
        };
        batches.shuffle();
        Ok(batches)
    }

    /// From now on, yields only rank `rank`'s share of each batch, of `ranks`
    /// equal shares; `ranks` must divide the batch size.
    pub fn share(&mut self, rank: usize, ranks: usize) -> Result<(), String> {
        if ranks == 0 || rank >= ranks || !self.size.is_multiple_of(ranks) {
            return Err(format!(
                "batch {} cannot be shared equally by {ranks} ranks; make it a multiple of {ranks}",
                self.size
            ));
        }
        let each = self.size / ranks;
        self.share = rank * each..(rank + 1) * each;
        Ok(())
    }

    /// The next minibatch of every batched input (this rank's share of it),
    /// in the order they were given.
    pub fn next_batch(&mut self) -> Vec<Tensor> {
        if self.next == self.order.len() / self.size {
            self.shuffle();
            self.next = 0;
        }
        let batch = &self.order[self.next * self.size..(self.next + 1) * self.size];
        let rows = &batch[self.share.clone()];
        self.next += 1;
        self.inputs
            .iter()
            .map(|(_, t)| take_rows(t, rows))
            .collect()
    }

    fn shuffle(&mut self) {
        for i in (1..self.order.len()).rev() {
            // Lemire's multiply-shift: a draw in 0..=i without a division.
            let j = ((self.rng.next_u64() as u128 * (i as u128 + 1)) >> 64) as usize;
            self.order.swap(i, j);
        }
    }
}

/// Rows `rows` of `t` (along axis 0), in that order.
fn take_rows(t: &Tensor, rows: &[usize]) -> Tensor {
    let row_len: usize = t.shape[1..].iter().product();
    fn pick<T: Copy>(v: &[T], row_len: usize, rows: &[usize]) -> Vec<T> {
        rows.iter()
            .flat_map(|&r| &v[r * row_len..(r + 1) * row_len])
            .copied()
            .collect()
    }
    let data = match &t.data {
        Data::F32(v) => Data::F32(pick(v, row_len, rows)),
        Data::F64(v) => Data::F64(pick(v, row_len, rows)),
        Data::I32(v) => Data::I32(pick(v, row_len, rows)),
        Data::I64(v) => Data::I64(pick(v, row_len, rows)),
        Data::Bool(v) => Data::Bool(pick(v, row_len, rows)),
    };
    let mut shape = t.shape.clone();
    shape[0] = rows.len();
    Tensor { shape, data }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn column(n: usize) -> Tensor {
        Tensor::new(vec![n], Data::I64((0..n as i64).collect())).expect("fits")
    }

    fn rows_of(t: &Tensor) -> Vec<i64> {
        match &t.data {
            Data::I64(v) => v.clone(),
            other => panic!("expected i64 data, got {other:?}"),
        }
    }

    #[test]
    fn every_epoch_is_a_permutation_and_epochs_differ() {
        let mut b = Batches::new(vec![("x".into(), column(10))], 5, 7).expect("valid");
        let epoch = |b: &mut Batches| {
            let mut seen: Vec<i64> = (0..2).flat_map(|_| rows_of(&b.next_batch()[0])).collect();
            let order = seen.clone();
            seen.sort_unstable();
            assert_eq!(seen, (0..10).collect::<Vec<_>>());
            order
        };
        let first = epoch(&mut b);
        let second = epoch(&mut b);
        assert_ne!(first, second, "each epoch is reshuffled");
        assert_ne!(
            first,
            (0..10).collect::<Vec<_>>(),
            "the first epoch is shuffled too"
        );
    }

    #[test]
    fn inputs_keep_their_rows_together_and_a_partial_batch_is_dropped() {
        let x =
            Tensor::new(vec![7, 2], Data::F32((0..14).map(|i| i as f32).collect())).expect("fits");
        let mut b =
            Batches::new(vec![("i".into(), column(7)), ("x".into(), x)], 3, 0).expect("valid");
        let mut seen = Vec::new();
        for _ in 0..2 {
            let batch = b.next_batch();
            assert_eq!(batch[1].shape, [3, 2]);
            let Data::F32(xs) = &batch[1].data else {
                panic!("x stays f32")
            };
            for (k, &i) in rows_of(&batch[0]).iter().enumerate() {
                assert_eq!(
                    &xs[2 * k..2 * k + 2],
                    &[2.0 * i as f32, 2.0 * i as f32 + 1.0]
                );
                seen.push(i);
            }
        }
        seen.sort_unstable();
        seen.dedup();
        assert_eq!(
            seen.len(),
            6,
            "two whole batches of distinct rows, one row left out"
        );
    }

    #[test]
    fn the_same_seed_gives_the_same_order() {
        let order = |seed| {
            let mut b = Batches::new(vec![("x".into(), column(20))], 4, seed).expect("valid");
            (0..10)
                .flat_map(|_| rows_of(&b.next_batch()[0]))
                .collect::<Vec<_>>()
        };
        assert_eq!(order(3), order(3));
        assert_ne!(order(3), order(4));
    }

    #[test]
    fn ranks_share_each_batch_exactly() {
        let whole: Vec<Vec<i64>> = {
            let mut b = Batches::new(vec![("x".into(), column(12))], 6, 5).expect("valid");
            (0..5).map(|_| rows_of(&b.next_batch()[0])).collect()
        };
        let mut ranks: Vec<Batches> = (0..3)
            .map(|r| {
                let mut b = Batches::new(vec![("x".into(), column(12))], 6, 5).expect("valid");
                b.share(r, 3).expect("3 divides 6");
                b
            })
            .collect();
        for batch in whole {
            let shared: Vec<i64> = ranks
                .iter_mut()
                .flat_map(|b| rows_of(&b.next_batch()[0]))
                .collect();
            assert_eq!(shared, batch);
        }
        let mut b = Batches::new(vec![("x".into(), column(12))], 6, 5).expect("valid");
        let err = b.share(0, 4).expect_err("4 does not divide 6");
        assert!(
            err.contains("batch 6 cannot be shared equally by 4 ranks"),
            "{err}"
        );
    }

    #[test]
    fn rejects_what_cannot_be_batched() {
        let scalar = Tensor::new(vec![], Data::I64(vec![1])).expect("fits");
        let cases = [
            (vec![("s".to_string(), scalar)], 1, "scalar"),
            (
                vec![("a".to_string(), column(4)), ("b".to_string(), column(5))],
                2,
                "`a` has 4 rows but `b` has 5",
            ),
            (
                vec![("a".to_string(), column(4))],
                5,
                "larger than the 4 rows",
            ),
        ];
        for (inputs, size, expected) in cases {
            let err = Batches::new(inputs, size, 0).err().expect("rejected");
            assert!(err.contains(expected), "`{err}` should say `{expected}`");
        }
    }
}
