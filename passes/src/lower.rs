//! Lowering: each fused group of the Graph IR becomes one Kernel IR kernel.
//!
//! [`lower`] gives every graph input, param, output and update a buffer,
//! every value a group stores a buffer (an output's own, or a temporary),
//! then writes each group as a loop nest:
//!
//! - elementwise: one loop over the stored values' elements. It is a single
//!   flat loop when every access is the loop index itself (or a constant);
//!   where broadcasting or a transpose makes addresses depend on the
//!   multi-index, one loop per dim, so addresses stay multiply-adds.
//! - reduction: loops over the kept dims (parallel), and in each, one
//!   accumulation loop over the reduced dims per reduction, then — for
//!   reduce-then-broadcast patterns — one more pass over the row for the
//!   values stored per row element. Producers are computed inside the loops,
//!   at the index each access needs. A reduction over leading axes only
//!   (`sum(x, axis = 0)`) is written by columns instead: each reduction
//!   sweeps the rows into a temporary row of accumulators, kept elements
//!   innermost, so every pass reads memory in order.
//! - gemm: a [`Gemm`] call (batched with strides, or inside loops over the
//!   batch dims where numpy broadcasting needs it), then the epilogue loop,
//!   which updates the GEMM's result in place when it reads each element once.
//! - concat: one loop nest per operand, each writing its slice.
//!
//! Every value a group computes is bound to a local at the loop depth where
//! its index varies (so loop-invariant work is hoisted), and used ever after
//! from there: each input element is loaded once per iteration. Sums and
//! means of f32 accumulate in f64: one sequential accumulator, unlike
//! numpy's pairwise summation, would lose accuracy linearly with the row
//! length. Every temporary gets bytes of its own. The Kernel IR passes that
//! follow ([`crate::kernel`]) remove what is unused, fold locals used once
//! into their use and pack the temporaries into one arena.

use crate::kernel::unshared;
use std::collections::HashMap;
use tfg_ir::element::{highest, lowest};
use tfg_ir::fused::{reduced_axes, swaps_last_two, Fusion, Group, GroupKind};
use tfg_ir::kernel::{
    Affine, BufId, Buffer, Expr, Gemm, Index, Initial, Kernel, Local, LoopKind, MatRef, Program,
    Ranges, Role, Scalar, Stmt, Var,
};
use tfg_ir::{BinaryOp, DType, Graph, Op, ReduceOp, ValueId};

/// The Kernel IR program that computes `g` as `f` partitions it. `g` must
/// have concrete shapes and no `grad` on the way to its outputs.
pub fn lower(g: &Graph, f: &Fusion) -> Result<Program, String> {
    if f.group_of.len() != g.nodes.len() {
        return Err(format!(
            "the fusion covers {} nodes but the graph has {}",
            f.group_of.len(),
            g.nodes.len()
        ));
    }
    tfg_ir::verify(g).map_err(|e| format!("cannot lower an invalid graph: {e}"))?;
    let live = g.live();
    for v in g.ids().filter(|v| live[v.index()]) {
        let node = g.node(v);
        if node.ty.shape.concrete().is_none() {
            return Err(format!(
                "{} has type {}: bind its symbolic dims before lowering",
                label(g, v),
                tfg_ir::text::type_text(&node.ty)
            ));
        }
        if node.op == Op::Grad {
            return Err(format!(
                "{} is a grad: expand it with the autodiff pass before lowering",
                label(g, v)
            ));
        }
        let is_compute = !matches!(node.op, Op::Input { .. } | Op::Param { .. } | Op::Const(_));
        if is_compute && f.group_of[v.index()].is_none() {
            return Err(format!("{} is in no kernel of the fusion", label(g, v)));
        }
    }
    let mut cx = Context::new(g, false);
    let mut kernels = Vec::new();
    for grp in &f.groups {
        match grp.kind {
            GroupKind::View => {
                let [v] = grp.members[..] else {
                    return Err(format!("view {} must hold exactly one reshape", grp.name));
                };
                let src = cx.buffer_of(g.node(v).args[0])?;
                cx.home[v.index()] = Some(src);
            }
            GroupKind::Opaque => {
                return Err(format!(
                    "kernel {} holds an op that cannot be lowered",
                    grp.name
                ))
            }
            _ => kernels.push(cx.kernel(grp)?),
        }
    }
    kernels.extend(cx.copies()?);
    let p = Program {
        plan: unshared(&cx.buffers),
        buffers: cx.buffers,
        kernels,
    };
    tfg_ir::kernel::verify(&p).map_err(|e| format!("lowering produced an invalid program: {e}"))?;
    Ok(p)
}

/// Whether `grp` lowers, with every value outside it in memory: how fusion
/// tries a grouping before it commits to it.
pub(crate) fn check_group(g: &Graph, grp: &Group) -> Result<(), String> {
    Context::new(g, true).kernel(grp).map(|_| ())
}

fn label(g: &Graph, v: ValueId) -> String {
    match &g.node(v).name {
        Some(n) => format!("%{n}"),
        None => v.to_string(),
    }
}

fn dims(g: &Graph, v: ValueId) -> Vec<u64> {
    g.ty(v)
        .shape
        .0
        .iter()
        .map(|d| d.known().unwrap_or(0))
        .collect()
}

/// Row-major strides of `dims`.
fn strides(dims: &[u64]) -> Vec<u64> {
    let mut s = vec![1u64; dims.len()];
    for i in (0..dims.len().saturating_sub(1)).rev() {
        s[i] = s[i + 1].saturating_mul(dims[i + 1]);
    }
    s
}

/// Buffers and where each value lives, across the kernels of one program.
struct Context<'g> {
    g: &'g Graph,
    /// Checking a grouping only: any value outside it gets a scratch buffer.
    trial: bool,
    buffers: Vec<Buffer>,
    home: Vec<Option<BufId>>,
    /// The buffer of each output and update, and whether a kernel fills it.
    outputs: Vec<(BufId, bool)>,
    updates: Vec<(BufId, bool)>,
}

