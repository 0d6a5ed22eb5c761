//! Dead-code elimination: drop every value that no output or update needs.
//!
//! Inputs and params stay even when unused: they are the graph's interface,
//! and feeds and checkpoints refer to them.

use tfg_ir::Graph;

pub fn dce(g: &mut Graph) {
    let live = g.live();
    if live.iter().any(|l| !l) {
        g.retain(&live);
    }
}
