//! What the elementwise ops of both IRs compute on one element: the single
//! definition of tfg's numeric semantics (numpy's), which the Graph IR and
//! Kernel IR interpreters and the constant folder all use, so that they
//! cannot disagree.
//!
//! Integer arithmetic wraps, as numpy's fixed-width integers do; integer `//`
//! floors and gives 0 for a zero divisor; float math stays in the operand's
//! width (f32 math is never done through f64); `maximum` and `minimum` let a
//! NaN win. Code generic over [`Num`] and [`Float`] is instantiated per dtype
//! by the `with_*` dispatch macros; [`unary`], [`binary`] and [`cast`] do the
//! same on one [`Scalar`].

use crate::kernel::Scalar;
use crate::{BinaryOp, DType, Data, UnaryOp};

/// A Rust type that stores one [`DType`]'s elements in a [`Data`] buffer.
pub trait Elem: Copy + PartialEq + 'static {
    /// The elements of `d`, if it holds this type; `None` for another dtype.
    fn slice(d: &Data) -> Option<&[Self]>;
    /// A [`Data`] buffer holding `v`.
    fn wrap(v: Vec<Self>) -> Data;
}

/// Numeric elements: everything but bool.
pub trait Num: Elem + PartialOrd {
    /// The additive identity.
    const ZERO: Self;
    /// The multiplicative identity.
    const ONE: Self;
    /// `self + o`; integers wrap.
    fn add(self, o: Self) -> Self;
    /// `self - o`; integers wrap.
    fn sub(self, o: Self) -> Self;
    /// `self * o`; integers wrap.
    fn mul(self, o: Self) -> Self;
    /// True division for floats; floor division for integers, with `x // 0 == 0`.
    fn div(self, o: Self) -> Self;
    /// For integers, a negative exponent gives 0 unless the base is 1 or -1.
    fn pow(self, o: Self) -> Self;
    /// `-self`; integers wrap (`-MIN == MIN`).
    fn neg(self) -> Self;
    /// `|self|`; integers wrap (`abs(MIN) == MIN`).
    fn abs(self) -> Self;
    /// -1, 0 or 1 (NaN stays NaN).
    fn sign(self) -> Self;
    /// Whether this is a NaN; always false for integers.
    fn is_nan(self) -> bool;

    /// numpy `maximum`: a NaN operand wins.
    fn maximum(self, o: Self) -> Self {
        if self.is_nan() || self >= o {
            self
        } else {
            o
        }
    }

    /// numpy `minimum`: a NaN operand wins.
    fn minimum(self, o: Self) -> Self {
        if self.is_nan() || self <= o {
            self
        } else {
            o
        }
    }

    /// `self * self`; integers wrap.
    fn square(self) -> Self {
        self.mul(self)
    }

    /// `maximum(x, 0)`, so NaN stays NaN.
    fn relu(self) -> Self {
        self.maximum(Self::ZERO)
    }
}

/// Floating-point elements: the transcendental functions.
pub trait Float: Num {
    /// `e^self`.
    fn exp(self) -> Self;
    /// The natural logarithm; NaN below 0, -inf at 0.
    fn ln(self) -> Self;
    /// The square root; NaN below 0.
    fn sqrt(self) -> Self;
    /// The hyperbolic tangent.
    fn tanh(self) -> Self;
    /// The sine, of an angle in radians.
    fn sin(self) -> Self;
    /// The cosine, of an angle in radians.
    fn cos(self) -> Self;
    /// Rounds towards -inf.
    fn floor(self) -> Self;
    /// Rounds towards +inf.
    fn ceil(self) -> Self;
    /// `n` rounded to this type, for means.
    fn from_count(n: usize) -> Self;

    /// `1 / sqrt(self)`, computed as the two operations.
    fn rsqrt(self) -> Self {
        Self::ONE.div(self.sqrt())
    }

    /// `1 / self`; ±inf at ±0.
    fn reciprocal(self) -> Self {
        Self::ONE.div(self)
    }

