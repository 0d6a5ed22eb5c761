//! Kernel IR → CLIF: each kernel becomes one or more functions of a
//! `cranelift_module::Module` (a JIT module now, an object module ahead of
//! time), one per *task*.
//!
//! Every task function has the signature `fn(buffers: *const *mut u8, lo: u64,
//! hi: u64)`: `buffers[b]` is the base address of buffer `b`, and a task that
//! is a top-level loop runs iterations `lo..hi` of it, so a caller may split a
//! parallel loop across threads. Loop variables are block parameters, locals
//! are Cranelift `Variable`s, and addresses are computed from `Index`
//! arithmetic on 64-bit integers. Scalar semantics live in `ops`, inline math
//! in `math`, and which loops run as vectors is `vectorize`'s decision.

use crate::cost::work;
use crate::runtime::RuntimeFn;
use crate::vectorize::{self, Access, Accumulator};
use crate::{gemm, Options};
use cranelift_codegen::ir::condcodes::IntCC;
use cranelift_codegen::ir::types::{F64, F64X2, I16, I32, I32X4, I64, I8X16};
use cranelift_codegen::ir::{
    AbiParam, BlockArg, ConstantData, Endianness, FuncRef, Function, InstBuilder, MemFlagsData,
    Signature, Type, UserFuncName, Value,
};
use cranelift_frontend::{FunctionBuilder, FunctionBuilderContext, Variable};
use cranelift_module::{FuncId, Linkage, Module};
use std::collections::HashMap;
use tfg_ir::kernel::{
    BufId, Expr, Gemm, Index, Local, LoopKind, MatRef, Program, Ranges, Stmt, Var,
};
use tfg_ir::{BinaryOp, DType};

/// One function of the translated program.
#[derive(Clone, Debug)]
pub(crate) struct Task {
    pub symbol: String,
    pub func: FuncId,
    /// Index of the kernel it comes from.
    pub kernel: usize,
    /// The extent of the top-level loop whose iterations `lo..hi` the
    /// function runs; `None` for straight-line code, which ignores them.
    pub extent: Option<u64>,
    /// Whether that loop is `parallel`.
    pub parallel: bool,
    /// Estimated cost of running the whole task, in scalar operations.
    pub work: u64,
    /// Whether it calls a GEMM (which a second tier leaves to this one).
    pub gemm: bool,
}

pub(crate) type Result<T> = std::result::Result<T, String>;

/// What [`translate`] shows of each function it defines.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Listing {
    /// The CLIF as generated, before Cranelift's optimisations.
    Clif,
    /// The machine code, disassembled by Cranelift.
    Asm,
}

/// A listing to make, and where each function's goes.
pub(crate) type Show<'a> = (Listing, &'a mut dyn FnMut(&Task, &str));

/// Adds a function for every task of every kernel of `p` to `module`,
/// passing each to `show` as `listing` says, if given.
pub(crate) fn translate<M: Module>(
    module: &mut M,
    p: &Program,
    opts: &Options,
    linkage: Linkage,
    show: Option<Show>,
) -> std::result::Result<Vec<Task>, String> {
    translate_prefixed(module, p, opts, linkage, "tfg", show)
}

/// [`translate`], naming the functions `{prefix}_kernel{k}_{t}`, so that
/// several programs can share one module (an object file).
pub(crate) fn translate_prefixed<M: Module>(
    module: &mut M,
    p: &Program,
    opts: &Options,
    linkage: Linkage,
    prefix: &str,
    mut show: Option<Show>,
) -> std::result::Result<Vec<Task>, String> {
    let tiled = opts.tile.then(|| crate::tile::tile(p)).flatten();
    let p = tiled.as_ref().unwrap_or(p);
    let mut ctx = module.make_context();
    let mut fctx = FunctionBuilderContext::new();
    let mut runtime: HashMap<RuntimeFn, FuncId> = HashMap::new();
    let mut tasks = Vec::new();
    let sig = task_signature(module);
    for (ki, k) in p.kernels.iter().enumerate() {
        let in_kernel = |m: String| format!("kernel {}: {m}", k.name);
        for (ti, part) in tasks_of(&k.body).into_iter().enumerate() {
            let symbol = task_symbol(prefix, ki, ti);
            let func = module
                .declare_function(&symbol, linkage, &sig)
                .map_err(|e| in_kernel(e.to_string()))?;
            let (extent, parallel) = match part {
                [Stmt::Loop { extent, kind, .. }] => (Some(*extent), *kind == LoopKind::Parallel),
                _ => (None, false),
            };
            let task = Task {
                symbol,
                func,
                kernel: ki,
                extent,
                parallel,
                work: work(part),
                gemm: has_gemm(part),
            };
            // A vector operation the host cannot encode fails the
            // compilation; the scalar translation always works.
            let mut vector = opts.vectorize;
            loop {
                ctx.func = Function::with_name_signature(
                    UserFuncName::user(0, func.as_u32()),
                    sig.clone(),
                );
                build(
                    module,
                    &mut ctx.func,
                    &mut fctx,
                    &mut runtime,
                    p,
                    part,
                    extent.is_some(),
                    opts,
                    vector,
                )
                .map_err(in_kernel)?;
                let listing = show.as_ref().map(|(l, _)| *l);
                let clif = (listing == Some(Listing::Clif)).then(|| ctx.func.display().to_string());
                ctx.set_disasm(listing == Some(Listing::Asm));
                let defined = module.define_function(func, &mut ctx);
                let asm = ctx.compiled_code().and_then(|c| c.vcode.clone());
                module.clear_context(&mut ctx);
                match defined {
                    Ok(()) => {
                        if let Some((_, show)) = show.as_mut() {
                            show(&task, clif.or(asm).as_deref().unwrap_or(""));
                        }
                        break;
                    }
                    Err(_) if vector => vector = false,
                    Err(e) => return Err(in_kernel(format!("code generation failed: {e:?}"))),
                }
            }
            tasks.push(task);
        }
    }
    Ok(tasks)
}

