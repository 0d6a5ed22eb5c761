//! Element types and their arithmetic, with numpy's semantics.
//!
//! Kernels are written once, generic over these traits, and instantiated per
//! dtype by the `with_*` dispatch macros. Integer arithmetic wraps, as numpy's
//! fixed-width integers do; float math stays in the operand's width (f32 math
//! is never done through f64).

use tfg_ir::{DType, Data};

/// A Rust type that stores one [`DType`]'s elements in a [`Data`] buffer.
pub(crate) trait Elem: Copy + PartialEq + 'static {
    fn slice(d: &Data) -> Option<&[Self]>;
    fn wrap(v: Vec<Self>) -> Data;
}

/// Numeric elements: everything but bool.
pub(crate) trait Num: Elem + PartialOrd {
    const ZERO: Self;
    const ONE: Self;
    fn add(self, o: Self) -> Self;
    fn sub(self, o: Self) -> Self;
    fn mul(self, o: Self) -> Self;
    /// True division for floats; floor division for integers, with `x // 0 == 0`.
    fn div(self, o: Self) -> Self;
    /// For integers, a negative exponent gives 0 unless the base is 1 or -1.
    fn pow(self, o: Self) -> Self;
    fn neg(self) -> Self;
    fn abs(self) -> Self;
    /// -1, 0 or 1 (NaN stays NaN).
    fn sign(self) -> Self;
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

    fn square(self) -> Self {
        self.mul(self)
    }

    /// `maximum(x, 0)`, so NaN stays NaN.
    fn relu(self) -> Self {
        self.maximum(Self::ZERO)
    }
}

/// Floating-point elements: the transcendental functions.
pub(crate) trait Float: Num {
    fn exp(self) -> Self;
    fn ln(self) -> Self;
    fn sqrt(self) -> Self;
    fn tanh(self) -> Self;
    fn sin(self) -> Self;
    fn cos(self) -> Self;
    fn floor(self) -> Self;
    fn ceil(self) -> Self;
    /// `n` rounded to this type, for means.
    fn from_count(n: usize) -> Self;

    fn rsqrt(self) -> Self {
        Self::ONE.div(self.sqrt())
    }

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
macro_rules! with_numeric {
    ($dtype:expr, $T:ident => $body:expr, bool => $bool:expr) => {
        match $dtype {
            tfg_ir::DType::F32 => {
                type $T = f32;
                $body
            }
            tfg_ir::DType::F64 => {
                type $T = f64;
                $body
            }
            tfg_ir::DType::I32 => {
                type $T = i32;
                $body
            }
            tfg_ir::DType::I64 => {
                type $T = i64;
                $body
            }
            tfg_ir::DType::Bool => $bool,
        }
    };
}

/// As [`with_numeric`], for every dtype.
macro_rules! with_any {
    ($dtype:expr, $T:ident => $body:expr) => {
        match $dtype {
            tfg_ir::DType::F32 => {
                type $T = f32;
                $body
            }
            tfg_ir::DType::F64 => {
                type $T = f64;
                $body
            }
            tfg_ir::DType::I32 => {
                type $T = i32;
                $body
            }
            tfg_ir::DType::I64 => {
                type $T = i64;
                $body
            }
            tfg_ir::DType::Bool => {
                type $T = bool;
                $body
            }
        }
    };
}

/// As [`with_numeric`], for the float dtypes; the others go to `$other`.
macro_rules! with_float {
    ($dtype:expr, $T:ident => $body:expr, other => $other:expr) => {
        match $dtype {
            tfg_ir::DType::F32 => {
                type $T = f32;
                $body
            }
            tfg_ir::DType::F64 => {
                type $T = f64;
                $body
            }
            _ => $other,
        }
    };
}

pub(crate) use {with_any, with_float, with_numeric};

/// The buffer of `d` as `T`s, or an error naming both dtypes.
pub(crate) fn typed<T: Elem>(d: &Data, expected: DType) -> Result<&[T], String> {
    T::slice(d).ok_or_else(|| format!("expected {expected} data, found {}", d.dtype()))
}

#[cfg(test)]
mod tests {
    use super::*;

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