impl<'g> Context<'g> {
    fn new(g: &'g Graph, trial: bool) -> Context<'g> {
        let mut cx = Context {
            g,
            trial,
            buffers: Vec::new(),
            home: vec![None; g.nodes.len()],
            outputs: Vec::new(),
            updates: Vec::new(),
        };
        if trial {
            return cx;
        }
        // Leaves keep their names and starting values, so that a dump of
        // the program runs on its own.
        for (i, v) in g.inputs().enumerate() {
            let b = cx.push(v, Role::Input(i as u32), g.node(v).name.clone());
            if let Op::Input { name, default } = &g.node(v).op {
                cx.buffers[b.index()].name = Some(name.clone());
                cx.buffers[b.index()].initial = default.clone().map(Initial::Default);
            }
            cx.home[v.index()] = Some(b);
        }
        for (i, v) in g.params().enumerate() {
            let b = cx.push(v, Role::Param(i as u32), g.node(v).name.clone());
            if let Op::Param { name, init } = &g.node(v).op {
                cx.buffers[b.index()].name = Some(name.clone());
                cx.buffers[b.index()].initial = Some(Initial::Init(init.clone()));
            }
            cx.home[v.index()] = Some(b);
        }
        for (i, (name, v)) in g.outputs.iter().enumerate() {
            let b = cx.push(*v, Role::Output(i as u32), Some(name.clone()));
            cx.outputs.push((b, false));
        }
        for (i, &(p, v)) in g.updates.iter().enumerate() {
            let b = cx.push(v, Role::Update(i as u32), g.node(p).name.clone());
            cx.updates.push((b, false));
        }
        cx
    }

    /// A new buffer shaped like `v`.
    fn push(&mut self, v: ValueId, role: Role, name: Option<String>) -> BufId {
        let b = BufId(self.buffers.len() as u32);
        self.buffers.push(Buffer {
            dtype: self.g.ty(v).dtype,
            shape: dims(self.g, v),
            role,
            name,
            initial: None,
        });
        b
    }

    /// A new temporary of `dtype` and `shape` that holds no graph value.
    fn scratch(&mut self, dtype: DType, shape: Vec<u64>) -> BufId {
        let b = BufId(self.buffers.len() as u32);
        self.buffers.push(Buffer {
            dtype,
            shape,
            role: Role::Temp,
            name: None,
            initial: None,
        });
        b
    }

    /// The buffer holding `v`, making one for a constant.
    fn buffer_of(&mut self, v: ValueId) -> Result<BufId, String> {
        if let Some(b) = self.home[v.index()] {
            return Ok(b);
        }
        let b = match &self.g.node(v).op {
            Op::Const(t) => self.push(v, Role::Const(t.data.clone()), None),
            _ if self.trial => self.push(v, Role::Temp, None),
            _ => {
                return Err(format!(
                    "{} is read before any kernel computes it",
                    label(self.g, v)
                ))
            }
        };
        self.home[v.index()] = Some(b);
        Ok(b)
    }

    /// Gives each value `grp` stores a buffer: its output's or update's if it
    /// is one (the first such), else a temporary.
    fn place_stored(&mut self, grp: &Group) {
        for &s in &grp.stored {
            if self.home[s.index()].is_some() {
                continue;
            }
            let g = self.g;
            let out = g
                .outputs
                .iter()
                .zip(&mut self.outputs)
                .find(|((_, v), (_, done))| *v == s && !*done);
            let b = if let Some((_, slot)) = out {
                slot.1 = true;
                slot.0
            } else if let Some((_, slot)) = g
                .updates
                .iter()
                .zip(&mut self.updates)
                .find(|((_, v), (_, done))| *v == s && !*done)
            {
                slot.1 = true;
                slot.0
            } else {
                let name = g.node(s).name.clone();
                self.push(s, Role::Temp, name)
            };
            self.home[s.index()] = Some(b);
        }
    }

    fn kernel(&mut self, grp: &Group) -> Result<Kernel, String> {
        self.place_stored(grp);
        let body = self.body(grp)?;
        let (reads, writes) = Stmt::accesses(&body);
        Ok(Kernel {
            name: grp.name.clone(),
            reads,
            writes,
            body,
        })
    }

    /// The body of `grp`'s kernel, in the best loop shape that lowers: flat
    /// loops where no address then needs `/` or `%`, else one loop per dim.
    /// Where every shape needs them, a reduction takes its first (flat)
    /// shape, and other kernels one loop per dim, where `/` and `%` split
    /// only outer loops' variables, once an iteration of those loops,
    /// instead of every element's index.
    fn body(&mut self, grp: &Group) -> Result<Vec<Stmt>, String> {
        let reduction = grp.kind == GroupKind::Reduction;
        let shapes: &[(bool, bool)] = if reduction {
            &[(true, true), (true, false), (false, true), (false, false)]
        } else {
            &[(true, true), (false, false)]
        };
        let mut fallback: Option<Vec<Stmt>> = None;
        let mut last_error = String::new();
        for &shape in shapes {
            match self.try_body(grp, shape) {
                Ok((body, false)) => {
                    fallback = Some(body);
                    break;
                }
                Ok((body, true)) if reduction => {
                    fallback.get_or_insert(body);
                }
                Ok((body, true)) => fallback = Some(body),
                Err(e) => last_error = e,
            }
        }
        let mut body = fallback.ok_or(last_error)?;
        let mut uses_scratch = false;
        Stmt::walk(&body, &mut |s| {
            uses_scratch |= stmt_bufs(s).contains(&SCRATCH)
        });
        if uses_scratch {
            let g = self.g;
            let mm = grp
                .members
                .iter()
                .copied()
                .find(|&m| g.node(m).op == Op::MatMul)
                .ok_or("no matmul")?;
            let real = self.push(mm, Role::Temp, None);
            rename_buf(&mut body, SCRATCH, real);
        }
        Ok(body)
    }

    /// One attempt; says whether some address needed `/` or `%`.
    fn try_body(
        &mut self,
        grp: &Group,
        (outer_flat, inner_flat): (bool, bool),
    ) -> Result<(Vec<Stmt>, bool), String> {
        let g = self.g;
        let matmul = grp
            .members
            .iter()
            .copied()
            .find(|&m| g.node(m).op == Op::MatMul);
        // Where the GEMM writes: the matmul's own buffer if it is stored;
        // else over a stored value of the same size, if the epilogue reads
        // each element once and before it writes it; else a temporary.
        let mut targets: Vec<(Option<BufId>, bool)> = Vec::new();
        match matmul {
            None => targets.push((None, false)),
            Some(mm) if grp.stored.contains(&mm) => {
                targets.push((Some(self.buffer_of(mm)?), false))
            }
            Some(mm) => {
                let (dtype, numel) = (g.ty(mm).dtype, g.ty(mm).shape.numel());
                for &s in &grp.stored {
                    if g.ty(s).dtype == dtype && g.ty(s).shape.numel() == numel {
                        targets.push((Some(self.buffer_of(s)?), true));
                    }
                }
                targets.push((Some(SCRATCH), false));
            }
        }
        let mut last_error = String::new();
        for (c, in_place) in targets {
            let mut e = Emitter::new(self, grp, outer_flat, inner_flat);
            e.gemm = matmul.zip(c);
            if let Err(err) = e.group() {
                last_error = err;
                continue;
            }
            if in_place
                && !e
                    .row_flat
                    .as_ref()
                    .is_some_and(|f| e.c_loads.iter().all(|l| l == f))
            {
                continue;
            }
            return Ok(e.finish());
        }
        Err(last_error)
    }

    /// Kernels that copy into the outputs and updates no group wrote: values
    /// that are inputs, params, constants or views, or one value twice.
    fn copies(&mut self) -> Result<Vec<Kernel>, String> {
        let g = self.g;
        let mut kernels = Vec::new();
        let jobs: Vec<(String, ValueId, BufId, bool)> = g
            .outputs
            .iter()
            .zip(&self.outputs)
            .enumerate()
            .map(|(i, ((_, v), &(b, done)))| (format!("copy_output{i}"), *v, b, done))
            .chain(
                g.updates
                    .iter()
                    .zip(&self.updates)
                    .enumerate()
                    .map(|(i, ((_, v), &(b, done)))| (format!("copy_update{i}"), *v, b, done)),
            )
            .collect();
        for (name, v, dst, done) in jobs {
            if done {
                continue;
            }
            let src = self.buffer_of(v)?;
            let n = self.buffers[dst.index()].len();
            let (index, wrap) = if n == 1 {
                (Index::Const(0), false)
            } else {
                (Index::Var(Var(0)), true)
            };
            let store = Stmt::Store {
                buf: dst,
                index: index.clone(),
                value: Expr::Load { buf: src, index },
            };
            let body = if wrap {
                vec![Stmt::Loop {
                    var: Var(0),
                    extent: n,
                    kind: LoopKind::Parallel,
                    body: vec![store],
                }]
            } else {
                vec![store]
            };
            let (reads, writes) = Stmt::accesses(&body);
            kernels.push(Kernel {
                name,
                reads,
                writes,
                body,
            });
        }
        Ok(kernels)
    }
}

/// One open block of statements, and the values already computed in it.
#[derive(Default)]
struct Block {
    stmts: Vec<Stmt>,
    memo: HashMap<(ValueId, Affine), Local>,
}

/// Builds one kernel body.
struct Emitter<'c, 'g> {
    cx: &'c mut Context<'g>,
    g: &'g Graph,
    grp: &'c Group,
    outer_flat: bool,
    inner_flat: bool,
    ranges: Ranges,
    next_var: u32,
    next_local: u32,
    /// `blocks[0]` is the kernel's top level; each open loop adds one.
    blocks: Vec<Block>,
    /// The open loops, outermost first.
    loops: Vec<(Var, u64, LoopKind)>,
    var_depth: HashMap<Var, usize>,
    local_depth: HashMap<Local, usize>,
    /// Finished reductions of this row: the local holding each result.
    reduced: HashMap<ValueId, Local>,
    /// The flat index of the current row (reduction results) or element
    /// (elementwise loop).
    row_flat: Option<Affine>,
    /// The matmul member and the buffer its GEMM writes.
    gemm: Option<(ValueId, BufId)>,
    /// Every index at which the epilogue read the GEMM's result.
    c_loads: Vec<Affine>,
    /// Reduced values kept while a reduction's loop computes them: each is
    /// also stored into a row store's buffer there, and the row pass loads
    /// it back instead of computing it again (softmax's `exp(x - max)`).
    kept: Vec<(ValueId, BufId)>,
    div_rem: bool,
}

/// Loop-invariance depth of an accumulator: it changes in the innermost loop.
const VARYING: usize = usize::MAX;

impl<'c, 'g> Emitter<'c, 'g> {
    fn new(
        cx: &'c mut Context<'g>,
        grp: &'c Group,
        outer_flat: bool,
        inner_flat: bool,
    ) -> Emitter<'c, 'g> {
        let g = cx.g;
        Emitter {
            cx,
            g,
            grp,
            outer_flat,
            inner_flat,
            ranges: Ranges::new(),
            next_var: 0,
            next_local: 0,
            blocks: vec![Block::default()],
            loops: Vec::new(),
            var_depth: HashMap::new(),
            local_depth: HashMap::new(),
            reduced: HashMap::new(),
            row_flat: None,
            gemm: None,
            c_loads: Vec::new(),
            kept: Vec::new(),
            div_rem: false,
        }
    }