/// Whether `part` has a GEMM.
pub(crate) fn has_gemm(part: &[Stmt]) -> bool {
    let mut gemm = false;
    Stmt::walk(part, &mut |s| gemm |= matches!(s, Stmt::Gemm(_)));
    gemm
}

/// The name of task `ti` of kernel `ki`.
pub(crate) fn task_symbol(prefix: &str, ki: usize, ti: usize) -> String {
    format!("{prefix}_kernel{ki}_{ti}")
}

/// `(buffers, lo, hi)`, nothing returned.
fn task_signature<M: Module>(module: &M) -> Signature {
    let mut sig = module.make_signature();
    let ptr = module.target_config().pointer_type();
    sig.params
        .extend([AbiParam::new(ptr), AbiParam::new(I64), AbiParam::new(I64)]);
    sig
}

/// A kernel body cut into tasks: each top-level loop alone (so it can be
/// split), and the straight-line statements between them together. A body
/// with top-level locals stays whole, as they may be used anywhere after.
pub(crate) fn tasks_of(body: &[Stmt]) -> Vec<&[Stmt]> {
    if body
        .iter()
        .any(|s| matches!(s, Stmt::Let { .. } | Stmt::Assign { .. }))
    {
        return vec![body];
    }
    let mut parts = Vec::new();
    let mut start = 0;
    for (i, s) in body.iter().enumerate() {
        if matches!(s, Stmt::Loop { .. }) {
            if start < i {
                parts.push(&body[start..i]);
            }
            parts.push(&body[i..i + 1]);
            start = i + 1;
        }
    }
    if start < body.len() {
        parts.push(&body[start..]);
    }
    parts
}

#[allow(clippy::too_many_arguments)]
fn build<M: Module>(
    module: &mut M,
    func: &mut Function,
    fctx: &mut FunctionBuilderContext,
    runtime: &mut HashMap<RuntimeFn, FuncId>,
    p: &Program,
    part: &[Stmt],
    as_loop: bool,
    opts: &Options,
    vector: bool,
) -> Result<()> {
    let config = module.target_config();
    let mut b = FunctionBuilder::new(func, fctx);
    let entry = b.create_block();
    b.append_block_params_for_function_params(entry);
    b.switch_to_block(entry);
    b.seal_block(entry);
    let &[table, lo, hi] = b.block_params(entry) else {
        return Err("internal error: a task function takes three parameters".into());
    };
    let fma = opts.fma && module.isa().has_native_fma();
    let mut t = Translator {
        b,
        fma,
        module,
        runtime,
        imported: HashMap::new(),
        p,
        opts,
        vectorize: vector,
        bases: HashMap::new(),
        sites: HashMap::new(),
        vars: HashMap::new(),
        locals: HashMap::new(),
        ranges: Ranges::new(),
        vector: None,
    };
    t.load_bases(table, part)?;
    match part {
        [Stmt::Loop {
            var,
            extent,
            kind,
            body,
        }] if as_loop => {
            t.ranges.set(*var, *extent);
            t.for_loop(*var, lo, hi, kind, body)?;
        }
        _ => t.block(part)?,
    }
    t.b.ins().return_(&[]);
    t.b.finalize(config);
    Ok(())
}

/// A local: its variable, dtype, and lanes (1 for a scalar).
#[derive(Clone, Copy)]
pub(crate) struct Slot {
    pub var: Variable,
    pub dtype: DType,
    pub lanes: u8,
}

/// The loop being emitted as vectors.
pub(crate) struct VectorCtx {
    pub var: Var,
    pub lanes: u8,
    /// Vector accumulators (two f64 halves for a widening one), by the
    /// local they stand for: one set for each copy of the body.
    pub accumulators: HashMap<Local, (Vec<Variable>, Accumulator)>,
    /// The copy of the body being emitted, of those one step runs.
    pub copy: usize,
}

/// Copies of a small reduction loop's body in one vector step, each with
/// accumulators of its own: a reduction's accumulator is one chain of
/// dependent operations (a `maximum` is six instructions), which independent
/// chains overlap.
const UNROLL: u8 = 4;

/// Serial loops of at most this many iterations run as copies of their body
/// (an im2col's few channels, a pool's window row): a loop's counter, test
/// and jump would cost more than the body, and a vector loop never starts.
const UNROLL_EXTENT: u64 = 3;

/// The largest body (statements and expression nodes) unrolled: a bigger
/// one keeps the core busy without it, and would only grow the code.
const UNROLL_BODY: usize = 16;

