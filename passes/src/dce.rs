//! Dead-code elimination: drop every value that no output or update needs.
//!
//! Inputs and params stay even when unused: they are the graph's interface,
//! and feeds and checkpoints refer to them.

use tfg_ir::Graph;

/// Removes from `g` every node that no output or update depends on, keeping
/// all inputs and params; leaves `g` untouched when everything is live.
pub fn dce(g: &mut Graph) {
    let live = g.live();
    if live.iter().any(|l| !l) {
        g.retain(&live);
    }
}
