//! One launch as one LLVM function: its mapping onto threads, then its
//! statements and expressions.
//!
//! Locals and loop variables live in `alloca`s of the entry block, which
//! O3's SROA turns into registers, so no φ bookkeeping is needed here.
//! Statements run in one of two modes: [`Mode::Thread`], plain sequential
//! code, or [`Mode::Group`], where every thread of a group runs the same
//! code in step, splits the loops [`split`] allows across the group, and
//! only the group's first thread stores.

use super::{Error, Gen, Target, R};
use crate::schedule::{split, Launch, Mapping, RowIndex, Split, BLOCK};
use inkwell::attributes::{Attribute, AttributeLoc};
use inkwell::basic_block::BasicBlock;
use inkwell::builder::Builder;
use inkwell::module::Linkage;
use inkwell::types::{BasicMetadataTypeEnum, BasicTypeEnum, IntType};
use inkwell::values::{
    AsValueRef, BasicMetadataValueEnum, BasicValue, BasicValueEnum, FastMathFlags, FunctionValue,
    InstructionValue, IntValue, PointerValue, VectorValue,
};
use inkwell::IntPredicate;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use tfg_ir::kernel::{BufId, Expr, Index, Local, Scalar, Stmt, Var};
use tfg_ir::{BinaryOp, DType};

/// How the threads running a statement share it.
#[derive(Clone, Copy)]
pub(crate) enum Mode<'ctx> {
    Thread,
    /// `size` threads in step; `lane` (i32) is this thread's place among them.
    Group {
        size: u32,
        lane: IntValue<'ctx>,
    },
}

/// The thread and block indices (i32).
#[derive(Clone, Copy)]
pub(crate) struct Ids<'ctx> {
    pub tid: IntValue<'ctx>,
    pub ctaid: [IntValue<'ctx>; 3],
    pub nctaid: [IntValue<'ctx>; 3],
}

/// The state of a vectorised rows iteration: which of the consecutive rows
/// is being generated, and the 16-byte loads and stores at the row index.
struct Lanes<'ctx> {
    at_row: RowIndex,
    /// The first row of the chunk.
    base: IntValue<'ctx>,
    lane: u32,
    loaded: HashMap<BufId, VectorValue<'ctx>>,
    pending: BTreeMap<BufId, Vec<Option<BasicValueEnum<'ctx>>>>,
}

pub(crate) struct Fx<'g, 'p, 'ctx> {
    pub g: &'g Gen<'p, 'ctx>,
    pub f: FunctionValue<'ctx>,
    /// Positioned at the end of the entry block, which gets its branch to
    /// the body last: where allocas and the thread indices go.
    entry: Builder<'ctx>,
    first: BasicBlock<'ctx>,
    bufs: HashMap<BufId, PointerValue<'ctx>>,
    locals: HashMap<Local, (PointerValue<'ctx>, DType)>,
    vars: HashMap<Var, PointerValue<'ctx>>,
    /// The type of index arithmetic: i32 where every index fits, else i64.
    pub idx: IntType<'ctx>,
    pub ids: Ids<'ctx>,
    /// Shared memory for combining a block's partial results.
    slots: Option<PointerValue<'ctx>>,
    lanes: Option<Lanes<'ctx>>,
    /// On the CPU, the accumulators of the reduction loops being generated,
    /// whose updates may be reassociated (so that LLVM vectorises them).
    accumulating: HashMap<Local, BinaryOp>,
    /// The back edge of the loop [`Self::for_range`] generated last.
    back_edge: Option<InstructionValue<'ctx>>,
}

/// Generates the function for launch `l`.
pub(crate) fn emit(g: &Gen, l: &Launch) -> R<()> {
    let mut written = BTreeSet::new();
    let stmts = mapping_stmts(&l.mapping);
    Stmt::walk(&stmts, &mut |s| match s {
        Stmt::Store { buf, .. } => {
            written.insert(*buf);
        }
        Stmt::Gemm(gm) => {
            written.insert(gm.c.buf);
        }
        _ => {}
    });
    if let Mapping::Gemm { gemm, .. } = &l.mapping {
        written.insert(gemm.c.buf);
    }
    let params: Vec<(BufId, bool)> = l
        .buffers
        .iter()
        .map(|b| (*b, written.contains(b)))
        .collect();
    let f = g.entry(&l.entry, &params, l.block);
    let mut fx = Fx::new(g, f, l, &stmts)?;
    match &l.mapping {
        Mapping::Rows {
            prelude,
            nest,
            body,
            group,
            vector,
        } => fx.rows(prelude, nest, body, *group, *vector)?,
        Mapping::Serial { body, group } => {
            let mode = if *group > 1 {
                Mode::Group {
                    size: *group,
                    lane: fx.ids.tid,
                }
            } else {
                Mode::Thread
            };
            fx.block(body, mode)?;
        }
        Mapping::Gemm { loops, gemm } => super::gemm::tiled(&mut fx, loops, gemm)?,
    }
    fx.finish()
}

