//! Random valid graphs for property tests (cargo feature `arbitrary`).
//!
//! [`arb_graph`] gives graphs that pass [`verify`](crate::verify::verify):
//! concrete shapes of rank 0 to 3 with sizes 1 to 5, inputs (some with
//! defaults), float params with every kind of initialiser, constants, and
//! every op but `grad` (unary, binary with broadcasting both ways, select,
//! reduce, argmax/argmin, matmul in all its numpy forms, transpose, reshape,
//! broadcast_to, concat, one_hot, cast), with 1 to 3 outputs. Some values are
//! named (a few share a name), some carry a source location.
//!
//! A graph is built from a list of step seeds, one op per step plus the leaves
//! it needs, so proptest shrinks a failing graph by dropping steps. Values are
//! random and may make ops give NaN or Inf (`log` of a negative, `0 / 0`);
//! integer values are small (-4 to 4) but chains of `mul` or `pow` can still
//! overflow, so integer arithmetic must wrap rather than trap.
//! [`GraphConfig`] narrows what is generated, for example to f32 only.

use crate::graph::{Graph, Loc, ValueId};
use crate::infer::{broadcast_shapes, infer};
use crate::op::{BinaryOp, Init, Op, ReduceOp, UnaryOp};
use crate::tensor::{Data, Tensor};
use crate::types::{DType, Dim, Shape, Type};
use proptest::collection::vec;
use proptest::prelude::*;
use std::ops::RangeInclusive;

/// What [`arb_graph_with`] generates.
#[derive(Clone, Debug)]
pub struct GraphConfig {
    /// How many ops to add, each with the leaves it needs.
    pub steps: RangeInclusive<usize>,
    /// The dtypes of inputs, params and constants. Ops still derive others:
    /// comparisons give `bool`, `argmax` `i32`, `one_hot` `f32`, `cast` any.
    /// Params are made only for the float dtypes listed. Must not be empty.
    pub dtypes: Vec<DType>,
    /// Whether to add state updates (`update %w = …`) for some params.
    pub updates: bool,
    /// The sizes dims are picked from (1 twice as often as the others by
    /// default). Larger sizes reach what small tensors do not: vector
    /// loops with remainders, work split across threads.
    pub dims: &'static [u64],
}

/// The default [`GraphConfig::dims`]: small tensors, many broadcasts.
pub const SMALL_DIMS: &[u64] = &[1, 1, 2, 3, 4, 5];

impl Default for GraphConfig {
    fn default() -> GraphConfig {
        GraphConfig {
            steps: 1..=12,
            dtypes: DType::ALL.to_vec(),
            updates: false,
            dims: SMALL_DIMS,
        }
    }
}

/// Valid graphs over every dtype, without updates.
pub fn arb_graph() -> impl Strategy<Value = Graph> {
    arb_graph_with(GraphConfig::default())
}

/// Valid graphs as `config` asks.
pub fn arb_graph_with(config: GraphConfig) -> impl Strategy<Value = Graph> {
    let steps = config.steps.clone();
    (vec(any::<u64>(), steps), any::<u64>())
        .prop_map(move |(steps, seed)| build(&config, &steps, seed))
}

/// Builds the graph that `steps` (one seed an op) and `seed` (outputs and
/// updates) describe.
pub fn build(config: &GraphConfig, steps: &[u64], seed: u64) -> Graph {
    let dtypes = if config.dtypes.is_empty() {
        vec![DType::F32]
    } else {
        config.dtypes.clone()
    };
    let mut b = Builder {
        g: Graph::new("arb"),
        dtypes,
        dims: if config.dims.is_empty() {
            SMALL_DIMS
        } else {
            config.dims
        },
        rng: Rng(seed),
    };
    for &s in steps {
        b.rng = Rng(s);
        b.step();
    }
    b.rng = Rng(seed);
    b.finish(config.updates);
    b.g
}

/// splitmix64: a step's choices from its seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }

    fn chance(&mut self, num: usize, den: usize) -> bool {
        self.below(den) < num
    }

    fn pick<T: Copy>(&mut self, xs: &[T]) -> T {
        xs[self.below(xs.len())]
    }

    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

struct Builder {
    g: Graph,
    dtypes: Vec<DType>,
    dims: &'static [u64],
    rng: Rng,
}

const MAX_RANK: usize = 3;
/// Caps concatenated axes so that repeated concats keep tensors small.
const MAX_CONCAT: u64 = 10;