/// State while one task function is built.
pub(crate) struct Translator<'a, M: Module> {
    pub b: FunctionBuilder<'a>,
    /// Whether the target has a fused multiply-add instruction.
    pub fma: bool,
    module: &'a mut M,
    runtime: &'a mut HashMap<RuntimeFn, FuncId>,
    imported: HashMap<RuntimeFn, FuncRef>,
    pub p: &'a Program,
    pub opts: &'a Options,
    vectorize: bool,
    bases: HashMap<BufId, Value>,
    /// The address of each packed operand's `Site` (0 where the run keeps
    /// none), by the operand's buffer.
    sites: HashMap<BufId, Value>,
    /// The current value of each loop variable in scope (in a vector loop,
    /// its variable holds the first lane's iteration).
    vars: HashMap<Var, Value>,
    pub locals: HashMap<Local, Slot>,
    ranges: Ranges,
    pub vector: Option<VectorCtx>,
}

/// Memory flags of a scalar access: in bounds and naturally aligned.
pub(crate) fn scalar_flags() -> MemFlagsData {
    MemFlagsData::trusted()
}

/// Flags for a bitcast between vector types.
pub(crate) fn lanes_flags() -> MemFlagsData {
    MemFlagsData::new().with_endianness(Endianness::Little)
}

/// Memory flags of a vector access: in bounds, but aligned only to its lanes.
fn vector_flags() -> MemFlagsData {
    MemFlagsData::new().with_notrap()
}

impl<'a, M: Module> Translator<'a, M> {
    /// Lanes of the values being computed: 1 outside vector loops.
    pub fn lanes(&self) -> u8 {
        self.vector.as_ref().map_or(1, |v| v.lanes)
    }

    /// The runtime function `f`, imported into this function.
    pub fn runtime_ref(&mut self, f: RuntimeFn) -> Result<FuncRef> {
        if let Some(r) = self.imported.get(&f) {
            return Ok(*r);
        }
        let id = match self.runtime.get(&f) {
            Some(id) => *id,
            None => {
                let mut sig = self.module.make_signature();
                let (params, returns) = f.signature();
                sig.params.extend(params.into_iter().map(AbiParam::new));
                sig.returns.extend(returns.into_iter().map(AbiParam::new));
                let id = self
                    .module
                    .declare_function(f.name(), Linkage::Import, &sig)
                    .map_err(|e| e.to_string())?;
                self.runtime.insert(f, id);
                id
            }
        };
        let r = self.module.declare_func_in_func(id, self.b.func);
        self.imported.insert(f, r);
        Ok(r)
    }

    /// Loads the base address of every buffer `part` touches, once, at entry.
    fn load_bases(&mut self, table: Value, part: &[Stmt]) -> Result<()> {
        let used = Stmt::buffers(part);
        let ptr = self.module.target_config().pointer_type();
        for buf in used {
            if self.p.buffer(buf).is_none() {
                return Err(format!("{buf} does not exist"));
            }
            let offset = i32::try_from(buf.index() * ptr.bytes() as usize)
                .map_err(|_| "too many buffers".to_string())?;
            let base = self
                .b
                .ins()
                .load(ptr, scalar_flags().with_readonly(), table, offset);
            self.bases.insert(buf, base);
        }
        // A kept packing's `Site` sits after the buffers in the table.
        if self.opts.keep_packed {
            let mut gemms = Vec::new();
            Stmt::walk(part, &mut |s| {
                if let Stmt::Gemm(g) = s {
                    gemms.push(g.clone());
                }
            });
            for g in gemms {
                if !gemm::keeps_packed(self.p, &g) || self.sites.contains_key(&g.b.buf) {
                    continue;
                }
                let at = (self.p.buffers.len() + g.b.buf.index()) * ptr.bytes() as usize;
                let offset = i32::try_from(at).map_err(|_| "too many buffers".to_string())?;
                let site = self
                    .b
                    .ins()
                    .load(ptr, scalar_flags().with_readonly(), table, offset);
                self.sites.insert(g.b.buf, site);
            }
        }
        Ok(())
    }

    pub fn block(&mut self, body: &[Stmt]) -> Result<()> {
        for s in body {
            self.stmt(s)?;
        }
        Ok(())
    }

    fn stmt(&mut self, s: &Stmt) -> Result<()> {
        let lanes = self.lanes();
        match s {
            Stmt::Loop {
                var,
                extent,
                kind,
                body,
            } => {
                self.ranges.set(*var, *extent);
                if *extent <= UNROLL_EXTENT
                    && *kind == LoopKind::Serial
                    && body_size(body) <= UNROLL_BODY
                {
                    return self.unrolled(*var, *extent, body);
                }
                let lo = self.b.ins().iconst(I64, 0);
                let hi = self.b.ins().iconst(I64, *extent as i64);
                self.for_loop(*var, lo, hi, kind, body)
            }
            Stmt::Let {
                local,
                dtype,
                value,
            } => {
                let x = self.expr(value, lanes)?;
                let var = self.b.declare_var(clif_type(*dtype, lanes));
                self.b.def_var(var, x);
                self.locals.insert(
                    *local,
                    Slot {
                        var,
                        dtype: *dtype,
                        lanes,
                    },
                );
                Ok(())
            }
            Stmt::Assign { local, value } => {
                let acc = self
                    .vector
                    .as_ref()
                    .and_then(|v| v.accumulators.get(local))
                    .cloned();
                if let Some((vars, acc)) = acc {
                    let parts = if acc.widen { 2 } else { 1 };
                    let at = self.vector.as_ref().map_or(0, |v| v.copy) * parts;
                    let vars = vars
                        .get(at..at + parts)
                        .ok_or("internal error: an accumulator copy is missing")?;
                    return self.accumulate(vars, &acc, value);
                }
                let slot = *self
                    .locals
                    .get(local)
                    .ok_or_else(|| format!("{local} is assigned outside its scope"))?;
                let x = self.expr(value, slot.lanes)?;
                self.b.def_var(slot.var, x);
                Ok(())
            }
            Stmt::Store { buf, index, value } => self.store(*buf, index, value),
            Stmt::Gemm(g) => self.gemm(g),
        }
    }