/// Generates the function of one task of the CPU backend ([`Target::Cpu`]):
/// `body`, with its top-level loop over the parameters' `lo..hi` where
/// `as_loop`. `f` loads the buffers' addresses from the table and calls an
/// always-inlined body that takes each as a `noalias` parameter (the buffer
/// plan never lets two live buffers overlap), so LLVM vectorises without
/// run-time overlap checks. `attrs` go on both functions.
pub(crate) fn emit_task<'ctx>(
    g: &Gen<'_, 'ctx>,
    f: FunctionValue<'ctx>,
    body: &[Stmt],
    as_loop: bool,
    attrs: &[Attribute],
) -> R<()> {
    let fed: Vec<BufId> = Stmt::buffers(body)
        .into_iter()
        .filter(|b| !g.consts.contains_key(b))
        .collect();
    let (ptr, i64t) = (g.cx.ptr_type(g.global_space()), g.cx.i64_type());
    let mut params: Vec<BasicMetadataTypeEnum> = vec![ptr.into(); fed.len()];
    params.extend([BasicMetadataTypeEnum::from(i64t); 2]);
    let name = format!("{}.body", f.get_name().to_string_lossy());
    let inner = g.module.add_function(
        &name,
        g.cx.void_type().fn_type(&params, false),
        Some(Linkage::Internal),
    );
    for &a in attrs {
        f.add_attribute(AttributeLoc::Function, a);
        inner.add_attribute(AttributeLoc::Function, a);
    }
    inner.add_attribute(AttributeLoc::Function, g.enum_attr("alwaysinline"));
    for i in 0..fed.len() {
        inner.add_attribute(AttributeLoc::Param(i as u32), g.enum_attr("noalias"));
    }
    let param = |fv: FunctionValue<'ctx>, i: usize| {
        fv.get_nth_param(i as u32)
            .ok_or_else(|| Error(format!("{name} lacks parameter {i}")))
    };

    // The entry: the table's addresses, then the body.
    let b = &g.b;
    b.position_at_end(g.cx.append_basic_block(f, "entry"));
    let table = param(f, 0)?.into_pointer_value();
    let mut args: Vec<BasicMetadataValueEnum> = Vec::with_capacity(fed.len() + 2);
    for buf in &fed {
        args.push(table_load(g, b, table, u64::from(buf.0))?.into());
    }
    for i in [1, 2] {
        args.push(param(f, i)?.into());
    }
    b.build_call(inner, &args, "")?;
    b.build_return(None)?;

    let mut fx = Fx::start(g, inner, i64t, body, &[])?;
    for (i, buf) in fed.iter().enumerate() {
        fx.bufs.insert(*buf, param(inner, i)?.into_pointer_value());
    }
    match body {
        [Stmt::Loop { var, body, .. }] if as_loop => {
            let lo = param(inner, fed.len())?.into_int_value();
            let hi = param(inner, fed.len() + 1)?.into_int_value();
            let v = fx.var(*var)?;
            let one = fx.idx.const_int(1, false);
            fx.for_range(v, lo, hi, one, |fx| fx.block(body, Mode::Thread))?;
        }
        _ => fx.block(body, Mode::Thread)?,
    }
    fx.finish()
}

/// `table[i]`, a buffer's address in a table of them, loaded by `b`.
fn table_load<'ctx>(
    g: &Gen<'_, 'ctx>,
    b: &Builder<'ctx>,
    table: PointerValue<'ctx>,
    i: u64,
) -> R<PointerValue<'ctx>> {
    let ptr = g.cx.ptr_type(g.global_space());
    let at =
        unsafe { b.build_in_bounds_gep(ptr, table, &[g.cx.i64_type().const_int(i, false)], "") }?;
    Ok(b.build_load(ptr, at, "")?.into_pointer_value())
}

/// The thread and block indices, read in the entry block.
fn read_ids<'ctx>(
    g: &Gen<'_, 'ctx>,
    f: FunctionValue<'ctx>,
    entry: &Builder<'ctx>,
) -> R<Ids<'ctx>> {
    let i32t = g.cx.i32_type();
    match g.target {
        // One thread, which never asks.
        Target::Cpu => {
            let zero = i32t.const_zero();
            Ok(Ids {
                tid: zero,
                ctaid: [zero; 3],
                nctaid: [zero; 3],
            })
        }
        Target::Nvptx => {
            let read = |reg: &str| -> R<IntValue<'ctx>> {
                let sreg = g.intrinsic(
                    &format!("llvm.nvvm.read.ptx.sreg.{reg}"),
                    Some(i32t.into()),
                    &[],
                );
                let v = entry
                    .build_call(sreg, &[], "")?
                    .try_as_basic_value()
                    .basic();
                v.map(|v| v.into_int_value())
                    .ok_or_else(|| Error(format!("sreg {reg} gave no value")))
            };
            Ok(Ids {
                tid: read("tid.x")?,
                ctaid: [read("ctaid.x")?, read("ctaid.y")?, read("ctaid.z")?],
                nctaid: [read("nctaid.x")?, read("nctaid.y")?, read("nctaid.z")?],
            })
        }
        Target::Host => {
            // The second parameter points at tid.x, ctaid.xyz, nctaid.xyz.
            let ids = f
                .get_nth_param(1)
                .ok_or_else(|| Error("host entry without ids".into()))?
                .into_pointer_value();
            let mut v = Vec::with_capacity(7);
            for i in 0..7 {
                let at = unsafe {
                    entry.build_in_bounds_gep(i32t, ids, &[i32t.const_int(i, false)], "")
                }?;
                v.push(entry.build_load(i32t, at, "")?.into_int_value());
            }
            Ok(Ids {
                tid: v[0],
                ctaid: [v[1], v[2], v[3]],
                nctaid: [v[4], v[5], v[6]],
            })
        }
    }
}