fn known(t: &Type) -> Vec<u64> {
    t.shape.0.iter().filter_map(Dim::known).collect()
}

impl Builder {
    fn ty(&self, v: ValueId) -> Type {
        self.g.ty(v).clone()
    }

    /// Appends `op(args)`, named and located at random.
    fn add(&mut self, op: Op, args: &[ValueId]) -> ValueId {
        let v = match self.g.add(op, args) {
            Ok(v) => v,
            Err(e) => panic!("arb_graph built an ill-typed node, a bug in the generator: {e}"),
        };
        self.decorate(v);
        v
    }

    fn decorate(&mut self, v: ValueId) {
        let node = &mut self.g.nodes[v.index()];
        if node.name.is_none() && self.rng.chance(1, 3) {
            // A few share the name `t`, which the printer must disambiguate.
            node.name = Some(if self.rng.chance(1, 4) {
                "t".into()
            } else {
                format!("v{}", v.0)
            });
        }
        if self.rng.chance(1, 2) {
            node.loc = Some(Loc {
                line: v.0 + 1,
                col: 1 + self.rng.below(40) as u32,
            });
        }
    }

    /// A value satisfying `fits`, recent ones more likely; `None` if none does.
    fn find(&mut self, fits: impl Fn(&Type) -> bool) -> Option<ValueId> {
        let found: Vec<ValueId> = self.g.ids().filter(|&v| fits(self.g.ty(v))).collect();
        if found.is_empty() {
            return None;
        }
        let recent = found.len().min(4);
        Some(if self.rng.chance(1, 2) {
            found[found.len() - 1 - self.rng.below(recent)]
        } else {
            self.rng.pick(&found)
        })
    }

    /// A dim size, from the configured ones.
    fn size(&mut self) -> u64 {
        self.rng.pick(self.dims)
    }

    fn random_dims(&mut self, rank: usize) -> Vec<u64> {
        (0..rank).map(|_| self.size()).collect()
    }

    fn random_type(&mut self) -> Type {
        let dtype = self.rng.pick(&self.dtypes.clone());
        let rank = self.rng.below(MAX_RANK + 1);
        Type::new(dtype, Shape::known(&self.random_dims(rank)))
    }

    fn tensor(&mut self, dtype: DType, shape: Vec<usize>) -> Tensor {
        let n: usize = shape.iter().product();
        let float = |rng: &mut Rng| {
            if rng.chance(1, 4) {
                (rng.below(17) as f64 - 8.0) / 2.0
            } else {
                rng.unit() * 8.0 - 4.0
            }
        };
        let data = match dtype {
            DType::F32 => Data::F32((0..n).map(|_| float(&mut self.rng) as f32).collect()),
            DType::F64 => Data::F64((0..n).map(|_| float(&mut self.rng)).collect()),
            DType::I32 => Data::I32((0..n).map(|_| self.rng.below(9) as i32 - 4).collect()),
            DType::I64 => Data::I64((0..n).map(|_| self.rng.below(9) as i64 - 4).collect()),
            DType::Bool => Data::Bool((0..n).map(|_| self.rng.chance(1, 2)).collect()),
        };
        Tensor { shape, data }
    }

    /// A new input, param or constant of type `ty`.
    fn leaf(&mut self, ty: Type) -> ValueId {
        let shape: Vec<usize> = known(&ty).into_iter().map(|d| d as usize).collect();
        let v = match self.rng.below(3) {
            0 => {
                let default = match self.rng.below(3) {
                    0 => Some(self.tensor(ty.dtype, shape)),
                    1 => Some(self.tensor(ty.dtype, vec![])),
                    _ => None,
                };
                let name = format!("x{}", self.g.inputs().count());
                self.g.add_input(&name, ty, default)
            }
            1 if ty.dtype.is_float() => {
                let init = match self.rng.below(8) {
                    0 => Init::Literal(self.tensor(ty.dtype, shape)),
                    1 => Init::Literal(self.tensor(ty.dtype, vec![])),
                    2 => Init::Zeros,
                    3 => Init::Ones,
                    4 => Init::Full(self.rng.unit() * 4.0 - 2.0),
                    5 => {
                        let lo = self.rng.unit() * 2.0 - 2.0;
                        Init::Uniform {
                            lo,
                            hi: lo + self.rng.unit() * 2.0,
                        }
                    }
                    6 => Init::Normal {
                        mean: self.rng.unit() - 0.5,
                        std: self.rng.unit(),
                    },
                    _ => Init::Glorot,
                };
                let name = format!("w{}", self.g.params().count());
                self.g.add_param(&name, ty, init)
            }
            _ => {
                let t = self.tensor(ty.dtype, shape);
                return self.add(Op::Const(t), &[]);
            }
        };
        self.decorate(v);
        v
    }

