//! Random feeds for differential tests: one seeded generator, and random
//! tensors with the special values that break code (signed zeros,
//! infinities, NaN, subnormals, huge values, integer extremes).

use tfg_ir::{DType, Data, Graph, Op, Tensor, Type};

/// splitmix64: reproducible randomness from a seed, the same on every
/// machine.
pub struct Rng(pub u64);

impl Rng {
    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// Floats that exercise every special case: signed zeros, infinities, NaN,
/// subnormals, huge values, integers and halves, `exp`'s overflow and
/// underflow edges.
pub const SPECIAL: [f64; 17] = [
    0.0,
    -0.0,
    1.0,
    -1.0,
    0.5,
    -2.5,
    f64::INFINITY,
    f64::NEG_INFINITY,
    f64::NAN,
    1e-40,
    -3e-39,
    88.5,
    -90.0,
    1e30,
    -7e19,
    -7.0,
    3.0,
];

/// A random tensor of type `t` (concrete): floats mostly in [-3, 3],
/// integers in [-9, 9], bools; with `special`, a quarter of the floats
/// from [`SPECIAL`] and an eighth of the integers their dtype's extremes.
pub fn random(t: &Type, rng: &mut Rng, special: bool) -> Tensor {
    let shape = t.shape.concrete().expect("concrete test shapes");
    let n: usize = shape.iter().product();
    let float = |rng: &mut Rng| {
        if special && rng.next_u64().is_multiple_of(4) {
            SPECIAL[(rng.next_u64() % SPECIAL.len() as u64) as usize]
        } else {
            rng.unit() * 6.0 - 3.0
        }
    };
    let int = |rng: &mut Rng, min: i64, max: i64| match rng.next_u64() % 16 {
        0 if special => min,
        1 if special => max,
        _ => (rng.next_u64() % 19) as i64 - 9,
    };
    let data = match t.dtype {
        DType::F32 => Data::F32((0..n).map(|_| float(rng) as f32).collect()),
        DType::F64 => Data::F64((0..n).map(|_| float(rng)).collect()),
        DType::I32 => Data::I32(
            (0..n)
                .map(|_| int(rng, i32::MIN.into(), i32::MAX.into()) as i32)
                .collect(),
        ),
        DType::I64 => Data::I64((0..n).map(|_| int(rng, i64::MIN, i64::MAX)).collect()),
        DType::Bool => Data::Bool((0..n).map(|_| rng.next_u64().is_multiple_of(2)).collect()),
    };
    Tensor { shape, data }
}

/// Random inputs for `g` (see [`random`]) and its params' initial values,
/// from `seed`.
pub fn feeds(g: &Graph, seed: u64, special: bool) -> (Vec<Tensor>, Vec<Tensor>) {
    let mut rng = Rng(seed);
    let inputs = g
        .inputs()
        .map(|v| random(g.ty(v), &mut rng, special))
        .collect();
    let params = g
        .params()
        .map(|v| match &g.node(v).op {
            Op::Param { name, init } => {
                tfg_ir::init::materialize(init, g.ty(v), seed, name).expect("param init")
            }
            _ => unreachable!("params() gives params"),
        })
        .collect();
    (inputs, params)
}