    /// `for v in lo..hi { body }`, as vectors and a scalar tail where
    /// [`vectorize::analyse`] allows.
    fn for_loop(
        &mut self,
        v: Var,
        lo: Value,
        hi: Value,
        kind: &LoopKind,
        body: &[Stmt],
    ) -> Result<()> {
        if self.vectorize && self.vector.is_none() {
            let outer: HashMap<Local, DType> =
                self.locals.iter().map(|(l, s)| (*l, s.dtype)).collect();
            let accs = kind.accumulators();
            if let Some(plan) = vectorize::analyse(self.p, v, accs, body, &outer, &self.ranges) {
                let mut lo = lo;
                if !plan.accumulators.is_empty() && body_size(body) <= UNROLL_BODY {
                    let accs = plan.accumulators.clone();
                    lo = self.vector_loop(v, lo, hi, body, plan.lanes, accs, UNROLL)?;
                }
                let rest = self.vector_loop(v, lo, hi, body, plan.lanes, plan.accumulators, 1)?;
                return self.scalar_loop(v, rest, hi, body);
            }
        }
        self.scalar_loop(v, lo, hi, body)
    }

    /// A loop of `extent` iterations as that many copies of its body, the
    /// variable a constant in each.
    fn unrolled(&mut self, v: Var, extent: u64, body: &[Stmt]) -> Result<()> {
        for k in 0..extent {
            let i = self.b.ins().iconst(I64, k as i64);
            self.vars.insert(v, i);
            self.block(body)?;
        }
        self.vars.remove(&v);
        Ok(())
    }

    fn scalar_loop(&mut self, v: Var, lo: Value, hi: Value, body: &[Stmt]) -> Result<()> {
        let header = self.b.create_block();
        let i = self.b.append_block_param(header, I64);
        let inside = self.b.create_block();
        let exit = self.b.create_block();
        self.b.ins().jump(header, &[BlockArg::Value(lo)]);
        self.b.switch_to_block(header);
        let go = self.b.ins().icmp(IntCC::UnsignedLessThan, i, hi);
        self.b.ins().brif(go, inside, &[], exit, &[]);
        self.b.switch_to_block(inside);
        self.b.seal_block(inside);
        self.vars.insert(v, i);
        self.block(body)?;
        let next = self.b.ins().iadd_imm_s(i, 1);
        self.b.ins().jump(header, &[BlockArg::Value(next)]);
        self.b.seal_block(header);
        self.b.switch_to_block(exit);
        self.b.seal_block(exit);
        self.vars.remove(&v);
        Ok(())
    }

