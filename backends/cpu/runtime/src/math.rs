//! Scalar math with exactly the Kernel IR's semantics, for what Cranelift
//! has no instruction for. Rust's `std` (libm) does the transcendental work.

#[no_mangle]
pub extern "C" fn tfg_rt_exp_f32(x: f32) -> f32 {
    x.exp()
}
#[no_mangle]
pub extern "C" fn tfg_rt_exp_f64(x: f64) -> f64 {
    x.exp()
}
#[no_mangle]
pub extern "C" fn tfg_rt_log_f32(x: f32) -> f32 {
    x.ln()
}
#[no_mangle]
pub extern "C" fn tfg_rt_log_f64(x: f64) -> f64 {
    x.ln()
}
#[no_mangle]
pub extern "C" fn tfg_rt_tanh_f32(x: f32) -> f32 {
    x.tanh()
}
#[no_mangle]
pub extern "C" fn tfg_rt_tanh_f64(x: f64) -> f64 {
    x.tanh()
}
#[no_mangle]
pub extern "C" fn tfg_rt_sin_f32(x: f32) -> f32 {
    x.sin()
}
#[no_mangle]
pub extern "C" fn tfg_rt_sin_f64(x: f64) -> f64 {
    x.sin()
}
#[no_mangle]
pub extern "C" fn tfg_rt_cos_f32(x: f32) -> f32 {
    x.cos()
}
#[no_mangle]
pub extern "C" fn tfg_rt_cos_f64(x: f64) -> f64 {
    x.cos()
}
#[no_mangle]
pub extern "C" fn tfg_rt_pow_f32(x: f32, y: f32) -> f32 {
    x.powf(y)
}
#[no_mangle]
pub extern "C" fn tfg_rt_pow_f64(x: f64, y: f64) -> f64 {
    x.powf(y)
}

/// `1 / (1 + e^-x)`, written as `e^x / (1 + e^x)` for negative `x` so that
/// the exponential never overflows.
macro_rules! sigmoid {
    ($name:ident, $t:ty) => {
        #[no_mangle]
        pub extern "C" fn $name(x: $t) -> $t {
            if x >= 0.0 {
                1.0 / (1.0 + (-x).exp())
            } else {
                let e = x.exp();
                e / (1.0 + e)
            }
        }
    };
}
sigmoid!(tfg_rt_sigmoid_f32, f32);
sigmoid!(tfg_rt_sigmoid_f64, f64);

/// numpy's integer power: wrapping square-and-multiply; a negative exponent
/// gives 0 unless the base is 1 or -1.
macro_rules! int_pow {
    ($name:ident, $t:ty) => {
        #[no_mangle]
        pub extern "C" fn $name(base: $t, exp: $t) -> $t {
            if exp < 0 {
                return match base {
                    1 => 1,
                    -1 if exp % 2 == 0 => 1,
                    -1 => -1,
                    _ => 0,
                };
            }
            let (mut base, mut exp, mut acc): ($t, $t, $t) = (base, exp, 1);
            while exp > 0 {
                if exp & 1 == 1 {
                    acc = acc.wrapping_mul(base);
                }
                base = base.wrapping_mul(base);
                exp >>= 1;
            }
            acc
        }
    };
}
int_pow!(tfg_rt_pow_i32, i32);
int_pow!(tfg_rt_pow_i64, i64);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integer_power_matches_python() {
        // Python: 3**4, (-2)**3, 0**0; numpy int32: 2**-1 -> 0, 1**-5, (-1)**-3.
        assert_eq!(tfg_rt_pow_i32(3, 4), 81);
        assert_eq!(tfg_rt_pow_i64(-2, 3), -8);
        assert_eq!(tfg_rt_pow_i32(0, 0), 1);
        assert_eq!(tfg_rt_pow_i32(2, -1), 0);
        assert_eq!(tfg_rt_pow_i32(1, -5), 1);
        assert_eq!(tfg_rt_pow_i32(-1, -3), -1);
        assert_eq!(tfg_rt_pow_i64(-1, -4), 1);
        assert_eq!(tfg_rt_pow_i32(3, 40), 3i128.pow(40) as u32 as i32);
    }

    #[test]
    fn sigmoid_saturates_without_overflow() {
        assert_eq!(tfg_rt_sigmoid_f32(-1000.0), 0.0);
        assert_eq!(tfg_rt_sigmoid_f32(1000.0), 1.0);
        assert!(tfg_rt_sigmoid_f64(f64::NAN).is_nan());
        // 1 / (1 + e^2), by hand: e^2 = 7.389056..., so 0.1192029...
        assert!((tfg_rt_sigmoid_f64(-2.0) - 0.11920292202211755).abs() < 1e-16);
    }
}