    fn any_value(&mut self) -> ValueId {
        match self.find(|_| true) {
            Some(v) if self.rng.chance(3, 4) => v,
            _ => {
                let ty = self.random_type();
                self.leaf(ty)
            }
        }
    }

    /// A value of type `ty`: an existing one or a new leaf.
    fn value_of(&mut self, ty: &Type) -> ValueId {
        match self.find(|t| t == ty) {
            Some(v) if self.rng.chance(1, 2) => v,
            _ => self.leaf(ty.clone()),
        }
    }

    fn numeric_value(&mut self, fits: impl Fn(&Type) -> bool) -> ValueId {
        if let Some(v) = self
            .find(|t| t.dtype != DType::Bool && fits(t))
            .filter(|_| self.rng.chance(3, 4))
        {
            return v;
        }
        let numeric: Vec<DType> = self
            .dtypes
            .iter()
            .copied()
            .filter(|d| *d != DType::Bool)
            .collect();
        let dtype = if numeric.is_empty() {
            DType::F32
        } else {
            self.rng.pick(&numeric)
        };
        loop {
            let rank = self.rng.below(MAX_RANK + 1);
            let ty = Type::new(dtype, Shape::known(&self.random_dims(rank)));
            if fits(&ty) {
                return self.leaf(ty);
            }
        }
    }

    /// A shape that broadcasts with `dims` to a result of rank at most 3.
    fn broadcast_partner(&mut self, dims: &[u64]) -> Vec<u64> {
        let rank = self.rng.below(MAX_RANK + 1);
        (0..rank)
            .map(|i| {
                let from_right = rank - i;
                match dims.len().checked_sub(from_right) {
                    Some(_) if self.rng.chance(1, 3) => 1,
                    Some(j) => dims[j],
                    None => self.size(),
                }
            })
            .collect()
    }

    /// A value of `dtype` that broadcasts with `ty`.
    fn partner(&mut self, dtype: DType, ty: &Type) -> ValueId {
        let existing =
            self.find(|t| t.dtype == dtype && broadcast_shapes(&t.shape, &ty.shape).is_ok());
        match existing {
            Some(v) if self.rng.chance(1, 2) => v,
            _ => {
                let dims = self.broadcast_partner(&known(ty));
                self.leaf(Type::new(dtype, Shape::known(&dims)))
            }
        }
    }

    /// A bool value that broadcasts with `dims`: an existing one, a new
    /// leaf, or (if bool leaves are not wanted) a comparison.
    fn bool_value(&mut self, dims: &[u64]) -> ValueId {
        let target = Shape::known(dims);
        let existing =
            self.find(|t| t.dtype == DType::Bool && broadcast_shapes(&t.shape, &target).is_ok());
        if let Some(v) = existing.filter(|_| self.rng.chance(1, 2)) {
            return v;
        }
        let shape = Shape::known(&self.broadcast_partner(dims));
        if self.dtypes.contains(&DType::Bool) {
            return self.leaf(Type::new(DType::Bool, shape));
        }
        let dtype = self.rng.pick(&self.dtypes.clone());
        let a = self.leaf(Type::new(dtype, shape));
        let limit = self.leaf(Type::scalar(dtype));
        self.add(Op::Binary(BinaryOp::Lt), &[a, limit])
    }

    fn step(&mut self) {
        match self.rng.below(15) {
            0 => {
                let ty = self.random_type();
                self.leaf(ty);
            }
            1 | 2 => self.unary(),
            3 | 4 => self.binary(),
            5 => self.select(),
            6 => self.reduce(),
            7 => {
                let x = self.numeric_value(|t| t.shape.rank() > 0);
                let axis = self.rng.below(self.ty(x).shape.rank());
                let op = if self.rng.chance(1, 2) {
                    Op::ArgMax { axis }
                } else {
                    Op::ArgMin { axis }
                };
                self.add(op, &[x]);
            }
            8 => self.matmul(),
            9 => {
                let x = self.any_value();
                let mut perm: Vec<usize> = (0..self.ty(x).shape.rank()).collect();
                for i in (1..perm.len()).rev() {
                    perm.swap(i, self.rng.below(i + 1));
                }
                self.add(Op::Transpose { perm }, &[x]);
            }
            10 => self.reshape(),
            11 => self.broadcast_to(),
            12 => self.concat(),
            13 => self.slice(),
            _ => self.one_hot_or_cast(),
        }
    }

