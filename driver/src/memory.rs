//! Refusing work that cannot fit in this machine's memory, before it is
//! allocated (an allocation that fails aborts the process): a graph's
//! values alive at once, a Kernel IR program's planned buffers.

use crate::Error;
use tfg_ir::{Graph, ValueId};

/// Refuses a graph that cannot fit in this machine's memory, which would
/// otherwise abort the process when a buffer is allocated: one value larger
/// than memory, or values alive at the same time (each from the op that makes
/// it to its last use, as the interpreter keeps them; inputs and params from
/// the start) that together are. Values of symbolic shape are not counted:
/// they are checked once specialised.
pub fn check_memory(g: &Graph) -> Result<(), Error> {
    let limit = memory_bytes().unwrap_or(u64::MAX);
    let bytes = g
        .ids()
        .map(|v| value_bytes(g, v, limit))
        .collect::<Result<Vec<u64>, Error>>()?;
    let peak = live_peak(g, &bytes);
    if peak > limit {
        return Err(Error::new(format!(
            "graph `{}`: its values alive at the same time need {peak} bytes, more memory than this machine has ({limit} bytes)",
            g.name
        )));
    }
    Ok(())
}

/// The bytes of value `v` of `g` (0 while its shape is symbolic), or an
/// error if they are more than `limit`.
fn value_bytes(g: &Graph, v: ValueId, limit: u64) -> Result<u64, Error> {
    let node = g.node(v);
    let size = node
        .ty
        .shape
        .numel()
        .and_then(|n| n.checked_mul(node.ty.dtype.size() as u64));
    match size {
        None if node.ty.shape.is_symbolic() => Ok(0),
        Some(b) if b <= limit => Ok(b),
        _ => {
            let what = node
                .name
                .as_deref()
                .map_or_else(|| node.op.name(), |n| format!("`{n}`"));
            Err(Error::new(format!(
                "graph `{}`: {what} of type {} needs more memory than this machine has ({limit} bytes)",
                g.name, node.ty
            )))
        }
    }
}

/// The most bytes alive at once when `g`'s nodes run in order, each value
/// (of `bytes[i]` bytes) freed after its last use; outputs and updates live
/// to the end.
fn live_peak(g: &Graph, bytes: &[u64]) -> u64 {
    let n = g.nodes.len();
    let mut last_use: Vec<usize> = (0..n).collect();
    for (i, node) in g.nodes.iter().enumerate() {
        for a in &node.args {
            if let Some(last) = last_use.get_mut(a.index()) {
                *last = (*last).max(i);
            }
        }
    }
    for v in g
        .outputs
        .iter()
        .map(|(_, v)| v)
        .chain(g.updates.iter().map(|(_, v)| v))
    {
        if let Some(last) = last_use.get_mut(v.index()) {
            *last = n;
        }
    }
    // Bytes freed after each step; leaves (inputs, params) are alive from the start.
    let mut freed = vec![0u64; n + 1];
    for (i, &b) in bytes.iter().enumerate() {
        freed[last_use[i]] = freed[last_use[i]].saturating_add(b);
    }
    let mut live = g
        .nodes
        .iter()
        .zip(bytes)
        .filter(|(node, _)| node.op.is_leaf_state())
        .fold(0u64, |acc, (_, &b)| acc.saturating_add(b));
    let mut peak = live;
    for (i, node) in g.nodes.iter().enumerate() {
        if !node.op.is_leaf_state() {
            live = live.saturating_add(bytes[i]);
        }
        peak = peak.max(live);
        live = live.saturating_sub(freed[i]);
    }
    peak
}

/// Refuses a Kernel IR program whose buffers (the arena of temporaries as
/// planned, and every input, param, constant and result) do not fit in this
/// machine's memory together.
pub(crate) fn check_plan(name: &str, program: &tfg_ir::kernel::Program) -> Result<(), Error> {
    let limit = memory_bytes().unwrap_or(u64::MAX);
    let total = program
        .buffers
        .iter()
        .filter(|b| !matches!(b.role, tfg_ir::kernel::Role::Temp))
        .fold(program.plan.arena_bytes, |acc, b| {
            acc.saturating_add(b.bytes())
        });
    if total > limit {
        return Err(Error::new(format!(
            "graph `{name}`: its planned buffers need {total} bytes at once, more memory than this machine has ({limit} bytes)"
        )));
    }
    Ok(())
}

/// Total physical memory, where the system says (Linux's /proc/meminfo).
fn memory_bytes() -> Option<u64> {
    let info = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = info.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    kib.checked_mul(1024)
}