    /// `1 / (1 + exp(-x))`, rearranged for negative `x` so that `exp` never
    /// overflows.
    fn sigmoid(self) -> Self {
        if self >= Self::ZERO {
            Self::ONE.div(Self::ONE.add(self.neg().exp()))
        } else {
            let e = self.exp();
            e.div(Self::ONE.add(e))
        }
    }
}

macro_rules! impl_elem {
    ($t:ty, $variant:ident) => {
        impl Elem for $t {
            fn slice(d: &Data) -> Option<&[Self]> {
                match d {
                    Data::$variant(v) => Some(v),
                    _ => None,
                }
            }
            fn wrap(v: Vec<Self>) -> Data {
                Data::$variant(v)
            }
        }
    };
}

impl_elem!(f32, F32);
impl_elem!(f64, F64);
impl_elem!(i32, I32);
impl_elem!(i64, I64);
impl_elem!(bool, Bool);

macro_rules! impl_float {
    ($t:ty) => {
        impl Num for $t {
            const ZERO: Self = 0.0;
            const ONE: Self = 1.0;
            fn add(self, o: Self) -> Self {
                self + o
            }
            fn sub(self, o: Self) -> Self {
                self - o
            }
            fn mul(self, o: Self) -> Self {
                self * o
            }
            fn div(self, o: Self) -> Self {
                self / o
            }
            fn pow(self, o: Self) -> Self {
                self.powf(o)
            }
            fn neg(self) -> Self {
                -self
            }
            fn abs(self) -> Self {
                <$t>::abs(self)
            }
            fn sign(self) -> Self {
                if self > 0.0 {
                    1.0
                } else if self < 0.0 {
                    -1.0
                } else if self == 0.0 {
                    0.0
                } else {
                    self
                }
            }
            fn is_nan(self) -> bool {
                <$t>::is_nan(self)
            }
        }

        impl Float for $t {
            fn exp(self) -> Self {
                <$t>::exp(self)
            }
            fn ln(self) -> Self {
                <$t>::ln(self)
            }
            fn sqrt(self) -> Self {
                <$t>::sqrt(self)
            }
            fn tanh(self) -> Self {
                <$t>::tanh(self)
            }
            fn sin(self) -> Self {
                <$t>::sin(self)
            }
            fn cos(self) -> Self {
                <$t>::cos(self)
            }
            fn floor(self) -> Self {
                <$t>::floor(self)
            }
            fn ceil(self) -> Self {
                <$t>::ceil(self)
            }
            fn from_count(n: usize) -> Self {
                n as $t
            }
        }
    };
}

impl_float!(f32);
impl_float!(f64);

macro_rules! impl_int {
    ($t:ty) => {
        impl Num for $t {
            const ZERO: Self = 0;
            const ONE: Self = 1;
            fn add(self, o: Self) -> Self {
                self.wrapping_add(o)
            }
            fn sub(self, o: Self) -> Self {
                self.wrapping_sub(o)
            }
            fn mul(self, o: Self) -> Self {
                self.wrapping_mul(o)
            }
            fn div(self, o: Self) -> Self {
                if o == 0 {
                    return 0;
                }
                // Rust truncates toward zero; Python's `//` rounds toward -inf.
                let q = self.wrapping_div(o);
                if self.wrapping_rem(o) != 0 && ((self < 0) != (o < 0)) {
                    q - 1
                } else {
                    q
                }
            }
            fn pow(self, o: Self) -> Self {
                if o < 0 {
                    return match self {
                        1 => 1,
                        -1 if o % 2 == 0 => 1,
                        -1 => -1,
                        _ => 0,
                    };
                }
                // Square-and-multiply, wrapping like numpy's fixed-width power.
                let (mut base, mut exp, mut acc): (Self, Self, Self) = (self, o, 1);
                while exp > 0 {
                    if exp & 1 == 1 {
                        acc = acc.wrapping_mul(base);
                    }
                    base = base.wrapping_mul(base);
                    exp >>= 1;
                }
                acc
            }
            fn neg(self) -> Self {
                self.wrapping_neg()
            }
            fn abs(self) -> Self {
                self.wrapping_abs()
            }
            fn sign(self) -> Self {
                self.signum()
            }
            fn is_nan(self) -> bool {
                false
            }
        }
    };
}