    /// A strided window of a value: per axis a start, a step and a length
    /// that fit.
    fn slice(&mut self) {
        let x = self.any_value();
        let dims = known(&self.ty(x));
        let (mut start, mut step, mut out) = (Vec::new(), Vec::new(), Vec::new());
        for &n in &dims {
            // Sizes stay at least 1 (as the generator's other ops assume)
            // unless the operand's is 0.
            let s = self.rng.below(n.max(1) as usize) as u64;
            let k = 1 + self.rng.below(3) as u64;
            let max_len = n.saturating_sub(s).saturating_sub(1) / k + 1;
            let len = if n == 0 {
                0
            } else {
                1 + self.rng.below(max_len as usize) as u64
            };
            start.push(s.min(n.saturating_sub(1)));
            step.push(k);
            out.push(len);
        }
        self.add(
            Op::Slice {
                start,
                step,
                shape: Shape::known(&out),
            },
            &[x],
        );
    }

    fn unary(&mut self) {
        let x = self.any_value();
        let dtype = self.ty(x).dtype;
        let ops: Vec<UnaryOp> = UnaryOp::ALL
            .into_iter()
            .filter(|u| match dtype {
                DType::Bool => *u == UnaryOp::Not,
                d => *u != UnaryOp::Not && (d.is_float() || !u.float_only()),
            })
            .collect();
        let op = self.rng.pick(&ops);
        self.add(Op::Unary(op), &[x]);
    }

    fn binary(&mut self) {
        let a = self.any_value();
        let ta = self.ty(a);
        let op = if ta.dtype == DType::Bool {
            self.rng.pick(&[BinaryOp::Eq, BinaryOp::Ne])
        } else {
            self.rng.pick(&BinaryOp::ALL)
        };
        let b = self.partner(ta.dtype, &ta);
        let args = if self.rng.chance(1, 2) {
            [a, b]
        } else {
            [b, a]
        };
        self.add(Op::Binary(op), &args);
    }

    fn select(&mut self) {
        let a = self.any_value();
        let ta = self.ty(a);
        let b = self.partner(ta.dtype, &ta);
        let ab = Type::new(
            ta.dtype,
            broadcast_shapes(&ta.shape, &self.g.ty(b).shape).unwrap_or_default(),
        );
        let c = self.bool_value(&known(&ab));
        self.add(Op::Select, &[c, a, b]);
    }

    fn reduce(&mut self) {
        let x = self.numeric_value(|_| true);
        let t = self.ty(x);
        let ops: &[ReduceOp] = if t.dtype.is_float() {
            &ReduceOp::ALL
        } else {
            &[ReduceOp::Sum, ReduceOp::Max, ReduceOp::Min, ReduceOp::Prod]
        };
        let op = self.rng.pick(ops);
        let axes: Vec<usize> = (0..t.shape.rank())
            .filter(|_| self.rng.chance(1, 2))
            .collect();
        let keepdims = self.rng.chance(1, 2);
        self.add(Op::Reduce { op, axes, keepdims }, &[x]);
    }

    fn matmul(&mut self) {
        let a = self.numeric_value(|t| t.shape.rank() > 0);
        let ta = self.ty(a);
        let on_left = self.rng.chance(1, 2);
        let existing = self.find(|t| {
            let args = if on_left { [&ta, t] } else { [t, &ta] };
            infer(&Op::MatMul, &args).is_ok()
        });
        let b = match existing {
            Some(v) if self.rng.chance(1, 2) => v,
            _ => {
                let dims = known(&ta);
                let r = dims.len();
                // The contracted dim of `a`: its last if on the left, else its second to last.
                let k = if on_left || r == 1 {
                    dims[r - 1]
                } else {
                    dims[r - 2]
                };
                let mut partner = match self.rng.below(3) {
                    0 => vec![k],
                    _ if on_left => vec![k, self.size()],
                    _ => vec![self.size(), k],
                };
                if partner.len() == 2 && self.rng.chance(1, 2) {
                    let batch = if r == 3 {
                        self.rng.pick(&[dims[0], 1])
                    } else {
                        self.size()
                    };
                    partner.insert(0, batch);
                }
                self.leaf(Type::new(ta.dtype, Shape::known(&partner)))
            }
        };
        let args = if on_left { [a, b] } else { [b, a] };
        self.add(Op::MatMul, &args);
    }