    /// The vector part of a loop: whole steps of `copies` × `lanes`
    /// iterations from `lo` (`copies` a power of two), the body emitted
    /// `copies` times a step; gives the first iteration left.
    #[allow(clippy::too_many_arguments)]
    fn vector_loop(
        &mut self,
        v: Var,
        lo: Value,
        hi: Value,
        body: &[Stmt],
        lanes: u8,
        accs: Vec<Accumulator>,
        copies: u8,
    ) -> Result<Value> {
        let step = lanes * copies;
        let span = self.b.ins().isub(hi, lo);
        let odd = self.b.ins().band_imm_u(span, i64::from(step - 1));
        let end = self.b.ins().isub(hi, odd);
        let mut accumulators = HashMap::new();
        for a in accs {
            let (parts, width) = if a.widen { (2, 2) } else { (1, lanes) };
            let identity = tfg_ir::element::identity(a.op, a.dtype)
                .ok_or_else(|| format!("internal error: {} does not accumulate", a.op.name()))?;
            let vars = (0..parts * usize::from(copies))
                .map(|_| {
                    let var = self.b.declare_var(clif_type(a.dtype, width));
                    let init = self.konst(identity, width);
                    self.b.def_var(var, init);
                    var
                })
                .collect();
            accumulators.insert(a.local, (vars, a));
        }
        let header = self.b.create_block();
        let i = self.b.append_block_param(header, I64);
        let inside = self.b.create_block();
        let exit = self.b.create_block();
        let rest = self.b.append_block_param(exit, I64);
        self.b.ins().jump(header, &[BlockArg::Value(lo)]);
        self.b.switch_to_block(header);
        let go = self.b.ins().icmp(IntCC::UnsignedLessThan, i, end);
        self.b
            .ins()
            .brif(go, inside, &[], exit, &[BlockArg::Value(i)]);
        self.b.switch_to_block(inside);
        self.b.seal_block(inside);
        self.vector = Some(VectorCtx {
            var: v,
            lanes,
            accumulators,
            copy: 0,
        });
        let mut done = Ok(());
        for copy in 0..copies {
            let at = if copy == 0 {
                i
            } else {
                self.b.ins().iadd_imm_s(i, i64::from(copy * lanes))
            };
            self.vars.insert(v, at);
            if let Some(ctx) = self.vector.as_mut() {
                ctx.copy = usize::from(copy);
            }
            done = self.block(body);
            if done.is_err() {
                break;
            }
        }
        let ctx = self.vector.take();
        done?;
        let next = self.b.ins().iadd_imm_s(i, i64::from(step));
        self.b.ins().jump(header, &[BlockArg::Value(next)]);
        self.b.seal_block(header);
        self.b.switch_to_block(exit);
        self.b.seal_block(exit);
        self.vars.remove(&v);
        // Fold each vector accumulator into its local.
        let mut accs: Vec<(Vec<Variable>, Accumulator)> = ctx
            .map(|c| c.accumulators.into_values().collect())
            .unwrap_or_default();
        accs.sort_by_key(|(_, a)| a.local);
        for (vars, a) in accs {
            let slot = *self
                .locals
                .get(&a.local)
                .ok_or_else(|| format!("{} is assigned outside its scope", a.local))?;
            let width = if a.widen { 2 } else { lanes };
            let mut vec = self.b.use_var(vars[0]);
            for &more in &vars[1..] {
                let x = self.b.use_var(more);
                vec = self.binary(a.op, a.dtype, width, vec, x)?;
            }
            let mut parts: Vec<Value> = (0..width).map(|l| self.lane(a.dtype, vec, l)).collect();
            while parts.len() > 1 {
                let mut next = Vec::with_capacity(parts.len() / 2);
                for pair in parts.chunks(2) {
                    next.push(self.binary(a.op, a.dtype, 1, pair[0], pair[1])?);
                }
                parts = next;
            }
            let old = self.b.use_var(slot.var);
            let new = self.binary(a.op, a.dtype, 1, old, parts[0])?;
            self.b.def_var(slot.var, new);
        }
        Ok(rest)
    }

    /// `local = op(local, e)` on the vector accumulator(s) `vars`.
    fn accumulate(&mut self, vars: &[Variable], acc: &Accumulator, value: &Expr) -> Result<()> {
        let Expr::Binary(_, a, b) = value else {
            return Err("internal error: an accumulator update is not a binary op".into());
        };
        let other = if **a == Expr::Local(acc.local) { b } else { a };
        let lanes = self.lanes();
        let (xs, width) = match (acc.widen, &**other) {
            (true, Expr::Cast(_, x)) => {
                // f32 lanes 0-1 and 2-3, each widened to an f64x2.
                let x = self.expr(x, lanes)?;
                let low = self.b.ins().fvpromote_low(x);
                let high = self.high_half(x);
                let high = self.b.ins().fvpromote_low(high);
                (vec![low, high], 2)
            }
            (true, _) => {
                return Err("internal error: a widening accumulator without its cast".into())
            }
            (false, _) => (vec![self.expr(other, lanes)?], lanes),
        };
        for (&var, x) in vars.iter().zip(xs) {
            let sum = self.b.use_var(var);
            let r = self.binary(acc.op, acc.dtype, width, sum, x)?;
            self.b.def_var(var, r);
        }
        Ok(())
    }

    /// Lanes 2 and 3 of a 4-lane vector moved to lanes 0 and 1.
    fn high_half(&mut self, x: Value) -> Value {
        let ty = self.b.func.dfg.value_type(x);
        self.shuffle_bytes(x, (8..16).chain(8..16).collect(), ty)
    }

    /// Byte `bytes[i]` of `x` as byte `i` of a vector of type `ty`.
    fn shuffle_bytes(&mut self, x: Value, bytes: Vec<u8>, ty: Type) -> Value {
        let order = self.b.func.dfg.immediates.push(ConstantData::from(bytes));
        let b = self.b.ins().bitcast(I8X16, lanes_flags(), x);
        let s = self.b.ins().shuffle(b, b, order);
        self.b.ins().bitcast(ty, lanes_flags(), s)
    }

    /// Runs `f` once for each lane of the vector loop, with the loop
    /// variable set to that lane's iteration.
    fn each_lane(
        &mut self,
        mut f: impl FnMut(&mut Self, u8) -> Result<Value>,
    ) -> Result<Vec<Value>> {
        let Some((v, lanes)) = self.vector.as_ref().map(|c| (c.var, c.lanes)) else {
            return Ok(vec![f(self, 0)?]);
        };
        let first = *self
            .vars
            .get(&v)
            .ok_or("internal error: vector loop variable unset")?;
        let mut out = Vec::with_capacity(lanes.into());
        for lane in 0..lanes {
            let i = self.b.ins().iadd_imm_s(first, i64::from(lane));
            self.vars.insert(v, i);
            let r = f(self, lane);
            self.vars.insert(v, first);
            out.push(r?);
        }
        Ok(out)
    }