/// Every statement a mapping runs, for the allocas and the index width.
fn mapping_stmts(m: &Mapping) -> Vec<Stmt> {
    match m {
        Mapping::Rows { prelude, body, .. } => prelude.iter().chain(body).cloned().collect(),
        Mapping::Serial { body, .. } => body.clone(),
        Mapping::Gemm { gemm, .. } => vec![Stmt::Gemm(gemm.clone())],
    }
}

impl<'g, 'p, 'ctx> Fx<'g, 'p, 'ctx> {
    fn new(g: &'g Gen<'p, 'ctx>, f: FunctionValue<'ctx>, l: &Launch, stmts: &[Stmt]) -> R<Self> {
        let idx = if fits_i32(g, l, stmts) {
            g.cx.i32_type()
        } else {
            g.cx.i64_type()
        };
        let mapped: Vec<Var> = match &l.mapping {
            Mapping::Rows { nest, .. } => nest.iter().map(|(v, _)| *v).collect(),
            Mapping::Gemm { loops, .. } => loops.iter().map(|(v, _)| *v).collect(),
            Mapping::Serial { .. } => Vec::new(),
        };
        let mut fx = Fx::start(g, f, idx, stmts, &mapped)?;
        fx.bind_buffers(l)?;
        Ok(fx)
    }

    /// A function body with a slot for every local and loop variable of
    /// `stmts` (and `more` loop variables), its constant buffers bound (the
    /// module's globals) and the others not yet.
    fn start(
        g: &'g Gen<'p, 'ctx>,
        f: FunctionValue<'ctx>,
        idx: IntType<'ctx>,
        stmts: &[Stmt],
        more: &[Var],
    ) -> R<Self> {
        let entry_block = g.cx.append_basic_block(f, "entry");
        let first = g.cx.append_basic_block(f, "start");
        let entry = g.cx.create_builder();
        entry.position_at_end(entry_block);
        g.b.position_at_end(first);
        let ids = read_ids(g, f, &entry)?;
        let mut fx = Fx {
            g,
            f,
            entry,
            first,
            bufs: g.consts.clone(),
            locals: HashMap::new(),
            vars: HashMap::new(),
            idx,
            ids,
            slots: None,
            lanes: None,
            accumulating: HashMap::new(),
            back_edge: None,
        };
        let mut types = HashMap::new();
        crate::schedule::local_types(stmts, &mut types);
        for (local, dtype) in types {
            let ptr = fx.alloca(g.reg_type(dtype))?;
            fx.locals.insert(local, (ptr, dtype));
        }
        let mut vars: BTreeSet<Var> = more.iter().copied().collect();
        Stmt::walk(stmts, &mut |s| {
            if let Stmt::Loop { var, .. } = s {
                vars.insert(*var);
            }
        });
        for v in vars {
            let ptr = fx.alloca(idx.into())?;
            fx.vars.insert(v, ptr);
        }
        Ok(fx)
    }

    fn finish(self) -> R<()> {
        self.g.b.build_return(None)?;
        self.entry.build_unconditional_branch(self.first)?;
        Ok(())
    }

    /// A new stack slot of type `t`, in the entry block.
    pub fn alloca(&self, t: BasicTypeEnum<'ctx>) -> R<PointerValue<'ctx>> {
        Ok(self.entry.build_alloca(t, "")?)
    }

    fn bind_buffers(&mut self, l: &Launch) -> R<()> {
        for (i, &b) in l.buffers.iter().enumerate() {
            let p = match self.g.target {
                Target::Nvptx => self
                    .f
                    .get_nth_param(i as u32)
                    .map(|p| p.into_pointer_value()),
                Target::Host | Target::Cpu => self.table_entry(i as u64)?,
            };
            let p =
                p.ok_or_else(|| Error(format!("launch {} lacks a parameter for {b}", l.entry)))?;
            self.bufs.insert(b, p);
        }
        Ok(())
    }

    /// The pointer at `table[i]`, where the first parameter is a table of
    /// buffer addresses; loaded once, in the entry block.
    fn table_entry(&self, i: u64) -> R<Option<PointerValue<'ctx>>> {
        let Some(table) = self.f.get_nth_param(0).map(|p| p.into_pointer_value()) else {
            return Ok(None);
        };
        table_load(self.g, &self.entry, table, i).map(Some)
    }

    // ---- the mappings ----