    fn finish(mut self) -> (Vec<Stmt>, bool) {
        (std::mem::take(&mut self.blocks[0].stmts), self.div_rem)
    }

    fn is_member(&self, v: ValueId) -> bool {
        self.grp.members.binary_search(&v).is_ok()
    }

    fn dims(&self, v: ValueId) -> Vec<u64> {
        dims(self.g, v)
    }

    // ---- loops, locals and the index helpers ----

    /// Opens loops over `shape`: one flat loop, or one per dim (dims of 1 get
    /// none); gives the multi-index.
    fn open(&mut self, shape: &[u64], flat: bool, parallel: bool) -> Vec<Affine> {
        if flat {
            let n: u64 = shape.iter().product();
            let f = if n == 1 {
                Affine::constant(0)
            } else {
                self.open_loop(n, parallel)
            };
            return self.split(&f, shape);
        }
        let mut idx = Vec::with_capacity(shape.len());
        let mut first = true;
        for &d in shape {
            if d == 1 {
                idx.push(Affine::constant(0));
            } else {
                idx.push(self.open_loop(d, parallel && first));
                first = false;
            }
        }
        idx
    }

    fn open_loop(&mut self, extent: u64, parallel: bool) -> Affine {
        let var = Var(self.next_var);
        self.next_var += 1;
        self.ranges.set(var, extent);
        let kind = if parallel {
            LoopKind::Parallel
        } else {
            LoopKind::Serial
        };
        self.loops.push((var, extent, kind));
        self.blocks.push(Block::default());
        self.var_depth.insert(var, self.blocks.len() - 1);
        self.ranges.var(var)
    }

    /// Closes the loops opened since there were `depth` blocks.
    fn close_to(&mut self, depth: usize) {
        while self.blocks.len() > depth {
            let block = self.blocks.pop().map(|b| b.stmts).unwrap_or_default();
            let Some((var, extent, kind)) = self.loops.pop() else {
                return;
            };
            let stmt = Stmt::Loop {
                var,
                extent,
                kind,
                body: block,
            };
            if let Some(parent) = self.blocks.last_mut() {
                parent.stmts.push(stmt);
            }
        }
    }

    fn flat(&self, idx: &[Affine], shape: &[u64]) -> Affine {
        let st = strides(shape);
        idx.iter()
            .zip(&st)
            .zip(shape)
            .fold(Affine::constant(0), |acc, ((i, &s), &d)| {
                if d == 1 {
                    acc
                } else {
                    self.ranges.add(&acc, &self.ranges.mul(i, s))
                }
            })
    }

    /// The multi-index of element `f` of a row-major `shape`.
    fn split(&self, f: &Affine, shape: &[u64]) -> Vec<Affine> {
        let st = strides(shape);
        shape
            .iter()
            .zip(&st)
            .map(|(&d, &s)| match d {
                1 => Affine::constant(0),
                // An empty shape has no elements: keep `f`, so that nothing
                // computed from it looks invariant in the loop that never runs.
                0 => f.clone(),
                _ => self.ranges.rem(&self.ranges.div(f, s), d),
            })
            .collect()
    }

    /// The index into an operand of shape `arg` that numpy broadcasting
    /// reads for result index `idx`.
    fn broadcast(&self, idx: &[Affine], arg: &[u64]) -> Vec<Affine> {
        let pad = idx.len() - arg.len().min(idx.len());
        arg.iter()
            .enumerate()
            .map(|(d, &n)| {
                if n == 1 {
                    Affine::constant(0)
                } else {
                    idx.get(d + pad).cloned().unwrap_or_default()
                }
            })
            .collect()
    }