    /// The value of `e` as `lanes` lanes (a scalar for 1).
    pub fn expr(&mut self, e: &Expr, lanes: u8) -> Result<Value> {
        match e {
            Expr::Const(s) => Ok(self.konst(*s, lanes)),
            Expr::Local(l) => {
                let slot = *self
                    .locals
                    .get(l)
                    .ok_or_else(|| format!("{l} is used outside its scope"))?;
                let x = self.b.use_var(slot.var);
                match (slot.lanes, lanes) {
                    (a, b) if a == b => Ok(x),
                    (1, _) => Ok(self.splat(slot.dtype, lanes, x)),
                    _ => Err(format!(
                        "internal error: {l} has {} lanes, {lanes} wanted",
                        slot.lanes
                    )),
                }
            }
            Expr::Index(i) => {
                let canon = self.ranges.affine(i).to_index();
                if lanes == 1 {
                    return self.index(&canon);
                }
                let xs = self.each_lane(|t, _| t.index(&canon))?;
                Ok(self.gather(DType::I64, lanes, &xs))
            }
            Expr::Load { buf, index } => self.load(*buf, index, lanes),
            Expr::Unary(op, a) => {
                let d = self.dtype(a)?;
                let x = self.expr(a, lanes)?;
                self.unary(*op, d, lanes, x)
            }
            Expr::Binary(op, a, b) => {
                let d = self.dtype(a)?;
                let x = self.expr(a, lanes)?;
                let y = self.expr(b, lanes)?;
                self.binary(*op, d, lanes, x, y)
            }
            Expr::Select(c, a, b) => {
                let d = self.dtype(a)?;
                let c = self.expr(c, lanes)?;
                let x = self.expr(a, lanes)?;
                let y = self.expr(b, lanes)?;
                Ok(self.select(d, lanes, c, x, y))
            }
            Expr::Cast(to, a) => {
                let from = self.dtype(a)?;
                let x = self.expr(a, lanes)?;
                self.cast(from, *to, lanes, x)
            }
        }
    }

    pub fn dtype(&self, e: &Expr) -> Result<DType> {
        crate::typing::dtype_of(self.p, e, &|l| self.locals.get(&l).map(|s| s.dtype))
            .ok_or_else(|| "an expression refers to something undefined".into())
    }

    fn buffer_dtype(&self, buf: BufId) -> Result<DType> {
        Ok(self
            .p
            .buffer(buf)
            .ok_or_else(|| format!("{buf} does not exist"))?
            .dtype)
    }

    fn load(&mut self, buf: BufId, index: &Index, lanes: u8) -> Result<Value> {
        let d = self.buffer_dtype(buf)?;
        let canon = self.ranges.affine(index).to_index();
        if lanes == 1 {
            return self.load_scalar(buf, d, &canon);
        }
        let v = self
            .vector
            .as_ref()
            .map(|c| c.var)
            .ok_or("internal error: no vector loop")?;
        match vectorize::access(&canon, v) {
            Access::Contiguous => {
                let addr = self.address(buf, &canon, u64::from(lanes))?;
                let flags = vector_flags().with_readonly_if(self.read_only(buf));
                if d == DType::Bool {
                    return Ok(self.load_masks(lanes, flags, addr));
                }
                Ok(self.b.ins().load(clif_type(d, lanes), flags, addr, 0))
            }
            Access::Invariant => {
                let x = self.load_scalar(buf, d, &canon)?;
                Ok(self.splat(d, lanes, x))
            }
            _ => {
                let xs = self.each_lane(|t, _| t.load_scalar(buf, d, &canon))?;
                Ok(self.gather(d, lanes, &xs))
            }
        }
    }

    fn read_only(&self, buf: BufId) -> bool {
        use tfg_ir::kernel::Role;
        self.p
            .buffer(buf)
            .is_some_and(|b| matches!(b.role, Role::Input(_) | Role::Param(_) | Role::Const(_)))
    }

    fn load_scalar(&mut self, buf: BufId, d: DType, canon: &Index) -> Result<Value> {
        let addr = self.address(buf, canon, 1)?;
        let flags = scalar_flags().with_readonly_if(self.read_only(buf));
        Ok(self.b.ins().load(clif_type(d, 1), flags, addr, 0))
    }

    fn store(&mut self, buf: BufId, index: &Index, value: &Expr) -> Result<()> {
        let d = self.buffer_dtype(buf)?;
        let canon = self.ranges.affine(index).to_index();
        let lanes = self.lanes();
        if lanes == 4 {
            let widening =
                vectorize::widening_update(self.p, buf, &canon, value, &self.ranges, &|l| {
                    self.locals.get(&l).map(|s| s.dtype)
                });
            if let Some((op, x)) = widening {
                return self.widening_store(buf, &canon, op, x);
            }
        }
        let x = self.expr(value, lanes)?;
        if lanes == 1 {
            let addr = self.address(buf, &canon, 1)?;
            self.b.ins().store(scalar_flags(), x, addr, 0);
            return Ok(());
        }
        let v = self
            .vector
            .as_ref()
            .map(|c| c.var)
            .ok_or("internal error: no vector loop")?;
        if vectorize::access(&canon, v) == Access::Contiguous {
            let addr = self.address(buf, &canon, u64::from(lanes))?;
            if d == DType::Bool {
                self.store_masks(lanes, x, addr);
            } else {
                self.b.ins().store(vector_flags(), x, addr, 0);
            }
            return Ok(());
        }
        self.each_lane(|t, lane| {
            let e = t.lane(d, x, lane);
            let addr = t.address(buf, &canon, 1)?;
            t.b.ins().store(scalar_flags(), e, addr, 0);
            Ok(e)
        })?;
        Ok(())
    }