    fn rows(
        &mut self,
        prelude: &[Stmt],
        nest: &[(Var, u64)],
        body: &[Stmt],
        group: u32,
        vector: u32,
    ) -> R<()> {
        self.block(prelude, Mode::Thread)?;
        let rows: u64 = nest.iter().map(|&(_, e)| e).product::<u64>() / u64::from(vector);
        let b = &self.g.b;
        let i32t = self.g.cx.i32_type();
        let per_block = BLOCK / group;
        let c = |x: u32| i32t.const_int(u64::from(x), false);
        let base = b.build_int_mul(self.ids.ctaid[0], c(per_block), "")?;
        let (in_block, mode) = if group == 1 {
            (self.ids.tid, Mode::Thread)
        } else {
            let lane = b.build_int_unsigned_rem(self.ids.tid, c(group), "")?;
            (
                b.build_int_unsigned_div(self.ids.tid, c(group), "")?,
                Mode::Group { size: group, lane },
            )
        };
        let gid = b.build_int_add(base, in_block, "")?;
        let groups = b.build_int_mul(self.ids.nctaid[0], c(per_block), "")?;
        let (gid, groups) = (self.widen(gid)?, self.widen(groups)?);
        let r = self.alloca(self.idx.into())?;
        let end = self.idx.const_int(rows, false);
        self.for_range(r, gid, end, groups, |fx| {
            let row = fx.g.b.build_load(fx.idx, r, "")?.into_int_value();
            if vector == 1 {
                fx.set_nest(nest, row)?;
                return fx.block(body, mode);
            }
            let first =
                fx.g.b
                    .build_int_mul(row, fx.idx.const_int(u64::from(vector), false), "")?;
            fx.lanes = Some(Lanes {
                at_row: RowIndex::new(nest),
                base: first,
                lane: 0,
                loaded: HashMap::new(),
                pending: BTreeMap::new(),
            });
            for j in 0..vector {
                if let Some(l) = fx.lanes.as_mut() {
                    l.lane = j;
                }
                let at =
                    fx.g.b
                        .build_int_add(first, fx.idx.const_int(u64::from(j), false), "")?;
                fx.set_nest(nest, at)?;
                fx.block(body, Mode::Thread)?;
            }
            fx.flush_lanes(vector)
        })
    }

    /// Sets the variables of a collapsed loop nest from the flat row.
    pub fn set_nest(&mut self, nest: &[(Var, u64)], row: IntValue<'ctx>) -> R<()> {
        let mut stride = 1u64;
        for (k, &(v, e)) in nest.iter().enumerate().rev() {
            let b = &self.g.b;
            let mut x = row;
            if stride > 1 {
                x = b.build_int_unsigned_div(x, self.idx.const_int(stride, false), "")?;
            }
            if k > 0 {
                x = b.build_int_unsigned_rem(x, self.idx.const_int(e.max(1), false), "")?;
            }
            b.build_store(self.var(v)?, x)?;
            stride = stride.saturating_mul(e);
        }
        Ok(())
    }