    fn depth(&self, e: &Expr) -> usize {
        let mut d = 0;
        e.walk(&mut |x| match x {
            Expr::Local(l) => d = d.max(self.local_depth.get(l).copied().unwrap_or(VARYING)),
            Expr::Index(i) | Expr::Load { index: i, .. } => {
                i.vars(&mut |v| d = d.max(self.var_depth.get(&v).copied().unwrap_or(VARYING)))
            }
            _ => {}
        });
        d.min(self.blocks.len() - 1)
    }

    fn new_local(&mut self) -> Local {
        let l = Local(self.next_local);
        self.next_local += 1;
        l
    }

    /// Binds `e` to a local in the outermost block where its inputs are
    /// defined, remembering it as the value of `key` there.
    fn bind(&mut self, e: Expr, dtype: DType, key: Option<(ValueId, Affine)>) -> Expr {
        let local = self.new_local();
        let depth = self.depth(&e);
        self.local_depth.insert(local, depth);
        let block = &mut self.blocks[depth];
        block.stmts.push(Stmt::Let {
            local,
            dtype,
            value: e,
        });
        if let Some(k) = key {
            block.memo.insert(k, local);
        }
        Expr::Local(local)
    }

    fn memo(&self, v: ValueId, at: &Affine) -> Option<Expr> {
        let key = (v, at.clone());
        self.blocks
            .iter()
            .rev()
            .find_map(|b| b.memo.get(&key))
            .map(|&l| Expr::Local(l))
    }

    fn index(&mut self, a: &Affine) -> Index {
        self.div_rem |= a.has_div_rem();
        a.to_index()
    }

    fn load(&mut self, v: ValueId, buf: BufId, at: Affine) -> Expr {
        let index = self.index(&at);
        let dtype = self.g.ty(v).dtype;
        self.bind(Expr::Load { buf, index }, dtype, Some((v, at)))
    }

    /// A local that a loop updates: declared here, never hoisted.
    fn accumulator(&mut self, dtype: DType, init: Scalar) -> Local {
        let local = self.new_local();
        self.local_depth.insert(local, VARYING);
        let value = Expr::Const(init);
        if let Some(b) = self.blocks.last_mut() {
            b.stmts.push(Stmt::Let {
                local,
                dtype,
                value,
            });
        }
        local
    }

    fn push(&mut self, s: Stmt) {
        if let Some(b) = self.blocks.last_mut() {
            b.stmts.push(s);
        }
    }

    // ---- values ----

    /// Element `idx` of `v`: a constant or a local.
    fn value(&mut self, v: ValueId, idx: &[Affine]) -> Result<Expr, String> {
        let g = self.g;
        let shape = self.dims(v);
        let at = self.flat(idx, &shape);
        if let Some(e) = self.memo(v, &at) {
            return Ok(e);
        }
        let node = g.node(v);
        if !self.is_member(v) {
            if let Op::Const(t) = &node.op {
                if t.numel() == 1 {
                    return Scalar::from_data(&t.data, 0)
                        .map(Expr::Const)
                        .ok_or_else(|| format!("constant {} is empty", label(g, v)));
                }
            }
            let buf = self.cx.buffer_of(v)?;
            return Ok(self.load(v, buf, at));
        }
        if let Some((mm, c)) = self.gemm {
            if mm == v {
                self.c_loads.push(at.clone());
                return Ok(self.load(v, c, at));
            }
        }
        let args = &node.args;
        let arg_dims = |i: usize| dims(g, args[i]);
        let e = match &node.op {
            Op::Reduce { .. } | Op::ArgMax { .. } | Op::ArgMin { .. } => {
                let local = self.reduced.get(&v).copied().ok_or_else(|| {
                    format!("{} is read before the kernel has computed it", label(g, v))
                })?;
                if self.row_flat.as_ref() != Some(&at) {
                    return Err(format!(
                        "{} is read outside the row it reduces",
                        label(g, v)
                    ));
                }
                return Ok(Expr::Local(local));
            }
            Op::Unary(u) => {
                let a = self.value(args[0], &self.broadcast(idx, &arg_dims(0)))?;
                Expr::Unary(*u, Box::new(a))
            }
            Op::Binary(b) => {
                let a = self.value(args[0], &self.broadcast(idx, &arg_dims(0)))?;
                let c = self.value(args[1], &self.broadcast(idx, &arg_dims(1)))?;
                Expr::Binary(*b, Box::new(a), Box::new(c))
            }
            Op::Select => {
                let c = self.value(args[0], &self.broadcast(idx, &arg_dims(0)))?;
                let a = self.value(args[1], &self.broadcast(idx, &arg_dims(1)))?;
                let b = self.value(args[2], &self.broadcast(idx, &arg_dims(2)))?;
                Expr::Select(Box::new(c), Box::new(a), Box::new(b))
            }
            Op::Cast { to } => {
                let a = self.value(args[0], idx)?;
                if g.ty(args[0]).dtype == *to {
                    return Ok(a);
                }
                Expr::Cast(*to, Box::new(a))
            }
            Op::BroadcastTo { .. } => {
                return self.value(args[0], &self.broadcast(idx, &arg_dims(0)))
            }
            Op::Transpose { perm } => {
                let mut from = vec![Affine::constant(0); perm.len()];
                for (i, &p) in perm.iter().enumerate() {
                    if let (Some(slot), Some(x)) = (from.get_mut(p), idx.get(i)) {
                        *slot = x.clone();
                    }
                }
                return self.value(args[0], &from);
            }
            Op::Reshape { .. } => {
                let from = self.split(&at, &arg_dims(0));
                return self.value(args[0], &from);
            }
            Op::Slice { start, step, .. } => {
                let from: Vec<Affine> = idx
                    .iter()
                    .zip(start.iter().zip(step))
                    .map(|(i, (&s, &k))| {
                        self.ranges
                            .add(&self.ranges.mul(i, k), &Affine::constant(s))
                    })
                    .collect();
                return self.value(args[0], &from);
            }
            Op::OneHot { .. } => {
                let Some((depth_at, row)) = idx.split_last() else {
                    return Err(format!("{} is a one_hot without a depth axis", label(g, v)));
                };
                let a = self.value(args[0], row)?;
                let a = if g.ty(args[0]).dtype == DType::I64 {
                    a
                } else {
                    Expr::Cast(DType::I64, Box::new(a))
                };
                let depth_index = self.index(depth_at);
                let hit = Expr::Binary(
                    BinaryOp::Eq,
                    Box::new(a),
                    Box::new(Expr::Index(depth_index)),
                );
                Expr::Cast(DType::F32, Box::new(hit))
            }
            op => {
                return Err(format!(
                    "{} ({}) cannot be computed inside a loop",
                    label(g, v),
                    op.name()
                ))
            }
        };
        Ok(self.bind(e, node.ty.dtype, Some((v, at))))
    }

    // ---- groups ----