    /// `buf[i..i + 4] = op(buf[i..i + 4], cast<f64>(x))` for f32 lanes `x`:
    /// two f64x2 halves, each element updated as the scalar loop would.
    fn widening_store(&mut self, buf: BufId, canon: &Index, op: BinaryOp, x: &Expr) -> Result<()> {
        let x = self.expr(x, 4)?;
        let low = self.b.ins().fvpromote_low(x);
        let high = self.high_half(x);
        let high = self.b.ins().fvpromote_low(high);
        let addr = self.address(buf, canon, 4)?;
        for (offset, half) in [(0, low), (16, high)] {
            let old = self.b.ins().load(F64X2, vector_flags(), addr, offset);
            let new = self.binary(op, DType::F64, 2, old, half)?;
            self.b.ins().store(vector_flags(), new, addr, offset);
        }
        Ok(())
    }

    /// `lanes` consecutive bools (bytes 0 or 1) as lane masks: the bytes in
    /// one scalar load, sign-extended lane by lane after a negation.
    fn load_masks(&mut self, lanes: u8, flags: MemFlagsData, addr: Value) -> Value {
        let (word, widenings) = if lanes == 4 { (I32, 2) } else { (I16, 3) };
        let bytes = self.b.ins().load(word, flags, addr, 0);
        let bytes = if word == I16 {
            self.b.ins().uextend(I32, bytes)
        } else {
            bytes
        };
        let v = self.b.ins().scalar_to_vector(I32X4, bytes);
        let mut v = self.b.ins().bitcast(I8X16, lanes_flags(), v);
        // 1 → -1 (all ones) and 0 → 0, so sign extension gives the masks.
        v = self.b.ins().ineg(v);
        for _ in 0..widenings {
            v = self.b.ins().swiden_low(v);
        }
        v
    }

    /// Lane masks stored as `lanes` consecutive bools.
    fn store_masks(&mut self, lanes: u8, mask: Value, addr: Value) {
        let mut v = mask;
        if lanes == 2 {
            // i64 masks to i32 masks: the low half of each lane.
            let bytes: Vec<u8> = (0..4).chain(8..12).chain(0..4).chain(8..12).collect();
            v = self.shuffle_bytes(v, bytes, I32X4);
        }
        let v = self.b.ins().snarrow(v, v);
        let v = self.b.ins().snarrow(v, v);
        // -1 → 1, 0 → 0.
        let v = self.b.ins().ineg(v);
        let words = self.b.ins().bitcast(I32X4, lanes_flags(), v);
        let word = self.b.ins().extractlane(words, 0);
        if lanes == 4 {
            self.b.ins().store(vector_flags(), word, addr, 0);
        } else {
            self.b.ins().istore16(vector_flags(), word, addr, 0);
        }
    }

    /// The address of `buf[index .. index + span]`. An index that cannot be
    /// proved in bounds (only `/` and `%` make that possible) is clamped, so
    /// no program reaches outside its buffers.
    fn address(&mut self, buf: BufId, canon: &Index, span: u64) -> Result<Value> {
        let len = self
            .p
            .buffer(buf)
            .ok_or_else(|| format!("{buf} does not exist"))?
            .len();
        let size = self.buffer_dtype(buf)?.size() as i64;
        let base = *self
            .bases
            .get(&buf)
            .ok_or_else(|| format!("internal error: no base address for {buf}"))?;
        let mut i = self.index(canon)?;
        // A vector access starts at most `span - 1` elements before the
        // largest index, so it ends where the scalar accesses would.
        if self.ranges.max(&self.ranges.affine(canon)) >= len {
            let top = self.b.ins().iconst(I64, len.saturating_sub(span) as i64);
            i = self.b.ins().umin(i, top);
        }
        let offset = self.b.ins().imul_imm_s(i, size);
        Ok(self.b.ins().iadd(base, offset))
    }

    /// An index as an `i64`; division and remainder by constants, which
    /// Cranelift strength-reduces.
    pub fn index(&mut self, i: &Index) -> Result<Value> {
        Ok(match i {
            Index::Const(c) => self.b.ins().iconst(I64, *c as i64),
            Index::Var(v) => *self
                .vars
                .get(v)
                .ok_or_else(|| format!("{v} is used outside its loop"))?,
            Index::Add(a, b) => {
                let (x, y) = (self.index(a)?, self.index(b)?);
                self.b.ins().iadd(x, y)
            }
            Index::Mul(a, c) => {
                let x = self.index(a)?;
                self.b.ins().imul_imm_s(x, *c as i64)
            }
            Index::Div(a, c) | Index::Rem(a, c) => {
                if *c == 0 {
                    return Err("an index divides by zero".into());
                }
                let x = self.index(a)?;
                let c = self.b.ins().iconst(I64, *c as i64);
                match i {
                    Index::Div(..) => self.b.ins().udiv(x, c),
                    _ => self.b.ins().urem(x, c),
                }
            }
        })
    }