    /// An i32 thread quantity in the index type.
    pub fn widen(&self, x: IntValue<'ctx>) -> R<IntValue<'ctx>> {
        if self.idx.get_bit_width() == 32 {
            Ok(x)
        } else {
            Ok(self.g.b.build_int_z_extend(x, self.idx, "")?)
        }
    }

    // ---- statements ----

    pub fn block(&mut self, body: &[Stmt], mode: Mode<'ctx>) -> R<()> {
        for s in body {
            self.stmt(s, mode)?;
        }
        Ok(())
    }

    fn stmt(&mut self, s: &Stmt, mode: Mode<'ctx>) -> R<()> {
        match s {
            Stmt::Loop {
                var,
                extent,
                body,
                kind,
            } => {
                if let Mode::Group { size, lane } = mode {
                    if let Some(how) = split(s) {
                        return self.split_loop(*var, *extent, body, &how, size, lane);
                    }
                }
                let accs = kind.accumulators();
                if self.g.target == Target::Cpu {
                    self.accumulating.extend(accs.iter().copied());
                }
                let ptr = self.var(*var)?;
                let (zero, one) = (self.idx.const_zero(), self.idx.const_int(1, false));
                let end = self.idx.const_int(*extent, false);
                self.for_range(ptr, zero, end, one, |fx| fx.block(body, mode))?;
                if self.g.target == Target::Cpu && !accs.is_empty() {
                    // LLVM's cost model narrows a reduction into an f64 sum
                    // of f32 terms to the f64 vector's lanes; the f32 work
                    // (an `exp`, say) is most of it, so ask for the f32 width.
                    if let Some(edge) = self.back_edge {
                        self.vector_width(edge, self.g.lanes);
                    }
                }
                for (t, _) in accs {
                    self.accumulating.remove(t);
                }
                Ok(())
            }
            Stmt::Assign { local, value } if self.accumulating.contains_key(local) => {
                self.accumulate(*local, value)
            }
            Stmt::Let { local, value, .. } | Stmt::Assign { local, value } => {
                let (v, _) = self.expr(value)?;
                let (ptr, _) = self.local(*local)?;
                self.g.b.build_store(ptr, v)?;
                Ok(())
            }
            Stmt::Store { buf, index, value } => {
                let (v, _) = self.expr(value)?;
                if let Some(l) = self.lanes.as_mut() {
                    if l.at_row.is_row(index) {
                        let slot = l.pending.entry(*buf).or_default();
                        slot.resize(slot.len().max(l.lane as usize + 1), None);
                        slot[l.lane as usize] = Some(v);
                        return Ok(());
                    }
                }
                let i = self.index(index)?;
                match mode {
                    Mode::Thread => self.store(*buf, i, v),
                    Mode::Group { size, lane } => {
                        self.if_first(lane, |fx| fx.store(*buf, i, v))?;
                        self.sync(size)
                    }
                }
            }
            Stmt::Gemm(gm) => super::gemm::naive(self, gm, mode),
        }
    }

    /// A loop whose iterations the group's threads share.
    fn split_loop(
        &mut self,
        var: Var,
        extent: u64,
        body: &[Stmt],
        how: &Split,
        size: u32,
        lane: IntValue<'ctx>,
    ) -> R<()> {
        let ptr = self.var(var)?;
        let start = self.widen(lane)?;
        let end = self.idx.const_int(extent, false);
        let step = self.idx.const_int(u64::from(size), false);
        match how {
            Split::Stores => {
                self.for_range(ptr, start, end, step, |fx| fx.block(body, Mode::Thread))?;
                self.sync(size)
            }
            Split::Reduce(accs) => {
                let mut before = Vec::with_capacity(accs.len());
                for &(t, op) in accs {
                    let (p, d) = self.local(t)?;
                    before.push(self.g.b.build_load(self.g.reg_type(d), p, "")?);
                    let id = self.identity(op, d)?;
                    self.g.b.build_store(p, id)?;
                }
                self.for_range(ptr, start, end, step, |fx| fx.block(body, Mode::Thread))?;
                for (&(t, op), old) in accs.iter().zip(before) {
                    let (p, d) = self.local(t)?;
                    let part = self.g.b.build_load(self.g.reg_type(d), p, "")?;
                    let all = self.combine(op, d, part, size)?;
                    let r = self.binary(op, d, old, all)?;
                    self.g.b.build_store(p, r)?;
                }
                // What each thread stored is read by others after the loop.
                let mut stores = false;
                Stmt::walk(body, &mut |s| stores |= matches!(s, Stmt::Store { .. }));
                if stores {
                    self.sync(size)?;
                }
                Ok(())
            }
        }
    }

    /// `t = op(t, e)` in a reduction loop on the CPU, where the loop
    /// promises `op` is associative (LoopKind::Reduce), so float sums and
    /// products may be reassociated and `maximum`/`minimum` are LLVM's
    /// NaN-propagating ones, as the vectoriser needs. (Which of two zeros of
    /// different signs wins, or which order sums round in, is the loop's
    /// order anyway, which a reduction does not promise.)
    fn accumulate(&mut self, t: Local, value: &Expr) -> R<()> {
        let op = self.accumulating.get(&t).copied();
        let other = match (op, value) {
            (Some(op), Expr::Binary(o, a, b)) if *o == op => match (&**a, &**b) {
                (Expr::Local(l), e) | (e, Expr::Local(l)) if *l == t => Some((op, e)),
                _ => None,
            },
            _ => None,
        };
        let (ptr, d) = self.local(t)?;
        let Some((op, e)) = other.filter(|_| d.is_float()) else {
            let (v, _) = self.expr(value)?;
            self.g.b.build_store(ptr, v)?;
            return Ok(());
        };
        let (y, _) = self.expr(e)?;
        let x = self.g.b.build_load(self.g.reg_type(d), ptr, "")?;
        let (x, y) = (x.into_float_value(), y.into_float_value());
        let b = &self.g.b;
        let r = match op {
            BinaryOp::Add | BinaryOp::Mul => {
                let r = if op == BinaryOp::Add {
                    b.build_float_add(x, y, "")?
                } else {
                    b.build_float_mul(x, y, "")?
                };
                if let Some(i) = r.as_instruction_value() {
                    i.set_fast_math_flags(FastMathFlags::AllowReassoc)
                        .map_err(|e| Error(format!("fast-math flags: {e}")))?;
                }
                r
            }
            BinaryOp::Maximum | BinaryOp::Minimum => {
                let name = if op == BinaryOp::Maximum {
                    "maximum"
                } else {
                    "minimum"
                };
                self.float_intrinsic(name, d == DType::F64, &[x, y])?
            }
            _ => self.binary(op, d, x.into(), y.into())?.into_float_value(),
        };
        self.g.b.build_store(ptr, r)?;
        Ok(())
    }

    /// Asks LLVM's loop vectoriser for `width` lanes on the loop whose back
    /// edge is `edge` (`llvm.loop.vectorize.width`).
    fn vector_width(&self, edge: InstructionValue<'ctx>, width: u32) {
        use llvm_sys::core::{
            LLVMGetMDKindIDInContext, LLVMMDNodeInContext2, LLVMMDStringInContext2,
            LLVMMetadataAsValue, LLVMSetMetadata, LLVMValueAsMetadata,
        };
        use llvm_sys::debuginfo::{LLVMMetadataReplaceAllUsesWith, LLVMTemporaryMDNode};
        let cx = self.g.cx.raw();
        let key = "llvm.loop.vectorize.width";
        let kind = "llvm.loop";
        let lanes = self.g.cx.i32_type().const_int(u64::from(width), false);
        // SAFETY: every node is made in `cx`, the context of `edge`; the
        // temporary node is replaced (and so freed) before it is used, which
        // makes the loop ID refer to itself, as LLVM's loop metadata must.
        unsafe {
            let name = LLVMMDStringInContext2(cx, key.as_ptr().cast(), key.len());
            let mut hint = [name, LLVMValueAsMetadata(lanes.as_value_ref())];
            let hint = LLVMMDNodeInContext2(cx, hint.as_mut_ptr(), 2);
            let temp = LLVMTemporaryMDNode(cx, std::ptr::null_mut(), 0);
            let mut id = [temp, hint];
            let id = LLVMMDNodeInContext2(cx, id.as_mut_ptr(), 2);
            LLVMMetadataReplaceAllUsesWith(temp, id);
            let kind = LLVMGetMDKindIDInContext(cx, kind.as_ptr().cast(), kind.len() as u32);
            LLVMSetMetadata(edge.as_value_ref(), kind, LLVMMetadataAsValue(cx, id));
        }
    }

    /// The value `x` with `op(x, y) == y` for every `y`.
    fn identity(&self, op: BinaryOp, d: DType) -> R<BasicValueEnum<'ctx>> {
        let s = tfg_ir::element::identity(op, d)
            .ok_or_else(|| Error(format!("{} does not reduce", op.name())))?;
        Ok(self.scalar(s))
    }

