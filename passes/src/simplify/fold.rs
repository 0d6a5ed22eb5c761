//! Constant folding: one op evaluated on known operands.
//!
//! The semantics are the interpreter's (numpy's): f32 math in f32, integer
//! arithmetic wrapping, floor division with `x // 0 == 0`, `maximum` and
//! `minimum` letting NaN win. Only ops whose result is a plain function of
//! each element (or a pure data movement) fold; reductions and matmul, whose
//! rounding depends on the summation order a backend picks, do not.

use tfg_ir::{BinaryOp, DType, Data, Op, Tensor, UnaryOp};

/// `op` applied to `args`, giving a tensor of shape `out`; `None` where the
/// op does not fold.
pub fn eval(op: &Op, args: &[&Tensor], out: &[usize]) -> Option<Tensor> {
    let data = match (op, args) {
        (Op::Unary(u), [x]) => unary(*u, &x.data)?,
        (Op::Binary(b), [x, y]) => {
            let (x, y) = (spread(x, out)?, spread(y, out)?);
            binary(*b, &x, &y)?
        }
        (Op::Select, [c, a, b]) => {
            let (Data::Bool(c), a, b) = (spread(c, out)?, spread(a, out)?, spread(b, out)?) else {
                return None;
            };
            select(&c, &a, &b)?
        }
        (Op::Cast { to }, [x]) => cast(&x.data, *to),
        (Op::Reshape { .. }, [x]) => x.data.clone(),
        (Op::BroadcastTo { .. }, [x]) => spread(x, out)?,
        (Op::Transpose { perm }, [x]) => {
            let strides = row_major_strides(&x.shape);
            let permuted: Vec<usize> = perm
                .iter()
                .map(|&p| strides.get(p).copied())
                .collect::<Option<_>>()?;
            gather(&x.data, &offsets(out, &permuted))
        }
        _ => return None,
    };
    Tensor::new(out.to_vec(), data)
}

fn row_major_strides(shape: &[usize]) -> Vec<usize> {
    let mut strides = vec![1; shape.len()];
    for i in (0..shape.len().saturating_sub(1)).rev() {
        strides[i] = strides[i + 1] * shape[i + 1];
    }
    strides
}

/// The flat source offset of every element of `out`, walking `out` in
/// row-major order with the given source strides.
fn offsets(out: &[usize], strides: &[usize]) -> Vec<usize> {
    let n: usize = out.iter().product();
    let mut index = vec![0usize; out.len()];
    let mut result = Vec::with_capacity(n);
    for _ in 0..n {
        result.push(index.iter().zip(strides).map(|(i, s)| i * s).sum());
        for d in (0..out.len()).rev() {
            index[d] += 1;
            if index[d] < out[d] {
                break;
            }
            index[d] = 0;
        }
    }
    result
}

/// `x` broadcast (numpy rules) to `out`.
fn spread(x: &Tensor, out: &[usize]) -> Option<Data> {
    if x.shape == out {
        return Some(x.data.clone());
    }
    let pad = out.len().checked_sub(x.shape.len())?;
    let strides = row_major_strides(&x.shape);
    let aligned: Vec<usize> = (0..out.len())
        .map(|i| {
            if i < pad || x.shape[i - pad] == 1 {
                0
            } else {
                strides[i - pad]
            }
        })
        .collect();
    Some(gather(&x.data, &offsets(out, &aligned)))
}

fn gather(d: &Data, idx: &[usize]) -> Data {
    match d {
        Data::F32(v) => Data::F32(idx.iter().map(|&i| v[i]).collect()),
        Data::F64(v) => Data::F64(idx.iter().map(|&i| v[i]).collect()),
        Data::I32(v) => Data::I32(idx.iter().map(|&i| v[i]).collect()),
        Data::I64(v) => Data::I64(idx.iter().map(|&i| v[i]).collect()),
        Data::Bool(v) => Data::Bool(idx.iter().map(|&i| v[i]).collect()),
    }
}

/// Elements of the numeric dtypes, with the interpreter's arithmetic.
trait Num: Copy + PartialOrd {
    fn unary(op: UnaryOp, x: Self) -> Option<Self>;
    fn arith(op: BinaryOp, x: Self, y: Self) -> Option<Self>;
    fn is_nan(self) -> bool;
}

/// numpy `maximum`/`minimum`: a NaN operand wins.
fn pick<T: Num>(x: T, y: T, max: bool) -> T {
    let keep_x = if max { x >= y } else { x <= y };
    if x.is_nan() || keep_x {
        x
    } else {
        y
    }
}