    fn group(&mut self) -> Result<(), String> {
        let g = self.g;
        if self.grp.kind == GroupKind::Concat {
            return self.concat();
        }
        if let Some((mm, c)) = self.gemm {
            self.gemm_call(mm, c)?;
        }
        let skip = self.gemm.map(|(mm, _)| mm);
        let stores: Vec<ValueId> = self
            .grp
            .stored
            .iter()
            .copied()
            .filter(|&s| Some(s) != skip)
            .collect();
        if stores.is_empty() {
            return Ok(());
        }
        let reductions: Vec<ValueId> = self
            .grp
            .members
            .iter()
            .copied()
            .filter(|&m| {
                matches!(
                    g.node(m).op,
                    Op::Reduce { .. } | Op::ArgMax { .. } | Op::ArgMin { .. }
                )
            })
            .collect();
        let Some(&first) = reductions.first() else {
            let root = *self.grp.members.last().ok_or("an empty kernel")?;
            let space = self.dims(root);
            let idx = self.open(&space, self.outer_flat, true);
            let at = self.flat(&idx, &space);
            self.row_flat = Some(at.clone());
            self.store_all(&stores, &at, space.iter().product())?;
            self.close_to(1);
            return Ok(());
        };
        let x = g.node(first).args[0];
        let x_dims = self.dims(x);
        let axes = reduced_axes(&g.node(first).op);
        let (kept, rows): (Vec<u64>, Vec<u64>) = {
            let k = x_dims
                .iter()
                .enumerate()
                .filter(|(i, _)| !axes.contains(i))
                .map(|(_, &d)| d)
                .collect();
            let r = axes
                .iter()
                .map(|&a| x_dims.get(a).copied().unwrap_or(0))
                .collect();
            (k, r)
        };
        let (n_kept, n_all) = (kept.iter().product::<u64>(), x_dims.iter().product::<u64>());
        let (row_stores, kept_stores): (Vec<ValueId>, Vec<ValueId>) = stores
            .iter()
            .partition(|&&s| n_all != n_kept && g.ty(s).shape.numel() == Some(n_all));
        if self.by_columns(&reductions, &axes, &x_dims, n_kept) {
            return self.columns(
                &reductions,
                &kept,
                &rows,
                &axes,
                &x_dims,
                (&row_stores, &kept_stores),
            );
        }
        self.kept = self.keepable(&reductions, &row_stores)?;
        let kidx = self.open(&kept, self.outer_flat, true);
        let kat = self.flat(&kidx, &kept);
        self.row_flat = Some(kat.clone());
        let outer = self.blocks.len();
        for &r in &reductions {
            self.reduce(r, &kidx, &rows, &axes, &x_dims)?;
        }
        if !row_stores.is_empty() {
            let ridx = self.open(&rows, self.inner_flat, false);
            let full = merge(&kidx, &ridx, &axes, x_dims.len());
            let at = self.flat(&full, &x_dims);
            // Softmax's `e / sum` stays a division: a reciprocal-multiply
            // rounds twice (results no longer bit-equal to numpy's), and this
            // pass is one load and one store an element, bound by memory.
            for (x, buf) in self.kept.clone() {
                self.load(x, buf, at.clone());
            }
            self.store_all(&row_stores, &at, n_all)?;
            self.close_to(outer);
        }
        self.store_all(&kept_stores, &kat, n_kept)?;
        self.close_to(1);
        Ok(())
    }

    /// Whether the reductions reduce leading axes only (`sum(x, axis = 0)` of
    /// a matrix), so that the elements they keep are contiguous: then
    /// [`Emitter::columns`] reads memory in order where the row-by-row shape
    /// would stride across it.
    fn by_columns(
        &self,
        reductions: &[ValueId],
        axes: &[usize],
        x_dims: &[u64],
        n_kept: u64,
    ) -> bool {
        let g = self.g;
        let leading = axes.iter().enumerate().all(|(i, &a)| a == i) && axes.len() < x_dims.len();
        leading
            && n_kept > 1
            && self.gemm.is_none()
            && reductions.iter().all(|&r| {
                matches!(g.node(r).op, Op::Reduce { .. })
                    && reduced_axes(&g.node(r).op) == axes
                    && self.dims(g.node(r).args[0]) == x_dims
            })
    }

    /// A reduction over leading axes, in three passes that each walk memory
    /// in order: every reduction accumulates into a temporary row of the
    /// kept elements (one sweep over the rows, the kept elements innermost,
    /// each element summed in the same order as row by row would); then the
    /// values stored per kept element; then those stored per element.
    fn columns(
        &mut self,
        reductions: &[ValueId],
        kept: &[u64],
        rows: &[u64],
        axes: &[usize],
        x_dims: &[u64],
        (row_stores, kept_stores): (&[ValueId], &[ValueId]),
    ) -> Result<(), String> {
        let g = self.g;
        let n_kept: u64 = kept.iter().product();
        let n_rows: u64 = rows.iter().product();
        let accs: Vec<(ValueId, ReduceOp, Accumulation, BufId)> = reductions
            .iter()
            .map(|&r| {
                let Op::Reduce { op, .. } = g.node(r).op else {
                    return Err(format!("{} is not a reduction", label(g, r)));
                };
                let how = Accumulation::of(op, g.ty(g.node(r).args[0]).dtype);
                let buf = self.cx.scratch(how.acc_t, kept.to_vec());
                Ok((r, op, how, buf))
            })
            .collect::<Result<_, String>>()?;
        // Every accumulator starts at its identity.
        let k = self.open_loop(n_kept, true);
        for (_, _, how, buf) in &accs {
            let index = self.index(&k);
            self.push(Stmt::Store {
                buf: *buf,
                index,
                value: Expr::Const(how.init),
            });
        }
        self.close_to(1);
        // The reductions' results at kept element `k`, read back from their
        // accumulators (the first `n` of them).
        let finish = |em: &mut Self, k: &Affine, n: usize| {
            em.row_flat = Some(k.clone());
            for &(r, op, ref how, buf) in &accs[..n] {
                let index = em.index(k);
                let acc = em.bind(Expr::Load { buf, index }, how.acc_t, None);
                let xt = g.ty(g.node(r).args[0]).dtype;
                let value = how.result(op, xt, acc, n_rows);
                let Expr::Local(local) = em.bind(value, g.ty(r).dtype, None) else {
                    return Err("internal: a bound value is not a local".to_string());
                };
                em.reduced.insert(r, local);
            }
            Ok(())
        };
        // One sweep over the rows a reduction, the kept elements the inner
        // loop; a reduction may read the ones before it (softmax's max).
        for (j, &(r, _, ref how, buf)) in accs.iter().enumerate() {
            let ridx = self.open(rows, true, false);
            let k = self.open_loop(n_kept, false);
            finish(self, &k, j)?;
            let kidx = self.split(&k, kept);
            let full = merge(&kidx, &ridx, axes, x_dims.len());
            let mut e = self.value(g.node(r).args[0], &full)?;
            if how.wide {
                e = Expr::Cast(how.acc_t, Box::new(e));
            }
            let index = self.index(&k);
            let acc = Expr::Load {
                buf,
                index: index.clone(),
            };
            self.push(Stmt::Store {
                buf,
                index,
                value: Expr::Binary(how.combine, Box::new(acc), Box::new(e)),
            });
            self.close_to(1);
        }
        // The values stored per kept element, then per element.
        let all = accs.len();
        if !kept_stores.is_empty() {
            let k = self.open_loop(n_kept, true);
            finish(self, &k, all)?;
            self.store_all(kept_stores, &k, n_kept)?;
            self.close_to(1);
        }
        if !row_stores.is_empty() {
            let ridx = self.open(rows, true, true);
            let k = self.open_loop(n_kept, false);
            finish(self, &k, all)?;
            let kidx = self.split(&k, kept);
            let full = merge(&kidx, &ridx, axes, x_dims.len());
            let at = self.flat(&full, x_dims);
            self.store_all(row_stores, &at, n_rows * n_kept)?;
            self.close_to(1);
        }
        Ok(())
    }