    /// `for (*var = start; *var < end; *var += step) body`, unsigned.
    pub fn for_range(
        &mut self,
        var: PointerValue<'ctx>,
        start: IntValue<'ctx>,
        end: IntValue<'ctx>,
        step: IntValue<'ctx>,
        body: impl FnOnce(&mut Self) -> R<()>,
    ) -> R<()> {
        let cx = self.g.cx;
        let head = cx.append_basic_block(self.f, "loop");
        let inner = cx.append_basic_block(self.f, "body");
        let exit = cx.append_basic_block(self.f, "done");
        let t = start.get_type();
        let b = &self.g.b;
        b.build_store(var, start)?;
        b.build_unconditional_branch(head)?;
        b.position_at_end(head);
        let v = b.build_load(t, var, "")?.into_int_value();
        let go = b.build_int_compare(IntPredicate::ULT, v, end, "")?;
        b.build_conditional_branch(go, inner, exit)?;
        b.position_at_end(inner);
        body(self)?;
        let b = &self.g.b;
        let v = b.build_load(t, var, "")?.into_int_value();
        let next = b.build_int_add(v, step, "")?;
        b.build_store(var, next)?;
        self.back_edge = Some(b.build_unconditional_branch(head)?);
        b.position_at_end(exit);
        Ok(())
    }

    /// Runs `then` on the group's first thread only.
    pub fn if_first(
        &mut self,
        lane: IntValue<'ctx>,
        then: impl FnOnce(&mut Self) -> R<()>,
    ) -> R<()> {
        let b = &self.g.b;
        let zero = lane.get_type().const_zero();
        let first = b.build_int_compare(IntPredicate::EQ, lane, zero, "")?;
        self.if_then(first, then)
    }

    /// `if cond { then }`.
    pub fn if_then(
        &mut self,
        cond: IntValue<'ctx>,
        then: impl FnOnce(&mut Self) -> R<()>,
    ) -> R<()> {
        let cx = self.g.cx;
        let yes = cx.append_basic_block(self.f, "then");
        let after = cx.append_basic_block(self.f, "after");
        self.g.b.build_conditional_branch(cond, yes, after)?;
        self.g.b.position_at_end(yes);
        then(self)?;
        self.g.b.build_unconditional_branch(after)?;
        self.g.b.position_at_end(after);
        Ok(())
    }