    fn gemm(&mut self, g: &Gemm) -> Result<()> {
        let d = self.buffer_dtype(g.c.buf)?;
        let code = match d {
            DType::F32 => gemm::F32_CODE,
            DType::F64 => gemm::F64_CODE,
            DType::I32 => gemm::I32_CODE,
            DType::I64 => gemm::I64_CODE,
            DType::Bool => return Err("gemm on bool".into()),
        };
        if g.c.buf == g.a.buf || g.c.buf == g.b.buf {
            return Err(format!("gemm writes {}, which it also reads", g.c.buf));
        }
        let empty = g.m == 0 || g.n == 0 || g.batch == 0;
        let a = self.matrix(&g.a, g.m, g.k, g.trans_a, g.batch, empty)?;
        let b = self.matrix(&g.b, g.k, g.n, g.trans_b, g.batch, empty)?;
        let c = self.matrix(&g.c, g.m, g.n, false, g.batch, empty)?;
        let f = self.runtime_ref(RuntimeFn::Gemm)?;
        let ins = |t: &mut Self, ty: Type, x: i64| t.b.ins().iconst(ty, x);
        let mut args = vec![ins(self, I32, i64::from(code))];
        for x in [g.m, g.n, g.k, g.batch] {
            args.push(ins(self, I64, x as i64));
        }
        for (ptr, r) in [(a, &g.a), (b, &g.b), (c, &g.c)] {
            args.push(ptr);
            args.push(ins(self, I64, r.ld as i64));
            args.push(ins(self, I64, r.stride as i64));
        }
        args.push(ins(
            self,
            I32,
            i64::from(g.trans_a) | i64::from(g.trans_b) << 1,
        ));
        args.push(self.b.ins().f64const(g.alpha));
        args.push(self.b.ins().f64const(g.beta));
        let site = match self.sites.get(&g.b.buf) {
            Some(&site) => site,
            None => ins(self, I64, 0),
        };
        args.push(site);
        self.b.ins().call(f, &args);
        Ok(())
    }

    /// The address of a GEMM operand's first matrix, after checking that
    /// every matrix of the batch lies in its buffer.
    fn matrix(
        &mut self,
        r: &MatRef,
        rows: u64,
        cols: u64,
        trans: bool,
        batch: u64,
        empty: bool,
    ) -> Result<Value> {
        let (rows, cols) = if trans { (cols, rows) } else { (rows, cols) };
        let len = self
            .p
            .buffer(r.buf)
            .ok_or_else(|| format!("{} does not exist", r.buf))?
            .len();
        let canon = self.ranges.affine(&r.offset).to_index();
        if !(empty || rows == 0 || cols == 0) {
            let span = (batch - 1)
                .checked_mul(r.stride)
                .and_then(|s| s.checked_add((rows - 1).checked_mul(r.ld)?))
                .and_then(|s| s.checked_add(cols));
            let last =
                span.and_then(|s| self.ranges.max(&self.ranges.affine(&canon)).checked_add(s));
            if last.is_none_or(|l| l > len) {
                return Err(format!(
                    "gemm reads or writes {} past its {len} elements",
                    r.buf
                ));
            }
        }
        let base = *self
            .bases
            .get(&r.buf)
            .ok_or_else(|| format!("internal error: no base address for {}", r.buf))?;
        let i = self.index(&canon)?;
        let size = self.buffer_dtype(r.buf)?.size() as i64;
        let offset = self.b.ins().imul_imm_s(i, size);
        Ok(self.b.ins().iadd(base, offset))
    }

    /// Calls a runtime function with one result.
    pub fn call(&mut self, f: RuntimeFn, args: &[Value]) -> Result<Value> {
        let r = self.runtime_ref(f)?;
        let call = self.b.ins().call(r, args);
        self.b
            .inst_results(call)
            .first()
            .copied()
            .ok_or_else(|| format!("internal error: {} returns nothing", f.name()))
    }
}

/// `readonly` on loads from buffers no kernel writes, so Cranelift may hoist
/// them out of loops.
trait ReadOnlyIf {
    fn with_readonly_if(self, yes: bool) -> Self;
}

impl ReadOnlyIf for MemFlagsData {
    fn with_readonly_if(self, yes: bool) -> Self {
        if yes {
            self.with_readonly().with_can_move()
        } else {
            self
        }
    }
}

/// The CLIF type holding `lanes` lanes of `d`: bools are `i8` scalars (0 or 1)
/// and, in vectors, lane masks as wide as the other lanes (all ones or zero).
pub(crate) fn clif_type(d: DType, lanes: u8) -> Type {
    use cranelift_codegen::ir::types;
    match (d, lanes) {
        (DType::F32, 4) => types::F32X4,
        (DType::F64, 2) => F64X2,
        (DType::I32, 4) | (DType::Bool, 4) => I32X4,
        (DType::I64, 2) | (DType::Bool, 2) => types::I64X2,
        (DType::F32, _) => types::F32,
        (DType::F64, _) => F64,
        (DType::I32, _) => I32,
        (DType::I64, _) => I64,
        (DType::Bool, _) => types::I8,
    }
}

/// Statements and expression nodes in `body`, nested loops included.
fn body_size(body: &[Stmt]) -> usize {
    let mut n = 0;
    Stmt::walk(body, &mut |s| {
        n += 1;
        for e in s.exprs() {
            e.walk(&mut |_| n += 1);
        }
    });
    n
}