    /// The reduced values worth keeping, each with the buffer of a row store
    /// that reads it at its own element: a value computed in the kernel (not
    /// a load), of the store's dtype and shape, reached from the store
    /// through elementwise ops without broadcasting. One store each.
    fn keepable(
        &mut self,
        reductions: &[ValueId],
        row_stores: &[ValueId],
    ) -> Result<Vec<(ValueId, BufId)>, String> {
        let g = self.g;
        let mut kept: Vec<(ValueId, BufId)> = Vec::new();
        let mut used = Vec::new();
        for &r in reductions {
            if !matches!(g.node(r).op, Op::Reduce { .. }) {
                continue;
            }
            let x = g.node(r).args[0];
            let computed = self.is_member(x)
                && matches!(g.node(x).op, Op::Unary(_) | Op::Binary(..) | Op::Select)
                && self.gemm.is_none_or(|(mm, _)| mm != x);
            if !computed || kept.iter().any(|(v, _)| *v == x) {
                continue;
            }
            let reader = row_stores.iter().copied().find(|&s| {
                !used.contains(&s)
                    && g.ty(s).dtype == g.ty(x).dtype
                    && self.dims(s) == self.dims(x)
                    && self.reads_at_own_element(s, x)
            });
            if let Some(s) = reader {
                used.push(s);
                kept.push((x, self.cx.buffer_of(s)?));
            }
        }
        Ok(kept)
    }

    /// Whether member `v` reads `x` at its own element: `v` is `x`, or an
    /// elementwise op with an operand of its own shape that does.
    fn reads_at_own_element(&self, v: ValueId, x: ValueId) -> bool {
        if v == x {
            return true;
        }
        let node = self.g.node(v);
        self.is_member(v)
            && matches!(
                node.op,
                Op::Unary(_) | Op::Binary(..) | Op::Select | Op::Cast { .. }
            )
            && node
                .args
                .iter()
                .any(|&a| self.dims(a) == self.dims(v) && self.reads_at_own_element(a, x))
    }

    /// Computes each value of `stores` at element `at` of a loop over `n`
    /// elements, then stores them all (loads of an in-place GEMM result come
    /// first).
    fn store_all(&mut self, stores: &[ValueId], at: &Affine, n: u64) -> Result<(), String> {
        let g = self.g;
        let mut done = Vec::with_capacity(stores.len());
        for &s in stores {
            if g.ty(s).shape.numel() != Some(n) {
                return Err(format!(
                    "{} does not have the {n} elements of its kernel's loop",
                    label(g, s)
                ));
            }
            let idx = self.split(at, &self.dims(s));
            let e = self.value(s, &idx)?;
            let buf = self.cx.buffer_of(s)?;
            done.push((buf, e));
        }
        for (buf, value) in done {
            let index = self.index(at);
            self.push(Stmt::Store { buf, index, value });
        }
        Ok(())
    }

    /// One reduction of the current row: an accumulation loop, then the
    /// result in a local.
    fn reduce(
        &mut self,
        r: ValueId,
        kidx: &[Affine],
        rows: &[u64],
        axes: &[usize],
        x_dims: &[u64],
    ) -> Result<(), String> {
        let g = self.g;
        let node = g.node(r);
        let x = node.args[0];
        let xt = g.ty(x).dtype;
        let depth = self.blocks.len();
        let result = match &node.op {
            Op::Reduce { op, .. } => {
                let how = Accumulation::of(*op, xt);
                let acc = self.accumulator(how.acc_t, how.init);
                let opened = self.loops.len();
                let ridx = self.open(rows, self.inner_flat, false);
                // Lowering knows what these loops are: the backends are told.
                for (_, _, kind) in &mut self.loops[opened..] {
                    *kind = LoopKind::Reduce(vec![(acc, how.combine)]);
                }
                let full = merge(kidx, &ridx, axes, x_dims.len());
                let mut e = self.value(x, &full)?;
                if let Some(&(_, buf)) = self.kept.iter().find(|(v, _)| *v == x) {
                    let index = self.flat(&full, x_dims);
                    let index = self.index(&index);
                    self.push(Stmt::Store {
                        buf,
                        index,
                        value: e.clone(),
                    });
                }
                if how.wide {
                    e = Expr::Cast(how.acc_t, Box::new(e));
                }
                self.push(Stmt::Assign {
                    local: acc,
                    value: Expr::Binary(how.combine, Box::new(Expr::Local(acc)), Box::new(e)),
                });
                self.close_to(depth);
                self.local_depth.insert(acc, depth - 1);
                how.result(*op, xt, Expr::Local(acc), rows.iter().product())
            }
            Op::ArgMax { .. } | Op::ArgMin { .. } => {
                let max = matches!(node.op, Op::ArgMax { .. });
                let best = self.accumulator(xt, if max { lowest(xt) } else { highest(xt) });
                let arg = self.accumulator(DType::I32, Scalar::I32(0));
                let ridx = self.open(rows, self.inner_flat, false);
                let full = merge(kidx, &ridx, axes, x_dims.len());
                let e = self.value(x, &full)?;
                let cmp = if max { BinaryOp::Gt } else { BinaryOp::Lt };
                let better = Expr::Binary(cmp, Box::new(e.clone()), Box::new(Expr::Local(best)));
                // numpy: the first NaN wins, and nothing beats it.
                let take = if xt.is_float() {
                    let is_nan =
                        Expr::Binary(BinaryOp::Ne, Box::new(e.clone()), Box::new(e.clone()));
                    let best_ok = Expr::Binary(
                        BinaryOp::Eq,
                        Box::new(Expr::Local(best)),
                        Box::new(Expr::Local(best)),
                    );
                    Expr::Select(Box::new(is_nan), Box::new(best_ok), Box::new(better))
                } else {
                    better
                };
                let take = self.bind(take, DType::Bool, None);
                let position = match ridx.first() {
                    Some(j) => {
                        let j = self.index(j);
                        Expr::Cast(DType::I32, Box::new(Expr::Index(j)))
                    }
                    None => Expr::Const(Scalar::I32(0)),
                };
                let pick = |a: Expr, b: Local| {
                    Expr::Select(
                        Box::new(take.clone()),
                        Box::new(a),
                        Box::new(Expr::Local(b)),
                    )
                };
                self.push(Stmt::Assign {
                    local: arg,
                    value: pick(position, arg),
                });
                self.push(Stmt::Assign {
                    local: best,
                    value: pick(e, best),
                });
                self.close_to(depth);
                self.local_depth.insert(best, depth - 1);
                self.local_depth.insert(arg, depth - 1);
                Expr::Local(arg)
            }
            op => return Err(format!("{} is not a reduction", op.name())),
        };
        let local = match result {
            Expr::Local(l) => l,
            e => match self.bind(e, node.ty.dtype, None) {
                Expr::Local(l) => l,
                _ => return Err("internal: a bound value is not a local".into()),
            },
        };
        self.reduced.insert(r, local);
        Ok(())
    }