impl_int!(i32);
impl_int!(i64);

/// Evaluates `$body` with the type alias `$T` bound to the Rust type of
/// `$dtype`; bool goes to `$bool` (an expression).
#[doc(hidden)]
#[macro_export]
macro_rules! with_numeric {
    ($dtype:expr, $T:ident => $body:expr, bool => $bool:expr) => {
        match $dtype {
            $crate::DType::F32 => {
                type $T = f32;
                $body
            }
            $crate::DType::F64 => {
                type $T = f64;
                $body
            }
            $crate::DType::I32 => {
                type $T = i32;
                $body
            }
            $crate::DType::I64 => {
                type $T = i64;
                $body
            }
            $crate::DType::Bool => $bool,
        }
    };
}

/// As [`with_numeric`], for every dtype.
#[doc(hidden)]
#[macro_export]
macro_rules! with_any {
    ($dtype:expr, $T:ident => $body:expr) => {
        match $dtype {
            $crate::DType::F32 => {
                type $T = f32;
                $body
            }
            $crate::DType::F64 => {
                type $T = f64;
                $body
            }
            $crate::DType::I32 => {
                type $T = i32;
                $body
            }
            $crate::DType::I64 => {
                type $T = i64;
                $body
            }
            $crate::DType::Bool => {
                type $T = bool;
                $body
            }
        }
    };
}

/// As [`with_numeric`], for the float dtypes; the others go to `$other`.
#[doc(hidden)]
#[macro_export]
macro_rules! with_float {
    ($dtype:expr, $T:ident => $body:expr, other => $other:expr) => {
        match $dtype {
            $crate::DType::F32 => {
                type $T = f32;
                $body
            }
            $crate::DType::F64 => {
                type $T = f64;
                $body
            }
            _ => $other,
        }
    };
}

pub use crate::{with_any, with_float, with_numeric};

/// The buffer of `d` as `T`s, or an error naming both dtypes.
pub fn typed<T: Elem>(d: &Data, expected: DType) -> Result<&[T], String> {
    T::slice(d).ok_or_else(|| format!("expected {expected} data, found {}", d.dtype()))
}

/// The unary ops every numeric dtype has, on one element.
pub fn numeric_unary<T: Num>(op: UnaryOp) -> Option<fn(T) -> T> {
    Some(match op {
        UnaryOp::Neg => T::neg,
        UnaryOp::Abs => T::abs,
        UnaryOp::Square => T::square,
        UnaryOp::Relu => T::relu,
        UnaryOp::Sign => T::sign,
        _ => return None,
    })
}

/// Every unary op a float dtype has, on one element.
pub fn float_unary<T: Float>(op: UnaryOp) -> Option<fn(T) -> T> {
    Some(match op {
        UnaryOp::Exp => T::exp,
        UnaryOp::Log => T::ln,
        UnaryOp::Sqrt => T::sqrt,
        UnaryOp::Rsqrt => T::rsqrt,
        UnaryOp::Tanh => T::tanh,
        UnaryOp::Sigmoid => T::sigmoid,
        UnaryOp::Sin => T::sin,
        UnaryOp::Cos => T::cos,
        UnaryOp::Floor => T::floor,
        UnaryOp::Ceil => T::ceil,
        UnaryOp::Reciprocal => T::reciprocal,
        _ => return numeric_unary(op),
    })
}