    fn reshape(&mut self) {
        let x = self.any_value();
        let numel: u64 = known(&self.ty(x)).iter().product();
        let mut factors = Vec::new();
        let (mut n, mut p) = (numel, 2);
        while n > 1 {
            if n % p == 0 {
                factors.push(p);
                n /= p;
            } else {
                p += 1;
            }
        }
        let min_rank = usize::from(numel > 1);
        let rank = min_rank + self.rng.below(MAX_RANK + 1 - min_rank);
        let mut dims = vec![1u64; rank];
        for f in factors {
            let i = self.rng.below(rank);
            dims[i] *= f;
        }
        self.add(
            Op::Reshape {
                shape: Shape::known(&dims),
            },
            &[x],
        );
    }

    fn broadcast_to(&mut self) {
        let x = self.any_value();
        let mut dims: Vec<u64> = known(&self.ty(x))
            .into_iter()
            .map(|d| if d == 1 { self.size() } else { d })
            .collect();
        while dims.len() < MAX_RANK && self.rng.chance(1, 2) {
            dims.insert(0, self.size());
        }
        self.add(
            Op::BroadcastTo {
                shape: Shape::known(&dims),
            },
            &[x],
        );
    }

    fn concat(&mut self) {
        let first =
            match self.find(|t| t.shape.rank() > 0 && known(t).iter().all(|&d| d <= MAX_CONCAT)) {
                Some(v) => v,
                None => {
                    let ty = self.random_type();
                    let rank = ty.shape.rank().max(1);
                    let dims = self.random_dims(rank);
                    self.leaf(Type::new(ty.dtype, Shape::known(&dims)))
                }
            };
        let t = self.ty(first);
        let axis = self.rng.below(t.shape.rank());
        let mut total = known(&t)[axis];
        let mut args = vec![first];
        for _ in 0..self.rng.below(3) {
            let mut dims = known(&t);
            let existing = self.find(|u| {
                let d = known(u);
                u.dtype == t.dtype
                    && d.len() == dims.len()
                    && (0..d.len()).all(|i| i == axis || d[i] == dims[i])
                    && total + d[axis] <= MAX_CONCAT
            });
            let v = match existing {
                Some(v) if self.rng.chance(1, 2) => v,
                _ => {
                    dims[axis] = self.size();
                    if total + dims[axis] > MAX_CONCAT {
                        break;
                    }
                    self.leaf(Type::new(t.dtype, Shape::known(&dims)))
                }
            };
            total += known(&self.ty(v))[axis];
            args.push(v);
        }
        self.add(Op::Concat { axis }, &args);
    }

    fn one_hot_or_cast(&mut self) {
        if self.rng.chance(1, 2) {
            let x = self.any_value();
            let to = self.rng.pick(&DType::ALL);
            self.add(Op::Cast { to }, &[x]);
            return;
        }
        let x = match self.find(|t| t.dtype.is_int() && t.shape.rank() < MAX_RANK) {
            Some(v) => v,
            None => {
                let y = self.numeric_value(|t| t.shape.rank() < MAX_RANK);
                self.add(Op::Cast { to: DType::I32 }, &[y])
            }
        };
        let depth = 1 + self.rng.below(5) as u64;
        self.add(Op::OneHot { depth }, &[x]);
    }

    /// Outputs (1 to 3, later values more likely) and, if asked, updates.
    fn finish(&mut self, updates: bool) {
        if self.g.nodes.is_empty() {
            let ty = self.random_type();
            self.leaf(ty);
        }
        let n = 1 + self.rng.below(3);
        for i in 0..n {
            let len = self.g.nodes.len();
            let v = if self.rng.chance(1, 2) {
                len - 1 - self.rng.below(len.min(3))
            } else {
                self.rng.below(len)
            };
            self.g.outputs.push((format!("y{i}"), ValueId(v as u32)));
        }
        if updates {
            let params: Vec<ValueId> = self.g.params().collect();
            for p in params {
                if self.rng.chance(1, 2) {
                    let ty = self.ty(p);
                    let delta = self.value_of(&ty);
                    let new = self.add(Op::Binary(BinaryOp::Sub), &[p, delta]);
                    self.g.updates.push((p, new));
                }
            }
        }
    }
}
