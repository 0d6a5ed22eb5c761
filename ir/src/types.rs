//! Element types and shapes.
//!
//! A [`Shape`] is a list of [`Dim`]s; a dim is either a known size or a
//! symbolic name (`B`) bound later by the feeds or by `--dim`. All uses of one
//! name within a graph denote the same size.

use std::fmt;

/// The element type of a tensor: the five dtypes the language has.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DType {
    /// 32-bit IEEE float.
    F32,
    /// 64-bit IEEE float.
    F64,
    /// 32-bit signed integer; arithmetic wraps.
    I32,
    /// 64-bit signed integer; arithmetic wraps.
    I64,
    /// Truth value, one byte per element.
    Bool,
}

impl DType {
    /// Every dtype, in the order of the variants.
    pub const ALL: [DType; 5] = [DType::F32, DType::F64, DType::I32, DType::I64, DType::Bool];

    /// The dtype's name in the language and the text form (`f32`, …).
    pub fn name(self) -> &'static str {
        match self {
            DType::F32 => "f32",
            DType::F64 => "f64",
            DType::I32 => "i32",
            DType::I64 => "i64",
            DType::Bool => "bool",
        }
    }

    /// The dtype the language calls `s`, if any.
    pub fn from_name(s: &str) -> Option<DType> {
        DType::ALL.into_iter().find(|d| d.name() == s)
    }

    /// `f32` or `f64`: the dtypes that carry gradients.
    pub fn is_float(self) -> bool {
        matches!(self, DType::F32 | DType::F64)
    }

    /// `i32` or `i64`.
    pub fn is_int(self) -> bool {
        matches!(self, DType::I32 | DType::I64)
    }

    /// Size of one element in bytes.
    pub fn size(self) -> usize {
        match self {
            DType::F32 | DType::I32 => 4,
            DType::F64 | DType::I64 => 8,
            DType::Bool => 1,
        }
    }
}

impl fmt::Display for DType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One dimension of a shape.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Dim {
    /// A size fixed when the graph is built.
    Known(u64),
    /// A size named in the program (`B`), bound later by the feeds or by
    /// `--dim`.
    Sym(String),
}

impl Dim {
    /// The size, if it is known.
    pub fn known(self: &Dim) -> Option<u64> {
        match self {
            Dim::Known(n) => Some(*n),
            Dim::Sym(_) => None,
        }
    }
}

impl From<u64> for Dim {
    fn from(n: u64) -> Dim {
        Dim::Known(n)
    }
}

impl fmt::Display for Dim {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Dim::Known(n) => write!(f, "{n}"),
            Dim::Sym(s) => f.write_str(s),
        }
    }
}

/// A tensor shape; rank 0 is a scalar.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Shape(pub Vec<Dim>);

impl Shape {
    /// The shape of rank 0.
    pub fn scalar() -> Shape {
        Shape(Vec::new())
    }

    /// A shape of known dims.
    pub fn known(dims: &[u64]) -> Shape {
        Shape(dims.iter().map(|&d| Dim::Known(d)).collect())
    }

    /// The number of dims.
    pub fn rank(&self) -> usize {
        self.0.len()
    }

    /// The sizes, if no dim is symbolic.
    pub fn concrete(&self) -> Option<Vec<usize>> {
        self.0
            .iter()
            .map(|d| d.known().map(|n| n as usize))
            .collect()
    }

    /// Number of elements, if no dim is symbolic and the count fits 64 bits
    /// (every type that passed [`Type::check_size`] does).
    pub fn numel(&self) -> Option<u64> {
        self.0
            .iter()
            .try_fold(1u64, |acc, d| d.known().and_then(|n| acc.checked_mul(n)))
    }

    /// The product of the known dims, or `None` when it overflows 64 bits.
    /// This is the one place element counts are multiplied out.
    pub fn known_numel(&self) -> Option<u64> {
        self.0
            .iter()
            .filter_map(Dim::known)
            .try_fold(1u64, |acc, n| acc.checked_mul(n))
    }

    /// Whether a tensor of `dims` fits: the same rank, and each known dim
    /// equal (a symbolic dim takes any size; whether two uses of one
    /// symbol agree is for [`crate::specialize::bind_dims`]).
    pub fn admits(&self, dims: &[usize]) -> bool {
        dims.len() == self.rank()
            && dims
                .iter()
                .zip(&self.0)
                .all(|(&n, d)| d.known().is_none_or(|k| k == n as u64))
    }

    /// Whether any dim is a name rather than a size.
    pub fn is_symbolic(&self) -> bool {
        self.0.iter().any(|d| matches!(d, Dim::Sym(_)))
    }
}

impl fmt::Display for Shape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[")?;
        for (i, d) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{d}")?;
        }
        f.write_str("]")
    }
}

/// The type of a value: element type and shape.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Type {
    /// The element type.
    pub dtype: DType,
    /// The dims, possibly symbolic.
    pub shape: Shape,
}

impl Type {
    /// The type of `dtype` elements in `shape`.
    pub fn new(dtype: DType, shape: Shape) -> Type {
        Type { dtype, shape }
    }

    /// The rank-0 type of `dtype`.
    pub fn scalar(dtype: DType) -> Type {
        Type {
            dtype,
            shape: Shape::scalar(),
        }
    }

    /// Refuses a type whose known dims hold more bytes than a 64-bit
    /// machine can address (2^63), so that no element count or byte size
    /// computed from it wraps around.
    pub fn check_size(&self) -> Result<(), String> {
        let bytes = self
            .shape
            .known_numel()
            .and_then(|n| n.checked_mul(self.dtype.size() as u64))
            .filter(|&b| b <= i64::MAX as u64);
        match bytes {
            Some(_) => Ok(()),
            None => Err(format!(
                "{self} is too large: its size in bytes overflows 63 bits"
            )),
        }
    }
}

/// Prints as the language writes types: `f32` for scalars, `f32[B, 3]` otherwise.
impl fmt::Display for Type {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.dtype)?;
        if self.shape.rank() > 0 {
            write!(f, "{}", self.shape)?;
        }
        Ok(())
    }
}