/// The arithmetic binary ops, on one pair of elements.
pub fn arithmetic<T: Num>(op: BinaryOp) -> Option<fn(T, T) -> T> {
    Some(match op {
        BinaryOp::Add => T::add,
        BinaryOp::Sub => T::sub,
        BinaryOp::Mul => T::mul,
        BinaryOp::Div => T::div,
        BinaryOp::Pow => T::pow,
        BinaryOp::Maximum => T::maximum,
        BinaryOp::Minimum => T::minimum,
        _ => return None,
    })
}

/// IEEE comparisons: anything against NaN is false, except `!=`; `false <
/// true`, as in numpy.
pub fn comparison<T: PartialOrd>(op: BinaryOp) -> Option<fn(T, T) -> bool> {
    Some(match op {
        BinaryOp::Lt => |a, b| a < b,
        BinaryOp::Le => |a, b| a <= b,
        BinaryOp::Gt => |a, b| a > b,
        BinaryOp::Ge => |a, b| a >= b,
        BinaryOp::Eq => |a, b| a == b,
        BinaryOp::Ne => |a, b| a != b,
        _ => return None,
    })
}

/// `op` on one element, or why it is not defined on its dtype.
pub fn unary(op: UnaryOp, x: Scalar) -> Result<Scalar, String> {
    let r = match x {
        Scalar::F32(v) => float_unary(op).map(|f| Scalar::F32(f(v))),
        Scalar::F64(v) => float_unary(op).map(|f| Scalar::F64(f(v))),
        Scalar::I32(v) => numeric_unary(op).map(|f| Scalar::I32(f(v))),
        Scalar::I64(v) => numeric_unary(op).map(|f| Scalar::I64(f(v))),
        Scalar::Bool(b) => (op == UnaryOp::Not).then_some(Scalar::Bool(!b)),
    };
    r.ok_or_else(|| format!("{} is not defined on {}", op.name(), x.dtype()))
}

/// `op` on one pair of elements of one dtype, or why it is not defined.
pub fn binary(op: BinaryOp, x: Scalar, y: Scalar) -> Result<Scalar, String> {
    fn compare<T: PartialOrd>(op: BinaryOp, a: T, b: T) -> Option<Scalar> {
        comparison(op).map(|f| Scalar::Bool(f(a, b)))
    }
    let r = if op.is_comparison() {
        match (x, y) {
            (Scalar::F32(a), Scalar::F32(b)) => compare(op, a, b),
            (Scalar::F64(a), Scalar::F64(b)) => compare(op, a, b),
            (Scalar::I32(a), Scalar::I32(b)) => compare(op, a, b),
            (Scalar::I64(a), Scalar::I64(b)) => compare(op, a, b),
            (Scalar::Bool(a), Scalar::Bool(b)) => compare(op, a, b),
            _ => None,
        }
    } else {
        match (x, y) {
            (Scalar::F32(a), Scalar::F32(b)) => arithmetic(op).map(|f| Scalar::F32(f(a, b))),
            (Scalar::F64(a), Scalar::F64(b)) => arithmetic(op).map(|f| Scalar::F64(f(a, b))),
            (Scalar::I32(a), Scalar::I32(b)) => arithmetic(op).map(|f| Scalar::I32(f(a, b))),
            (Scalar::I64(a), Scalar::I64(b)) => arithmetic(op).map(|f| Scalar::I64(f(a, b))),
            _ => None,
        }
    };
    r.ok_or_else(|| {
        format!(
            "{} is not defined on {} and {}",
            op.name(),
            x.dtype(),
            y.dtype()
        )
    })
}

/// The neutral element of `op` as an accumulator of dtype `d`: `op(identity,
/// y) == y` for every `y` of `d` (for float sums `-0.0`, since `-0.0 + y` is
/// `y` even for `y = -0.0`). `None` for an op that does not accumulate, and
/// for bool, which no reduction takes. The one definition every backend's
/// reduction partials start from.
pub fn identity(op: BinaryOp, d: DType) -> Option<Scalar> {
    Some(match (op, d) {
        (_, DType::Bool) => return None,
        (BinaryOp::Add, DType::F32) => Scalar::F32(-0.0),
        (BinaryOp::Add, DType::F64) => Scalar::F64(-0.0),
        (BinaryOp::Add, _) => Scalar::from_f64(d, 0.0),
        (BinaryOp::Mul, _) => Scalar::from_f64(d, 1.0),
        (BinaryOp::Maximum, _) => lowest(d),
        (BinaryOp::Minimum, _) => highest(d),
        _ => return None,
    })
}

