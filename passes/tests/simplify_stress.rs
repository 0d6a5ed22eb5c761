use proptest::prelude::*;
use tfg_ir::arbitrary::{arb_graph_with, GraphConfig};
use tfg_passes::simplify::{simplify, Limits};

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]
    #[test]
    fn big(g in arb_graph_with(GraphConfig { steps: 20..=150, updates: true, ..GraphConfig::default() })) {
        let mut s = g.clone();
        let r = simplify(&mut s, Limits { explain: true, ..Limits::default() }).unwrap();
        tfg_ir::verify(&s).unwrap();
        let mut t = g.clone();
        simplify(&mut t, Limits::default()).unwrap();
        prop_assert!(tfg_ir::text::print(&s) == tfg_ir::text::print(&t), "{}\nexplain:\n{}\nplain:\n{}\n{}", tfg_ir::text::print(&g), tfg_ir::text::print(&s), tfg_ir::text::print(&t), r.explain());
        let _ = r.explain();
    }
}
