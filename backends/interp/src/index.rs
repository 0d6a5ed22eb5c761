//! Row-major index arithmetic: strides, and walks over strided views.
//!
//! Broadcasting, transposition and reduction are all the same move: walk the
//! result's positions in row-major order while stepping through the operand
//! with some strides (0 along broadcast dims, permuted for a transpose).

/// Row-major strides of `shape`, in elements.
pub(crate) fn strides(shape: &[usize]) -> Vec<usize> {
    let mut s = vec![1; shape.len()];
    for i in (0..shape.len().saturating_sub(1)).rev() {
        s[i] = s[i + 1] * shape[i + 1];
    }
    s
}

/// Strides that read a tensor of shape `from` as if it had been broadcast to
/// `to` (aligned from the right; stretched and missing dims get stride 0).
pub(crate) fn broadcast_strides(from: &[usize], to: &[usize]) -> Vec<usize> {
    let own = strides(from);
    let pad = to.len() - from.len();
    (0..to.len())
        .map(|i| match i.checked_sub(pad) {
            Some(j) if from[j] != 1 => own[j],
            _ => 0,
        })
        .collect()
}

/// The offsets `sum(index[d] * strides[d])` of every index of `shape`, in
/// row-major order of the index.
pub(crate) struct Offsets {
    shape: Vec<usize>,
    strides: Vec<usize>,
    index: Vec<usize>,
    offset: usize,
    remaining: usize,
}

impl Offsets {
    pub(crate) fn new(shape: &[usize], strides: Vec<usize>) -> Offsets {
        Offsets {
            shape: shape.to_vec(),
            index: vec![0; shape.len()],
            strides,
            offset: 0,
            remaining: shape.iter().product(),
        }
    }
}

impl Iterator for Offsets {
    type Item = usize;

    fn next(&mut self) -> Option<usize> {
        if self.remaining == 0 {
            return None;
        }
        self.remaining -= 1;
        let current = self.offset;
        for d in (0..self.shape.len()).rev() {
            self.index[d] += 1;
            self.offset += self.strides[d];
            if self.index[d] < self.shape[d] {
                break;
            }
            self.offset -= self.strides[d] * self.shape[d];
            self.index[d] = 0;
        }
        Some(current)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.remaining, Some(self.remaining))
    }
}

impl ExactSizeIterator for Offsets {}

/// `v` read through `Offsets::new(shape, strides)`: a gather into a new buffer.
pub(crate) fn gather<T: Copy>(v: &[T], shape: &[usize], strides: Vec<usize>) -> Vec<T> {
    Offsets::new(shape, strides).map(|o| v[o]).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strides_are_row_major() {
        assert_eq!(strides(&[2, 3, 4]), [12, 4, 1]);
        assert_eq!(strides(&[]), [0usize; 0]);
    }

    #[test]
    fn broadcast_strides_zero_the_stretched_dims() {
        assert_eq!(broadcast_strides(&[3, 1], &[2, 3, 4]), [0, 1, 0]);
        assert_eq!(broadcast_strides(&[], &[2]), [0]);
    }

    #[test]
    fn offsets_walk_a_transposed_view() {
        // A 2x3 matrix read as its 3x2 transpose.
        let got: Vec<usize> = Offsets::new(&[3, 2], vec![1, 3]).collect();
        assert_eq!(got, [0, 3, 1, 4, 2, 5]);
        assert_eq!(Offsets::new(&[], vec![]).collect::<Vec<_>>(), [0]);
        assert_eq!(Offsets::new(&[2, 0], vec![0, 1]).count(), 0);
    }
}