/// The least value of `d` (`-inf` for floats): what a running maximum starts at.
pub fn lowest(d: DType) -> Scalar {
    match d {
        DType::F32 => Scalar::F32(f32::NEG_INFINITY),
        DType::F64 => Scalar::F64(f64::NEG_INFINITY),
        DType::I32 => Scalar::I32(i32::MIN),
        DType::I64 => Scalar::I64(i64::MIN),
        DType::Bool => Scalar::Bool(false),
    }
}

/// The greatest value of `d` (`inf` for floats): what a running minimum starts at.
pub fn highest(d: DType) -> Scalar {
    match d {
        DType::F32 => Scalar::F32(f32::INFINITY),
        DType::F64 => Scalar::F64(f64::INFINITY),
        DType::I32 => Scalar::I32(i32::MAX),
        DType::I64 => Scalar::I64(i64::MAX),
        DType::Bool => Scalar::Bool(true),
    }
}

/// numpy `astype`: floats truncate toward zero into integers (saturating,
/// and NaN gives 0, where numpy leaves such values undefined), integers wrap
/// into narrower ones, nonzero (NaN included) is true, and bool is 0 or 1.
pub fn cast(x: Scalar, to: DType) -> Scalar {
    macro_rules! convert {
        ($v:expr, $zero:expr) => {
            match to {
                DType::F32 => Scalar::F32($v as f32),
                DType::F64 => Scalar::F64($v as f64),
                DType::I32 => Scalar::I32($v as i32),
                DType::I64 => Scalar::I64($v as i64),
                DType::Bool => Scalar::Bool($v != $zero),
            }
        };
    }
    match x {
        Scalar::F32(v) => convert!(v, 0.0),
        Scalar::F64(v) => convert!(v, 0.0),
        Scalar::I32(v) => convert!(v, 0),
        Scalar::I64(v) => convert!(v, 0),
        Scalar::Bool(v) => convert!(u8::from(v), 0),
    }
}