macro_rules! float_num {
    ($t:ty) => {
        impl Num for $t {
            fn unary(op: UnaryOp, x: $t) -> Option<$t> {
                Some(match op {
                    UnaryOp::Neg => -x,
                    UnaryOp::Abs => x.abs(),
                    UnaryOp::Exp => x.exp(),
                    UnaryOp::Log => x.ln(),
                    UnaryOp::Sqrt => x.sqrt(),
                    UnaryOp::Rsqrt => 1.0 / x.sqrt(),
                    UnaryOp::Square => x * x,
                    UnaryOp::Tanh => x.tanh(),
                    // Rearranged for negative x so that exp never overflows.
                    UnaryOp::Sigmoid if x >= 0.0 => 1.0 / (1.0 + (-x).exp()),
                    UnaryOp::Sigmoid => x.exp() / (1.0 + x.exp()),
                    UnaryOp::Relu => pick(x, 0.0, true),
                    UnaryOp::Sin => x.sin(),
                    UnaryOp::Cos => x.cos(),
                    UnaryOp::Floor => x.floor(),
                    UnaryOp::Ceil => x.ceil(),
                    UnaryOp::Sign if x > 0.0 => 1.0,
                    UnaryOp::Sign if x < 0.0 => -1.0,
                    UnaryOp::Sign if x == 0.0 => 0.0,
                    UnaryOp::Sign => x,
                    UnaryOp::Reciprocal => 1.0 / x,
                    UnaryOp::Not => return None,
                })
            }

            fn arith(op: BinaryOp, x: $t, y: $t) -> Option<$t> {
                Some(match op {
                    BinaryOp::Add => x + y,
                    BinaryOp::Sub => x - y,
                    BinaryOp::Mul => x * y,
                    BinaryOp::Div => x / y,
                    BinaryOp::Pow => x.powf(y),
                    BinaryOp::Maximum => pick(x, y, true),
                    BinaryOp::Minimum => pick(x, y, false),
                    _ => return None,
                })
            }

            fn is_nan(self) -> bool {
                <$t>::is_nan(self)
            }
        }
    };
}

macro_rules! int_num {
    ($t:ty) => {
        impl Num for $t {
            fn unary(op: UnaryOp, x: $t) -> Option<$t> {
                Some(match op {
                    UnaryOp::Neg => x.wrapping_neg(),
                    UnaryOp::Abs => x.wrapping_abs(),
                    UnaryOp::Square => x.wrapping_mul(x),
                    UnaryOp::Relu => x.max(0),
                    UnaryOp::Sign => x.signum(),
                    _ => return None,
                })
            }

            fn arith(op: BinaryOp, x: $t, y: $t) -> Option<$t> {
                Some(match op {
                    BinaryOp::Add => x.wrapping_add(y),
                    BinaryOp::Sub => x.wrapping_sub(y),
                    BinaryOp::Mul => x.wrapping_mul(y),
                    // Python's `//`: rounds toward -inf; `x // 0` is 0.
                    BinaryOp::Div if y == 0 => 0,
                    BinaryOp::Div => {
                        let q = x.wrapping_div(y);
                        if x.wrapping_rem(y) != 0 && ((x < 0) != (y < 0)) {
                            q - 1
                        } else {
                            q
                        }
                    }
                    BinaryOp::Pow if y < 0 => match x {
                        1 => 1,
                        -1 if y % 2 == 0 => 1,
                        -1 => -1,
                        _ => 0,
                    },
                    BinaryOp::Pow => {
                        let (mut base, mut exp, mut acc): ($t, $t, $t) = (x, y, 1);
                        while exp > 0 {
                            if exp & 1 == 1 {
                                acc = acc.wrapping_mul(base);
                            }
                            base = base.wrapping_mul(base);
                            exp >>= 1;
                        }
                        acc
                    }
                    BinaryOp::Maximum => x.max(y),
                    BinaryOp::Minimum => x.min(y),
                    _ => return None,
                })
            }

            fn is_nan(self) -> bool {
                false
            }
        }
    };
}

float_num!(f32);
float_num!(f64);
int_num!(i32);
int_num!(i64);