    fn concat(&mut self) -> Result<(), String> {
        let g = self.g;
        let c = *self.grp.members.last().ok_or("an empty kernel")?;
        let Op::Concat { axis } = g.node(c).op else {
            return Err(format!("{} is not a concat", label(g, c)));
        };
        let out_dims = self.dims(c);
        let out = self.cx.buffer_of(c)?;
        // The dims before `axis` are every piece's: where they hold enough
        // rows to share out among threads (a GPU's too), one loop nest over
        // them holds each piece's own loops, so the result is written in
        // order, row by row, in one parallel pass (an im2col of 49
        // three-channel taps was 49 passes over the whole result before).
        let outer = &out_dims[..axis.min(out_dims.len())];
        let shared = if outer.iter().product::<u64>() >= SHARED_ROWS {
            Some(self.open(outer, self.outer_flat, true))
        } else {
            None
        };
        let depth = self.blocks.len();
        let mut offset = 0u64;
        for &a in &g.node(c).args {
            let a_dims = self.dims(a);
            let idx = match &shared {
                Some(outer_idx) => {
                    let inner = self.open(&a_dims[outer.len()..], self.inner_flat, false);
                    [outer_idx.clone(), inner].concat()
                }
                None => self.open(&a_dims, self.outer_flat, true),
            };
            let mut at = idx.clone();
            if let Some(i) = at.get_mut(axis) {
                *i = self.ranges.add(i, &Affine::constant(offset));
            }
            let out_at = self.flat(&at, &out_dims);
            let value = self.value(a, &idx)?;
            let index = self.index(&out_at);
            self.push(Stmt::Store {
                buf: out,
                index,
                value,
            });
            self.close_to(depth);
            offset += a_dims.get(axis).copied().unwrap_or(0);
        }
        if shared.is_some() {
            if let Some(block) = self.blocks.last_mut() {
                let stmts = std::mem::take(&mut block.stmts);
                let joined = join_copies(&mut self.ranges, stmts);
                if let Some(block) = self.blocks.last_mut() {
                    block.stmts = joined;
                }
            }
        }
        self.close_to(1);
        Ok(())
    }

    /// The GEMM (or GEMMs, in loops over broadcast batch dims) of `mm`,
    /// writing buffer `c`.
    fn gemm_call(&mut self, mm: ValueId, c: BufId) -> Result<(), String> {
        let g = self.g;
        let [a, b] = g.node(mm).args[..] else {
            return Err(format!("{} needs two operands", label(g, mm)));
        };
        // An operand transposed in its last two dims is read through the flag.
        let operand = |v: ValueId| {
            if self.grp.transposed.contains(&v) && swaps_last_two(&g.node(v).op) {
                (g.node(v).args[0], true)
            } else {
                (v, false)
            }
        };
        let ((pa, ta), (pb, tb)) = (operand(a), operand(b));
        for x in [pa, pb] {
            if self.is_member(x) {
                return Err(format!(
                    "{} is a gemm operand, so it must be in memory",
                    label(g, x)
                ));
            }
        }
        let (a_buf, b_buf) = (self.cx.buffer_of(pa)?, self.cx.buffer_of(pb)?);
        let (da, db) = (self.dims(pa), self.dims(pb));
        let (ra, rb) = (da.len(), db.len());
        let logical = |d: &[u64], t: bool| {
            let mut d = d.to_vec();
            let r = d.len();
            if t && r >= 2 {
                d.swap(r - 1, r - 2);
            }
            d
        };
        let (la, lb) = (logical(&da, ta), logical(&db, tb));
        let m = if ra >= 2 { la[ra - 2] } else { 1 };
        let k = la.last().copied().unwrap_or(0);
        let n = if rb >= 2 { lb[rb - 1] } else { 1 };
        let lda = da.last().copied().unwrap_or(1);
        let ldb = if rb >= 2 { db[rb - 1] } else { 1 };
        let a_batch = &da[..ra.saturating_sub(2)];
        let b_batch = &db[..rb.saturating_sub(2)];
        let out = self.dims(mm);
        let batch_rank = out
            .len()
            .checked_sub(usize::from(ra >= 2) + usize::from(rb >= 2))
            .ok_or_else(|| format!("{} has a result of the wrong rank", label(g, mm)))?;
        let batch = out[..batch_rank].to_vec();
        let (a_mat, b_mat, c_mat) = (m * k, k * n, m * n);
        let simple = |x: &[u64], mat: u64| {
            if x.iter().product::<u64>() == 1 {
                Some(0)
            } else if x == batch.as_slice() {
                Some(mat)
            } else {
                None
            }
        };
        let mat = |buf, offset: Affine, ld, stride, e: &mut Self| MatRef {
            buf,
            offset: e.index(&offset),
            ld,
            stride,
        };
        let call = |e: &mut Self, m: u64, count: u64, offs: [Affine; 3], strides: [u64; 3]| {
            let [oa, ob, oc] = offs;
            let gemm = Gemm {
                m,
                n,
                k,
                batch: count,
                a: mat(a_buf, oa, lda, strides[0], e),
                b: mat(b_buf, ob, ldb, strides[1], e),
                c: mat(c, oc, n, strides[2], e),
                trans_a: ta,
                trans_b: tb,
                alpha: 1.0,
                beta: 0.0,
            };
            e.push(Stmt::Gemm(gemm));
        };
        let zero = || Affine::constant(0);
        match (simple(a_batch, a_mat), simple(b_batch, b_mat)) {
            // A batch of row-major `a`s against one `b` is one tall product: the
            // matrices lie end to end in `a` and in `c`. One call lets the GEMM
            // pack `b` once and split the rows across cores.
            (Some(sa), Some(0)) if !ta && sa == a_mat => {
                let rows = m * batch.iter().product::<u64>();
                call(
                    self,
                    rows,
                    1,
                    [zero(), zero(), zero()],
                    [rows * k, 0, rows * n],
                );
            }
            (Some(sa), Some(sb)) => {
                let count = batch.iter().product();
                call(self, m, count, [zero(), zero(), zero()], [sa, sb, c_mat]);
            }
            _ => {
                let depth = self.blocks.len();
                let bidx = self.open(&batch, false, true);
                let oa = self
                    .ranges
                    .mul(&self.flat(&self.broadcast(&bidx, a_batch), a_batch), a_mat);
                let ob = self
                    .ranges
                    .mul(&self.flat(&self.broadcast(&bidx, b_batch), b_batch), b_mat);
                let oc = self.ranges.mul(&self.flat(&bidx, &batch), c_mat);
                call(self, m, 1, [oa, ob, oc], [a_mat, b_mat, c_mat]);
                self.close_to(depth);
            }
        }
        Ok(())
    }
}

/// Stands for the GEMM's scratch buffer until a body is chosen.
const SCRATCH: BufId = BufId(u32::MAX);

/// The buffers a statement itself names.
fn stmt_bufs(s: &Stmt) -> Vec<BufId> {
    let mut bufs = Vec::new();
    for e in s.exprs() {
        e.walk(&mut |x| {
            if let Expr::Load { buf, .. } = x {
                bufs.push(*buf);
            }
        });
    }
    match s {
        Stmt::Store { buf, .. } => bufs.push(*buf),
        Stmt::Gemm(gm) => bufs.extend([gm.a.buf, gm.b.buf, gm.c.buf]),
        _ => {}
    }
    bufs
}

fn rename_buf(body: &mut [Stmt], from: BufId, to: BufId) {
    fn expr(e: &mut Expr, from: BufId, to: BufId) {
        e.walk_mut(&mut |x| match x {
            Expr::Load { buf, .. } if *buf == from => *buf = to,
            _ => {}
        });
    }
    let swap = |b: &mut BufId| {
        if *b == from {
            *b = to;
        }
    };
    for s in body {
        match s {
            Stmt::Loop { body, .. } => rename_buf(body, from, to),
            Stmt::Let { value, .. } | Stmt::Assign { value, .. } => expr(value, from, to),
            Stmt::Store { buf, value, .. } => {
                swap(buf);
                expr(value, from, to);
            }
            Stmt::Gemm(gm) => {
                swap(&mut gm.a.buf);
                swap(&mut gm.b.buf);
                swap(&mut gm.c.buf);
            }
        }
    }
}

/// How a reduction of `x` accumulates: in what type (f32 sums and means in
/// f64), from what, with what.
struct Accumulation {
    acc_t: DType,
    init: Scalar,
    combine: BinaryOp,
    wide: bool,
}

impl Accumulation {
    fn of(op: ReduceOp, xt: DType) -> Accumulation {
        let wide = xt == DType::F32 && matches!(op, ReduceOp::Sum | ReduceOp::Mean);
        let acc_t = if wide { DType::F64 } else { xt };
        let (init, combine) = match op {
            // `+0.0`, not the identity `-0.0`: numpy's sum of nothing is `0.0`.
            ReduceOp::Sum | ReduceOp::Mean => (Scalar::from_f64(acc_t, 0.0), BinaryOp::Add),
            ReduceOp::Prod => (Scalar::from_f64(acc_t, 1.0), BinaryOp::Mul),
            ReduceOp::Max => (lowest(acc_t), BinaryOp::Maximum),
            ReduceOp::Min => (highest(acc_t), BinaryOp::Minimum),
        };
        Accumulation {
            acc_t,
            init,
            combine,
            wide,
        }
    }