    pub fn var(&self, v: Var) -> R<PointerValue<'ctx>> {
        self.vars
            .get(&v)
            .copied()
            .ok_or_else(|| Error(format!("loop variable {v} has no slot")))
    }

    fn local(&self, l: Local) -> R<(PointerValue<'ctx>, DType)> {
        self.locals
            .get(&l)
            .copied()
            .ok_or_else(|| Error(format!("{l} is used but never defined")))
    }

    // ---- memory ----

    fn buffer(&self, b: BufId) -> R<(PointerValue<'ctx>, DType)> {
        let p = self
            .bufs
            .get(&b)
            .copied()
            .ok_or_else(|| Error(format!("{b} is not bound in this launch")))?;
        let d = self
            .g
            .program
            .buffer(b)
            .ok_or_else(|| Error(format!("{b} does not exist")))?
            .dtype;
        Ok((p, d))
    }

    fn element(&self, b: BufId, i: IntValue<'ctx>) -> R<(PointerValue<'ctx>, DType)> {
        let (base, d) = self.buffer(b)?;
        let p = unsafe {
            self.g
                .b
                .build_in_bounds_gep(self.g.mem_type(d), base, &[i], "")
        }?;
        Ok((p, d))
    }

    /// `buf[i]`, in its register type.
    pub fn load(&self, b: BufId, i: IntValue<'ctx>) -> R<(BasicValueEnum<'ctx>, DType)> {
        let (p, d) = self.element(b, i)?;
        let v = self.g.b.build_load(self.g.mem_type(d), p, "")?;
        Ok((self.register_value(v, d)?, d))
    }

    pub fn store(&self, b: BufId, i: IntValue<'ctx>, v: BasicValueEnum<'ctx>) -> R<()> {
        let (p, d) = self.element(b, i)?;
        let v = self.memory_value(v, d)?;
        self.g.b.build_store(p, v)?;
        Ok(())
    }

    fn register_value(&self, v: BasicValueEnum<'ctx>, d: DType) -> R<BasicValueEnum<'ctx>> {
        if d != DType::Bool {
            return Ok(v);
        }
        let zero = self.g.cx.i8_type().const_zero();
        Ok(self
            .g
            .b
            .build_int_compare(IntPredicate::NE, v.into_int_value(), zero, "")?
            .into())
    }

    fn memory_value(&self, v: BasicValueEnum<'ctx>, d: DType) -> R<BasicValueEnum<'ctx>> {
        if d != DType::Bool {
            return Ok(v);
        }
        Ok(self
            .g
            .b
            .build_int_z_extend(v.into_int_value(), self.g.cx.i8_type(), "")?
            .into())
    }

    /// Lane `lanes.lane` of the 16-byte-wide load of `buf` at the chunk.
    fn lane_load(&mut self, buf: BufId) -> R<(BasicValueEnum<'ctx>, DType)> {
        let (base, d) = self.buffer(buf)?;
        let Some(l) = self.lanes.as_ref() else {
            return Err(Error("no vector lanes".into()));
        };
        let (first, lane) = (l.base, l.lane);
        let vector = match l.loaded.get(&buf) {
            Some(v) => *v,
            None => {
                let elem = self.g.mem_type(d);
                let vt = vector_type(elem, crate::schedule::VECTOR)?;
                let p = unsafe { self.g.b.build_in_bounds_gep(elem, base, &[first], "") }?;
                let v = self.g.b.build_load(vt, p, "")?;
                align(v, d)?;
                let v = v.into_vector_value();
                if let Some(l) = self.lanes.as_mut() {
                    l.loaded.insert(buf, v);
                }
                v
            }
        };
        let x = self.g.b.build_extract_element(
            vector,
            self.g.cx.i32_type().const_int(u64::from(lane), false),
            "",
        )?;
        Ok((self.register_value(x, d)?, d))
    }

    /// Stores the values every lane left for the row index, one vector a buffer.
    fn flush_lanes(&mut self, width: u32) -> R<()> {
        let Some(l) = self.lanes.take() else {
            return Ok(());
        };
        for (buf, values) in l.pending {
            let (base, d) = self.buffer(buf)?;
            let elem = self.g.mem_type(d);
            let vt = vector_type(elem, width)?;
            let mut v = vt.get_undef();
            for (j, x) in values.iter().enumerate() {
                let x = x.ok_or_else(|| Error(format!("lane {j} stores nothing to {buf}")))?;
                let x = self.memory_value(x, d)?;
                v = self.g.b.build_insert_element(
                    v,
                    x,
                    self.g.cx.i32_type().const_int(j as u64, false),
                    "",
                )?;
            }
            let p = unsafe { self.g.b.build_in_bounds_gep(elem, base, &[l.base], "") }?;
            let st = self.g.b.build_store(p, v)?;
            st.set_alignment(vector_align(d))
                .map_err(|e| Error(format!("alignment: {e}")))?;
        }
        Ok(())
    }

    // ---- expressions ----

    pub fn scalar(&self, s: Scalar) -> BasicValueEnum<'ctx> {
        let cx = self.g.cx;
        match s {
            Scalar::F32(x) => cx.f32_type().const_float(f64::from(x)).into(),
            Scalar::F64(x) => cx.f64_type().const_float(x).into(),
            Scalar::I32(x) => cx.i32_type().const_int(x as u64, true).into(),
            Scalar::I64(x) => cx.i64_type().const_int(x as u64, true).into(),
            Scalar::Bool(x) => cx.bool_type().const_int(u64::from(x), false).into(),
        }
    }

    pub fn index(&self, i: &Index) -> R<IntValue<'ctx>> {
        let b = &self.g.b;
        let c = |x: u64| self.idx.const_int(x, false);
        Ok(match i {
            Index::Const(x) => c(*x),
            Index::Var(v) => b.build_load(self.idx, self.var(*v)?, "")?.into_int_value(),
            Index::Add(x, y) => b.build_int_nuw_add(self.index(x)?, self.index(y)?, "")?,
            Index::Mul(x, k) => b.build_int_nuw_mul(self.index(x)?, c(*k), "")?,
            Index::Div(x, k) => b.build_int_unsigned_div(self.index(x)?, c((*k).max(1)), "")?,
            Index::Rem(x, k) => b.build_int_unsigned_rem(self.index(x)?, c((*k).max(1)), "")?,
        })
    }

    pub fn expr(&mut self, e: &Expr) -> R<(BasicValueEnum<'ctx>, DType)> {
        match e {
            Expr::Const(s) => Ok((self.scalar(*s), s.dtype())),
            Expr::Local(l) => {
                let (p, d) = self.local(*l)?;
                Ok((self.g.b.build_load(self.g.reg_type(d), p, "")?, d))
            }
            Expr::Index(i) => {
                let v = self.index(i)?;
                let wide = if self.idx.get_bit_width() == 64 {
                    v
                } else {
                    self.g.b.build_int_z_extend(v, self.g.cx.i64_type(), "")?
                };
                Ok((wide.into(), DType::I64))
            }
            Expr::Load { buf, index } => {
                if self.lanes.as_ref().is_some_and(|l| l.at_row.is_row(index)) {
                    return self.lane_load(*buf);
                }
                let i = self.index(index)?;
                self.load(*buf, i)
            }
            Expr::Unary(op, a) => {
                let (v, d) = self.expr(a)?;
                Ok((self.unary(*op, d, v)?, d))
            }
            Expr::Binary(op, a, b) => {
                let (x, d) = self.expr(a)?;
                if *op == BinaryOp::Pow {
                    if let Expr::Const(Scalar::F32(2.0) | Scalar::F64(2.0)) = **b {
                        // x² is exact in one multiplication, as numpy's power is.
                        return Ok((self.binary(BinaryOp::Mul, d, x, x)?, d));
                    }
                }
                let (y, _) = self.expr(b)?;
                let r = self.binary(*op, d, x, y)?;
                Ok((r, if op.is_comparison() { DType::Bool } else { d }))
            }
            Expr::Select(c, a, b) => {
                let (c, _) = self.expr(c)?;
                let (x, d) = self.expr(a)?;
                let (y, _) = self.expr(b)?;
                Ok((self.g.b.build_select(c.into_int_value(), x, y, "")?, d))
            }
            Expr::Cast(to, a) => {
                let (v, d) = self.expr(a)?;
                Ok((self.cast(d, *to, v)?, *to))
            }
        }
    }

    /// Calls `f` (which must return a value) with `args`.
    pub fn call(
        &self,
        f: FunctionValue<'ctx>,
        args: &[BasicValueEnum<'ctx>],
    ) -> R<BasicValueEnum<'ctx>> {
        let args: Vec<BasicMetadataValueEnum> = args.iter().map(|&a| a.into()).collect();
        let name = f.get_name().to_string_lossy().into_owned();
        self.g
            .b
            .build_call(f, &args, "")?
            .try_as_basic_value()
            .basic()
            .ok_or_else(|| Error(format!("{name} returned nothing")))
    }

    /// Shared memory for combining the partial results of a block's warps.
    pub fn slots(&mut self) -> PointerValue<'ctx> {
        if let Some(s) = self.slots {
            return s;
        }
        let t = self.g.cx.i64_type().array_type(32);
        let name = format!("{}_slots", self.f.get_name().to_string_lossy());
        let s = self.g.shared(t.into(), &name);
        self.slots = Some(s);
        s
    }
}