fn unary(op: UnaryOp, x: &Data) -> Option<Data> {
    fn map<T: Num>(op: UnaryOp, v: &[T]) -> Option<Vec<T>> {
        v.iter().map(|&a| T::unary(op, a)).collect()
    }
    Some(match x {
        Data::F32(v) => Data::F32(map(op, v)?),
        Data::F64(v) => Data::F64(map(op, v)?),
        Data::I32(v) => Data::I32(map(op, v)?),
        Data::I64(v) => Data::I64(map(op, v)?),
        Data::Bool(v) if op == UnaryOp::Not => Data::Bool(v.iter().map(|b| !b).collect()),
        Data::Bool(_) => return None,
    })
}

/// Both operands already broadcast to the result's shape.
fn binary(op: BinaryOp, x: &Data, y: &Data) -> Option<Data> {
    fn zip<T: Copy, R>(x: &[T], y: &[T], f: impl Fn(T, T) -> Option<R>) -> Option<Vec<R>> {
        x.iter().zip(y).map(|(&a, &b)| f(a, b)).collect()
    }
    fn compare<T: PartialOrd>(op: BinaryOp, a: T, b: T) -> Option<bool> {
        Some(match op {
            BinaryOp::Lt => a < b,
            BinaryOp::Le => a <= b,
            BinaryOp::Gt => a > b,
            BinaryOp::Ge => a >= b,
            BinaryOp::Eq => a == b,
            BinaryOp::Ne => a != b,
            _ => return None,
        })
    }
    if op.is_comparison() {
        return Some(Data::Bool(match (x, y) {
            (Data::F32(a), Data::F32(b)) => zip(a, b, |p, q| compare(op, p, q))?,
            (Data::F64(a), Data::F64(b)) => zip(a, b, |p, q| compare(op, p, q))?,
            (Data::I32(a), Data::I32(b)) => zip(a, b, |p, q| compare(op, p, q))?,
            (Data::I64(a), Data::I64(b)) => zip(a, b, |p, q| compare(op, p, q))?,
            (Data::Bool(a), Data::Bool(b)) => zip(a, b, |p, q| compare(op, p, q))?,
            _ => return None,
        }));
    }
    Some(match (x, y) {
        (Data::F32(a), Data::F32(b)) => Data::F32(zip(a, b, |p, q| Num::arith(op, p, q))?),
        (Data::F64(a), Data::F64(b)) => Data::F64(zip(a, b, |p, q| Num::arith(op, p, q))?),
        (Data::I32(a), Data::I32(b)) => Data::I32(zip(a, b, |p, q| Num::arith(op, p, q))?),
        (Data::I64(a), Data::I64(b)) => Data::I64(zip(a, b, |p, q| Num::arith(op, p, q))?),
        _ => return None,
    })
}

fn select(c: &[bool], a: &Data, b: &Data) -> Option<Data> {
    fn pick<T: Copy>(c: &[bool], a: &[T], b: &[T]) -> Vec<T> {
        c.iter()
            .zip(a.iter().zip(b))
            .map(|(&c, (&x, &y))| if c { x } else { y })
            .collect()
    }
    Some(match (a, b) {
        (Data::F32(x), Data::F32(y)) => Data::F32(pick(c, x, y)),
        (Data::F64(x), Data::F64(y)) => Data::F64(pick(c, x, y)),
        (Data::I32(x), Data::I32(y)) => Data::I32(pick(c, x, y)),
        (Data::I64(x), Data::I64(y)) => Data::I64(pick(c, x, y)),
        (Data::Bool(x), Data::Bool(y)) => Data::Bool(pick(c, x, y)),
        _ => return None,
    })
}

/// numpy `astype` as the interpreter does it: Rust's `as` (floats truncate
/// toward zero and saturate into integers), nonzero is true, bool is 0 or 1.
fn cast(x: &Data, to: DType) -> Data {
    macro_rules! convert {
        ($v:expr) => {
            match to {
                DType::F32 => Data::F32($v.iter().map(|&a| a as f32).collect()),
                DType::F64 => Data::F64($v.iter().map(|&a| a as f64).collect()),
                DType::I32 => Data::I32($v.iter().map(|&a| a as i32).collect()),
                DType::I64 => Data::I64($v.iter().map(|&a| a as i64).collect()),
                DType::Bool => Data::Bool($v.iter().map(|&a| a != Default::default()).collect()),
            }
        };
    }
    match x {
        Data::F32(v) => convert!(v),
        Data::F64(v) => convert!(v),
        Data::I32(v) => convert!(v),
        Data::I64(v) => convert!(v),
        Data::Bool(v) => convert!(v.iter().map(|&b| b as u8).collect::<Vec<u8>>()),
    }
}