/// The elements `f(0)`, `f(1)`, … `f(n - 1)` as a buffer of `dtype`; `None`
/// where `f` gives `None` or a scalar of another dtype.
pub fn collect(dtype: DType, n: usize, f: impl FnMut(usize) -> Option<Scalar>) -> Option<Data> {
    fn gather<T>(
        n: usize,
        mut f: impl FnMut(usize) -> Option<Scalar>,
        pick: fn(Scalar) -> Option<T>,
    ) -> Option<Vec<T>> {
        (0..n).map(|i| f(i).and_then(pick)).collect()
    }
    Some(match dtype {
        DType::F32 => Data::F32(gather(n, f, |s| match s {
            Scalar::F32(x) => Some(x),
            _ => None,
        })?),
        DType::F64 => Data::F64(gather(n, f, |s| match s {
            Scalar::F64(x) => Some(x),
            _ => None,
        })?),
        DType::I32 => Data::I32(gather(n, f, |s| match s {
            Scalar::I32(x) => Some(x),
            _ => None,
        })?),
        DType::I64 => Data::I64(gather(n, f, |s| match s {
            Scalar::I64(x) => Some(x),
            _ => None,
        })?),
        DType::Bool => Data::Bool(gather(n, f, |s| match s {
            Scalar::Bool(x) => Some(x),
            _ => None,
        })?),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_identity_leaves_every_value_as_it_is() {
        let specials = [
            0.0,
            -0.0,
            1.0,
            -1.5,
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::MAX,
            f64::MIN_POSITIVE,
            1e-310,
            i32::MIN as f64,
            i64::MAX as f64,
        ];
        let ints = [
            0i64,
            1,
            -1,
            i64::from(i32::MIN),
            i64::from(i32::MAX),
            i64::MIN,
            i64::MAX,
        ];
        let mut checked = 0;
        for op in BinaryOp::ALL {
            for d in [DType::F32, DType::F64, DType::I32, DType::I64, DType::Bool] {
                let Some(id) = identity(op, d) else {
                    continue;
                };
                assert_eq!(id.dtype(), d);
                let values: Vec<Scalar> = match d {
                    DType::I32 => ints.iter().map(|&x| Scalar::I32(x as i32)).collect(),
                    DType::I64 => ints.iter().map(|&x| Scalar::I64(x)).collect(),
                    _ => specials.iter().map(|&x| Scalar::from_f64(d, x)).collect(),
                };
                for y in values {
                    for (a, b) in [(id, y), (y, id)] {
                        let r = binary(op, a, b).expect("defined");
                        // By bits: -0.0 must stay -0.0.
                        assert_eq!(format!("{r:?}"), format!("{y:?}"), "{op:?} {a:?} {b:?}");
                    }
                    checked += 1;
                }
            }
        }
        // Add, Mul, Maximum, Minimum over four dtypes.
        assert_eq!(checked, 4 * (2 * specials.len() + 2 * ints.len()));
        assert_eq!(identity(BinaryOp::Sub, DType::F32), None);
        assert_eq!(identity(BinaryOp::Add, DType::Bool), None);
    }

    #[test]
    fn integer_division_floors_like_python() {
        // Python: 7 // 2, -7 // 2, 7 // -2, -7 // -2, 6 // -3.
        let cases = [
            (7, 2, 3),
            (-7, 2, -4),
            (7, -2, -4),
            (-7, -2, 3),
            (6, -3, -2),
            (5, 0, 0),
        ];
        for (a, b, q) in cases {
            assert_eq!(Num::div(a, b), q, "{a} // {b}");
            assert_eq!(Num::div(a as i64, b as i64), q as i64, "{a} // {b}");
        }
        assert_eq!(Num::div(i32::MIN, -1), i32::MIN);
    }

    #[test]
    fn integer_power_follows_the_type_rule() {
        assert_eq!(Num::pow(3i32, 4), 81);
        assert_eq!(Num::pow(-2i64, 3), -8);
        assert_eq!(Num::pow(0i32, 0), 1);
        assert_eq!(Num::pow(2i32, -1), 0);
        assert_eq!(Num::pow(1i32, -5), 1);
        assert_eq!(Num::pow(-1i32, -3), -1);
        assert_eq!(Num::pow(-1i64, -4), 1);
        // 3**40 wraps modulo 2**32 as numpy's int32 power does.
        assert_eq!(Num::pow(3i32, 40), 3i128.pow(40) as u32 as i32);
    }

    #[test]
    fn sigmoid_does_not_overflow() {
        assert_eq!(Float::sigmoid(-1000.0f32), 0.0);
        assert_eq!(Float::sigmoid(1000.0f32), 1.0);
        assert!(Float::sigmoid(f32::NAN).is_nan());
        assert!((Float::sigmoid(-20.0f32) - 2.0611537e-9).abs() < 1e-15);
    }

    #[test]
    fn maximum_and_minimum_propagate_nan_from_either_side() {
        assert!(Num::maximum(f32::NAN, 1.0).is_nan());
        assert!(Num::maximum(1.0f32, f32::NAN).is_nan());
        assert!(Num::minimum(f64::NAN, 1.0).is_nan());
        assert!(Num::minimum(1.0f64, f64::NAN).is_nan());
        assert!(Num::relu(f32::NAN).is_nan());
        assert_eq!(Num::sign(-0.0f32), 0.0);
        assert!(Num::sign(f64::NAN).is_nan());
    }
}