fn vector_type<'ctx>(elem: BasicTypeEnum<'ctx>, width: u32) -> R<inkwell::types::VectorType<'ctx>> {
    match elem {
        BasicTypeEnum::FloatType(t) => Ok(t.vec_type(width)),
        BasicTypeEnum::IntType(t) => Ok(t.vec_type(width)),
        _ => Err(Error("vector of a non-scalar".into())),
    }
}

/// The alignment of a chunk of [`crate::schedule::VECTOR`] elements: the
/// chunk starts at a multiple of its size from a buffer aligned to 16.
fn vector_align(d: DType) -> u32 {
    (d.size() as u32 * crate::schedule::VECTOR).min(16)
}

fn align(v: BasicValueEnum, d: DType) -> R<()> {
    let inst = v
        .as_instruction_value()
        .ok_or_else(|| Error("a load that is not an instruction".into()))?;
    inst.set_alignment(vector_align(d))
        .map_err(|e| Error(format!("alignment: {e}")))
}

/// Whether every index, loop bound and buffer the launch uses fits in i32.
fn fits_i32(g: &Gen, l: &Launch, stmts: &[Stmt]) -> bool {
    const LIMIT: u64 = i32::MAX as u64;
    let mut ok = g.program.buffers.iter().all(|b| b.len() < LIMIT);
    let mut extents: HashMap<Var, u64> = HashMap::new();
    match &l.mapping {
        Mapping::Rows { nest, .. } => {
            ok &= nest.iter().map(|&(_, e)| e).product::<u64>() < LIMIT;
            extents.extend(nest.iter().copied());
        }
        Mapping::Gemm { loops, gemm } => {
            extents.extend(loops.iter().copied());
            ok &= gemm.batch.saturating_mul(gemm.m).saturating_mul(gemm.n) < LIMIT;
        }
        Mapping::Serial { .. } => {}
    }
    Stmt::walk(stmts, &mut |s| {
        if let Stmt::Loop { var, extent, .. } = s {
            extents.insert(*var, *extent);
        }
    });
    ok &= extents.values().all(|&e| e < LIMIT);
    let fits = |i: &Index| index_range(i, &extents).1 < LIMIT;
    Stmt::walk(stmts, &mut |s| {
        match s {
            Stmt::Store { index, .. } => ok &= fits(index),
            Stmt::Gemm(gm) => {
                let total = gm.batch.saturating_mul(gm.m).saturating_mul(gm.n);
                ok &= total < LIMIT && [&gm.a, &gm.b, &gm.c].iter().all(|r| fits(&r.offset));
            }
            _ => {}
        }
        for e in s.exprs() {
            e.walk(&mut |x| {
                if let Expr::Load { index, .. } | Expr::Index(index) = x {
                    ok &= fits(index);
                }
            });
        }
    });
    ok
}

/// The largest value `i` takes, and the largest any part of it takes.
fn index_range(i: &Index, extents: &HashMap<Var, u64>) -> (u64, u64) {
    let (value, inner) = match i {
        Index::Const(c) => (*c, 0),
        Index::Var(v) => (extents.get(v).map_or(u64::MAX, |e| e.saturating_sub(1)), 0),
        Index::Add(a, b) => {
            let ((x, p), (y, q)) = (index_range(a, extents), index_range(b, extents));
            (x.saturating_add(y), p.max(q))
        }
        Index::Mul(a, c) => {
            let (x, p) = index_range(a, extents);
            (x.saturating_mul(*c), p)
        }
        Index::Div(a, c) => {
            let (x, p) = index_range(a, extents);
            (x / (*c).max(1), p.max(x))
        }
        Index::Rem(a, c) => {
            let (x, p) = index_range(a, extents);
            (x.min(c.saturating_sub(1)), p.max(x))
        }
    };
    (value, inner.max(value))
}