    /// The reduction's value from its accumulator after `n` elements.
    fn result(&self, op: ReduceOp, xt: DType, acc: Expr, n: u64) -> Expr {
        let mut result = acc;
        if op == ReduceOp::Mean {
            let n = Scalar::from_f64(self.acc_t, n as f64);
            result = Expr::Binary(BinaryOp::Div, Box::new(result), Box::new(Expr::Const(n)));
        }
        if self.wide {
            result = Expr::Cast(xt, Box::new(result));
        }
        result
    }
}

/// The index into a reduction's operand: kept dims from `kept`, reduced
/// dims (`axes`) from `rows`.
fn merge(kept: &[Affine], rows: &[Affine], axes: &[usize], rank: usize) -> Vec<Affine> {
    let (mut k, mut r) = (kept.iter(), rows.iter());
    (0..rank)
        .map(|d| {
            if axes.contains(&d) {
                r.next()
            } else {
                k.next()
            }
            .cloned()
            .unwrap_or_default()
        })
        .collect()
}

/// The fewest rows (the product of the dims before the axis) for which a
/// concatenation's pieces share one loop nest over them: fewer would leave
/// a GPU's threads idle, where a nest for each piece has its own rows.
const SHARED_ROWS: u64 = 256;

/// `stmts` with each loop that continues the one before it joined to it:
/// `for i in 0..n { b[x + i] = a[y + i] }` then `for j in 0..m { b[x + n +
/// j] = a[y + n + j] }` become one loop of `n + m`, and the same for stores
/// of one constant. An im2col's taps that lie side by side in the input
/// (the `KW` taps of a row, all channels) so become one copy, not `KW`.
fn join_copies(ranges: &mut Ranges, stmts: Vec<Stmt>) -> Vec<Stmt> {
    let mut out: Vec<Stmt> = Vec::with_capacity(stmts.len());
    for s in stmts {
        let more = continued(ranges, out.last(), &s);
        if let (Some(Stmt::Loop { var, extent, .. }), Some(more)) = (out.last_mut(), more) {
            *extent += more;
            ranges.set(*var, *extent);
            continue;
        }
        out.push(s);
    }
    out
}

/// The extent of `b` where `b` is a serial copy (or constant) loop that
/// continues `a`'s, element for element.
fn continued(ranges: &Ranges, a: Option<&Stmt>, b: &Stmt) -> Option<u64> {
    let (
        Some(Stmt::Loop {
            var: v1,
            extent: n1,
            kind: LoopKind::Serial,
            body: b1,
        }),
        Stmt::Loop {
            var: v2,
            extent: n2,
            kind: LoopKind::Serial,
            body: b2,
        },
    ) = (a, b)
    else {
        return None;
    };
    let ((o1, i1, x1), (o2, i2, x2)) = (copy(b1)?, copy(b2)?);
    // `p` at `v1` and `q` at `v2` walk on as one: `p + v2 + n1 = q + v1`
    // holds exactly when each has its own variable once and `q` starts
    // where `p` ends (neither can name the other's variable).
    let walks_on = |p: &Index, q: &Index| {
        let after = ranges.add(&ranges.var(*v2), &Affine::constant(*n1));
        ranges.add(&ranges.affine(p), &after) == ranges.add(&ranges.affine(q), &ranges.var(*v1))
    };
    let same_value = match (x1, x2) {
        (Expr::Const(c1), Expr::Const(c2)) => c1 == c2,
        (Expr::Load { buf: s1, index: j1 }, Expr::Load { buf: s2, index: j2 }) => {
            s1 == s2 && walks_on(j1, j2)
        }
        _ => false,
    };
    (o1 == o2 && walks_on(i1, i2) && same_value).then_some(*n2)
}

/// `(buffer, index, value)` of a loop body that only stores one constant or
/// one loaded element: `b[i] = x`, or `let l = a[j]; b[i] = l`.
fn copy(body: &[Stmt]) -> Option<(BufId, &Index, &Expr)> {
    match body {
        [Stmt::Store { buf, index, value }] => Some((*buf, index, value)),
        [Stmt::Let {
            local,
            value: loaded @ Expr::Load { .. },
            ..
        }, Stmt::Store {
            buf,
            index,
            value: Expr::Local(l),
        }] if l == local => Some((*buf, index, loaded)),
        _ => None,
    }
}
