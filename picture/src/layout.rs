//! A layered (Sugiyama-style) layout of a directed graph, drawn top to bottom.
//!
//! 1. Cycles are broken by turning round the edges that go against a
//!    topological order (data-flow graphs have none, but nothing here relies
//!    on that).
//! 2. Layers by longest path from the sources, so every edge points down;
//!    sources not pinned to the top (constants) move down to just above their
//!    first user, so they sit beside what uses them.
//! 3. An edge longer than one layer passes through one dummy vertex per layer
//!    it crosses; the long edges leaving one box share their dummies, so they
//!    run down as one line that branches off where each one ends.
//! 4. Order within each layer: barycentre sweeps, down then up, keeping the
//!    order with the fewest crossings seen.
//! 5. x: each vertex is pulled toward the mean x of its neighbours, and each
//!    layer then placed as close to those targets as its order and spacing
//!    allow (a least-squares fit solved exactly by pool-adjacent-violators).
//!    y: one band per layer, as tall as its tallest box.
//! 6. Routes: polylines through the dummies; the arrows into a box are spread
//!    along its top edge in the order they arrive. A trunk is returned once,
//!    and each edge's route only from where it leaves it, so the output stays
//!    linear in the size of the layout.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

/// A box to place.
#[derive(Clone, Debug)]
pub struct Node {
    pub width: f64,
    pub height: f64,
    /// Width to keep free around the box's centre (for text beside it), if
    /// more than `width`.
    pub room: f64,
    /// Keep in the first layer (inputs, params: the graph's interface).
    pub top: bool,
    /// Within a layer, lower bands come first (keeps a group side by side).
    pub band: u8,
}

/// Where everything went, in a frame whose top-left corner is (0, 0).
#[derive(Clone, Debug)]
pub struct Layout {
    /// The centre of each box.
    pub centers: Vec<(f64, f64)>,
    /// Each edge as a polyline to the target's border, from where it leaves
    /// its source's trunk, or from the source's border if it has no dummies;
    /// an edge from a box to itself has no route.
    pub routes: Vec<Vec<(f64, f64)>>,
    /// Each box's trunk: the line from its bottom through the dummies its
    /// long edges share (empty for a box without long edges). An edge is
    /// drawn as the part of its source's trunk above its route, then its route.
    pub trunks: Vec<Vec<(f64, f64)>>,
    pub width: f64,
    pub height: f64,
}

const LAYER_GAP: f64 = 56.0;
const NODE_GAP: f64 = 28.0;
/// Space beside a dummy: edges may run closer together than boxes.
const DUMMY_GAP: f64 = 10.0;
const SWEEPS: usize = 12;
/// How much more a dummy resists moving than a box does.
const DUMMY_WEIGHT: f64 = 8.0;
const PULLS: usize = 8;
/// Most space between two arrow heads on one box.
const PORT_GAP: f64 = 16.0;

pub fn layout(nodes: &[Node], edges: &[(usize, usize)]) -> Layout {
    let rank = topological_rank(nodes.len(), edges);
    // Each edge as drawn: from the upper box to the lower one.
    let downward: Vec<(usize, usize)> = edges
        .iter()
        .map(|&(a, b)| if rank[a] <= rank[b] { (a, b) } else { (b, a) })
        .collect();
    let layer = layers(nodes, &downward, &rank);
    let mut g = Layered::new(nodes, &layer, &downward);
    g.order();
    g.place_x();

    let mut heights = vec![0.0f64; g.layers.len()];
    for (v, node) in nodes.iter().enumerate() {
        heights[g.layer[v]] = heights[g.layer[v]].max(node.height);
    }
    let mut top = vec![0.0; heights.len()];
    for l in 1..heights.len() {
        top[l] = top[l - 1] + heights[l - 1] + LAYER_GAP;
    }
    let left = (0..g.x.len())
        .map(|v| g.x[v] - g.width[v] / 2.0)
        .fold(f64::INFINITY, f64::min);
    let shift = if left.is_finite() { -left } else { 0.0 };
    let centers: Vec<(f64, f64)> = (0..nodes.len())
        .map(|v| {
            let l = g.layer[v];
            (g.x[v] + shift, top[l] + heights[l] / 2.0)
        })
        .collect();
    let width = (0..g.x.len())
        .map(|v| g.x[v] + shift + g.width[v] / 2.0)
        .fold(0.0, f64::max);
    let height = top.last().zip(heights.last()).map_or(0.0, |(t, h)| t + h);

    // The trunk of each box with long edges: from its bottom through its dummies.
    let bottom = |v: usize| (centers[v].0, centers[v].1 + nodes[v].height / 2.0);
    let through = |d: usize| {
        let l = g.layer[d];
        [
            (g.x[d] + shift, top[l]),
            (g.x[d] + shift, top[l] + heights[l]),
        ]
    };
    let trunks: Vec<Vec<(f64, f64)>> = (0..nodes.len())
        .map(|v| match g.trunks[v].as_slice() {
            [] => Vec::new(),
            dummies => std::iter::once(bottom(v))
                .chain(dummies.iter().flat_map(|&d| through(d)))
                .collect(),
        })
        .collect();
    // Each edge's own part, without its last point yet: from where it leaves
    // its source's trunk (or its source), or whole if it was turned round.
    let turned = |e: usize| edges[e].0 != downward[e].0;
    let mut routes: Vec<Vec<(f64, f64)>> = g
        .chains
        .iter()
        .enumerate()
        .map(|(e, chain)| match chain.as_slice() {
            [_] | [] => Vec::new(),
            [first, .., _] if turned(e) => std::iter::once(bottom(*first))
                .chain(chain[1..chain.len() - 1].iter().flat_map(|&d| through(d)))
                .collect(),
            [first, _] => vec![bottom(*first)],
            [.., last_dummy, _] => vec![through(*last_dummy)[1]],
        })
        .collect();
    // Arrow ends, spread along the top of each box in the order they arrive.
    let mut arriving: Vec<Vec<usize>> = vec![Vec::new(); nodes.len()];
    for (e, chain) in g.chains.iter().enumerate() {
        if let (true, Some(&last)) = (chain.len() > 1, chain.last()) {
            arriving[last].push(e);
        }
    }
    for (v, mut into) in arriving.into_iter().enumerate() {
        let from_x = |e: &usize| routes[*e].last().map_or(0.0, |p| p.0);
        into.sort_by(|a, b| from_x(a).total_cmp(&from_x(b)));
        let (x, y) = centers[v];
        let m = into.len() as f64;
        let gap = (nodes[v].width * 0.8 / m).min(PORT_GAP);
        for (k, e) in into.into_iter().enumerate() {
            let port = x + (k as f64 - (m - 1.0) / 2.0) * gap;
            routes[e].push((port, y - nodes[v].height / 2.0));
        }
    }
    for (e, route) in routes.iter_mut().enumerate() {
        if turned(e) {
            route.reverse();
        }
    }
    Layout {
        centers,
        routes,
        trunks,
        width,
        height,
    }
}

/// A topological order (smallest index first among the ready), as each
/// node's position in it. A cycle is broken at its smallest unplaced node.
fn topological_rank(n: usize, edges: &[(usize, usize)]) -> Vec<usize> {
    let mut indegree = vec![0usize; n];
    let mut succs: Vec<Vec<usize>> = vec![Vec::new(); n];
    for &(a, b) in edges.iter().filter(|(a, b)| a != b) {
        indegree[b] += 1;
        succs[a].push(b);
    }
    let mut ready: BinaryHeap<Reverse<usize>> =
        (0..n).filter(|&v| indegree[v] == 0).map(Reverse).collect();
    let mut rank = vec![usize::MAX; n];
    let mut next = 0;
    while next < n {
        let v = match ready.pop() {
            Some(Reverse(v)) => v,
            None => match (0..n).find(|&v| rank[v] == usize::MAX) {
                Some(v) => v,
                None => break,
            },
        };
        if rank[v] != usize::MAX {
            continue;
        }
        rank[v] = next;
        next += 1;
        for &s in &succs[v] {
            indegree[s] = indegree[s].saturating_sub(1);
            if indegree[s] == 0 && rank[s] == usize::MAX {
                ready.push(Reverse(s));
            }
        }
    }
    rank
}

/// Each node's layer: longest path from the sources; unpinned sources just
/// above their highest user.
fn layers(nodes: &[Node], downward: &[(usize, usize)], rank: &[usize]) -> Vec<usize> {
    let n = nodes.len();
    let mut preds: Vec<Vec<usize>> = vec![Vec::new(); n];
    let mut succs: Vec<Vec<usize>> = vec![Vec::new(); n];
    for &(a, b) in downward.iter().filter(|(a, b)| a != b) {
        preds[b].push(a);
        succs[a].push(b);
    }
    let mut by_rank: Vec<usize> = (0..n).collect();
    by_rank.sort_by_key(|&v| rank[v]);
    let mut layer = vec![0usize; n];
    for &v in &by_rank {
        layer[v] = preds[v].iter().map(|&u| layer[u] + 1).max().unwrap_or(0);
    }
    for &v in by_rank.iter().rev() {
        if preds[v].is_empty() && !nodes[v].top {
            if let Some(first_use) = succs[v].iter().map(|&s| layer[s]).min() {
                layer[v] = first_use - 1;
            }
        }
    }
    layer
}

/// The layered graph: the boxes (vertices `0..n`) and the dummies after them.
struct Layered {
    layer: Vec<usize>,
    width: Vec<f64>,
    real: Vec<bool>,
    band: Vec<u8>,
    up: Vec<Vec<usize>>,
    down: Vec<Vec<usize>>,
    /// The vertices of each layer, in order.
    layers: Vec<Vec<usize>>,
    /// Each vertex's index in its layer.
    pos: Vec<usize>,
    x: Vec<f64>,
    /// Each edge's vertices, from its upper box to its lower one.
    chains: Vec<Vec<usize>>,
    /// The dummies below each box, one per layer, shared by its long edges.
    trunks: Vec<Vec<usize>>,
}

impl Layered {
    fn new(nodes: &[Node], layer: &[usize], downward: &[(usize, usize)]) -> Layered {
        let mut g = Layered {
            layer: Vec::new(),
            width: Vec::new(),
            real: Vec::new(),
            band: Vec::new(),
            up: Vec::new(),
            down: Vec::new(),
            layers: Vec::new(),
            pos: Vec::new(),
            x: Vec::new(),
            chains: Vec::new(),
            trunks: vec![Vec::new(); nodes.len()],
        };
        for (node, &l) in nodes.iter().zip(layer) {
            g.vertex(l, node.width.max(node.room), true, node.band);
        }
        // Long edges from one box share its trunk of dummies: they run as one
        // line that branches where each one ends.
        for &(a, b) in downward {
            if a == b {
                g.chains.push(vec![a]);
                continue;
            }
            let span = layer[b] - layer[a] - 1;
            while g.trunks[a].len() < span {
                let above = g.trunks[a].last().copied().unwrap_or(a);
                let d = g.vertex(layer[a] + g.trunks[a].len() + 1, 0.0, false, 0);
                g.link(above, d);
                g.trunks[a].push(d);
            }
            let mut chain = vec![a];
            chain.extend(&g.trunks[a][..span]);
            g.link(chain[span], b);
            chain.push(b);
            g.chains.push(chain);
        }
        let depth = g.layer.iter().max().map_or(0, |&l| l + 1);
        g.layers = vec![Vec::new(); depth];
        for v in 0..g.layer.len() {
            g.layers[g.layer[v]].push(v);
        }
        for l in 0..depth {
            let band = &g.band;
            g.layers[l].sort_by_key(|&v| band[v]);
        }
        g.pos = vec![0; g.layer.len()];
        g.sync_pos();
        g
    }

    fn vertex(&mut self, layer: usize, width: f64, real: bool, band: u8) -> usize {
        self.layer.push(layer);
        self.width.push(width);
        self.real.push(real);
        self.band.push(band);
        self.up.push(Vec::new());
        self.down.push(Vec::new());
        self.x.push(0.0);
        self.layer.len() - 1
    }

    fn link(&mut self, upper: usize, lower: usize) {
        if !self.down[upper].contains(&lower) {
            self.down[upper].push(lower);
            self.up[lower].push(upper);
        }
    }

    fn sync_pos(&mut self) {
        for layer in &self.layers {
            for (k, &v) in layer.iter().enumerate() {
                self.pos[v] = k;
            }
        }
    }

    fn order(&mut self) {
        let depth = self.layers.len();
        let mut best = self.layers.clone();
        let mut fewest = self.crossings();
        for sweep in 0..SWEEPS {
            if fewest == 0 {
                break;
            }
            if sweep % 2 == 0 {
                (1..depth).for_each(|l| self.reorder(l, true));
            } else {
                (0..depth.saturating_sub(1))
                    .rev()
                    .for_each(|l| self.reorder(l, false));
            }
            let c = self.crossings();
            if c < fewest {
                fewest = c;
                best = self.layers.clone();
            }
        }
        self.layers = best;
        self.sync_pos();
    }

    /// Sorts layer `l` by the mean position of each vertex's neighbours in
    /// the layer above (or below); one without such neighbours keeps its place.
    fn reorder(&mut self, l: usize, from_above: bool) {
        let key = |v: usize| {
            let nbrs = if from_above {
                &self.up[v]
            } else {
                &self.down[v]
            };
            let mean = if nbrs.is_empty() {
                self.pos[v] as f64
            } else {
                nbrs.iter().map(|&u| self.pos[u] as f64).sum::<f64>() / nbrs.len() as f64
            };
            (self.band[v], mean)
        };
        let mut keyed: Vec<(usize, (u8, f64))> =
            self.layers[l].iter().map(|&v| (v, key(v))).collect();
        keyed.sort_by(|(_, a), (_, b)| a.0.cmp(&b.0).then(a.1.total_cmp(&b.1)));
        self.layers[l] = keyed.into_iter().map(|(v, _)| v).collect();
        for (k, &v) in self.layers[l].iter().enumerate() {
            self.pos[v] = k;
        }
    }

    /// Edge crossings between all pairs of adjacent layers: inversions of
    /// the lower ends once edges are sorted by their upper ends (counted
    /// with a Fenwick tree).
    fn crossings(&self) -> usize {
        let mut total = 0;
        for pair in self.layers.windows(2) {
            let mut ends: Vec<(usize, usize)> = pair[0]
                .iter()
                .flat_map(|&u| self.down[u].iter().map(move |&v| (u, v)))
                .map(|(u, v)| (self.pos[u], self.pos[v]))
                .collect();
            ends.sort_unstable();
            let mut tree = vec![0usize; pair[1].len() + 1];
            for (seen, &(_, v)) in ends.iter().enumerate() {
                let (mut i, mut at_most_v) = (v + 1, 0);
                while i > 0 {
                    at_most_v += tree[i];
                    i &= i - 1;
                }
                total += seen - at_most_v;
                let mut i = v + 1;
                while i < tree.len() {
                    tree[i] += 1;
                    i += i & i.wrapping_neg();
                }
            }
        }
        total
    }

    /// The least distance between the centres of neighbours `a` and `b`.
    fn sep(&self, a: usize, b: usize) -> f64 {
        let gap = if self.real[a] && self.real[b] {
            NODE_GAP
        } else {
            DUMMY_GAP
        };
        (self.width[a] + self.width[b]) / 2.0 + gap
    }

    fn place_x(&mut self) {
        for l in 0..self.layers.len() {
            let mut x = 0.0;
            for k in 0..self.layers[l].len() {
                let v = self.layers[l][k];
                if k > 0 {
                    x += self.sep(self.layers[l][k - 1], v);
                }
                self.x[v] = x;
            }
        }
        let depth = self.layers.len();
        for pull in 0..=PULLS {
            // Down, up, down, …, and last a pull from both sides.
            let (up, down) = match pull {
                p if p == PULLS => (true, true),
                p if p % 2 == 0 => (true, false),
                _ => (false, true),
            };
            let order: Vec<usize> = if down && !up {
                (0..depth).rev().collect()
            } else {
                (0..depth).collect()
            };
            for l in order {
                let targets: Vec<f64> = self.layers[l]
                    .iter()
                    .map(|&v| {
                        let nbrs = self.up[v]
                            .iter()
                            .filter(|_| up)
                            .chain(self.below(v).iter().filter(|_| down));
                        let (sum, count) = nbrs.fold((0.0, 0), |(s, c), &u| (s + self.x[u], c + 1));
                        if count == 0 {
                            self.x[v]
                        } else {
                            sum / count as f64
                        }
                    })
                    .collect();
                self.fit(l, &targets);
            }
        }
    }

    /// The neighbours below `v` that pull it sideways. A trunk dummy follows
    /// the trunk only, not the branches that leave it: pulled toward its
    /// branches' boxes, the trunk would lean over, layer after layer.
    fn below(&self, v: usize) -> &[usize] {
        let trunk = self.down[v].iter().position(|&d| !self.real[d]);
        match trunk {
            Some(i) if !self.real[v] => &self.down[v][i..=i],
            _ => &self.down[v],
        }
    }

    /// Places layer `l` to minimise Σ wᵢ (xᵢ − targetᵢ)² subject to
    /// xᵢ₊₁ − xᵢ ≥ sepᵢ. Subtracting the running sum of the seps turns the
    /// constraints into "non-decreasing", which pool-adjacent-violators
    /// solves. Dummies weigh more than boxes, so long edges stay straight and
    /// the boxes beside them move instead (with equal weights a box and a
    /// long edge beside it push each other sideways, layer after layer).
    fn fit(&mut self, l: usize, targets: &[f64]) {
        let vs = &self.layers[l];
        let mut offset = vec![0.0; vs.len()];
        for i in 1..vs.len() {
            offset[i] = offset[i - 1] + self.sep(vs[i - 1], vs[i]);
        }
        // Blocks of equal value: (weighted sum of shifted targets, total weight, count).
        let mut blocks: Vec<(f64, f64, usize)> = Vec::new();
        for ((t, o), &v) in targets.iter().zip(&offset).zip(vs) {
            let w = if self.real[v] { 1.0 } else { DUMMY_WEIGHT };
            blocks.push((w * (t - o), w, 1));
            while let [.., (s1, w1, c1), (s2, w2, c2)] = blocks[..] {
                if s1 / w1 <= s2 / w2 {
                    break;
                }
                blocks.pop();
                if let Some(last) = blocks.last_mut() {
                    *last = (s1 + s2, w1 + w2, c1 + c2);
                }
            }
        }
        let mut i = 0;
        for (sum, weight, count) in blocks {
            for _ in 0..count {
                self.x[self.layers[l][i]] = sum / weight + offset[i];
                i += 1;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn boxes(n: usize, top: &[usize]) -> Vec<Node> {
        (0..n)
            .map(|v| Node {
                width: 40.0 + (v % 3) as f64 * 20.0,
                height: 24.0 + (v % 2) as f64 * 10.0,
                room: 0.0,
                top: top.contains(&v),
                band: 0,
            })
            .collect()
    }

    fn overlap(a: (f64, f64), na: &Node, b: (f64, f64), nb: &Node) -> bool {
        (a.0 - b.0).abs() < (na.width + nb.width) / 2.0
            && (a.1 - b.1).abs() < (na.height + nb.height) / 2.0
    }

    #[test]
    fn a_twisted_pair_is_untwisted() {
        // 0 → 3 and 1 → 2: drawn uncrossed, 2 is left of 3 as 1 is right of 0
        // unless the sweep swaps the top; either way the arrows do not cross.
        let nodes = boxes(4, &[0, 1]);
        let l = layout(&nodes, &[(0, 3), (1, 2)]);
        let (x, _): (Vec<f64>, Vec<f64>) = l.centers.iter().copied().unzip();
        assert_eq!(x[0] < x[1], x[3] < x[2], "{x:?}");
    }

    #[test]
    fn constants_sit_just_above_their_user() {
        // 0 → 1 → 2 → 3, and a constant 4 used by 3 only.
        let nodes = boxes(5, &[0]);
        let l = layout(&nodes, &[(0, 1), (1, 2), (2, 3), (4, 3)]);
        let y: Vec<f64> = l.centers.iter().map(|c| c.1).collect();
        assert_eq!(y[4], y[2]);
        assert!(y[4] < y[3]);
    }

    #[test]
    fn a_cycle_is_drawn_with_every_edge() {
        let nodes = boxes(3, &[]);
        let l = layout(&nodes, &[(0, 1), (1, 2), (2, 0)]);
        assert!(l.routes.iter().all(|r| r.len() >= 2), "{:?}", l.routes);
        // The edge turned round still ends at its own target's border.
        let end = l.routes[2].last().copied().unwrap_or_default();
        assert!((end.1 - l.centers[0].1).abs() <= nodes[0].height / 2.0 + 1e-9);
    }

    #[test]
    fn a_long_edge_beside_a_chain_does_not_lean() {
        // A chain 1 → 2 → … and a box 0 on top feeding every link: its
        // trunk runs beside the chain, which must not drift sideways with depth.
        let width = |n: usize| {
            let edges: Vec<(usize, usize)> = (1..n)
                .map(|v| (v, v + 1))
                .chain((1..=n).map(|v| (0, v)))
                .collect();
            layout(&boxes(n + 1, &[0]), &edges).width
        };
        assert!(
            width(100) < width(10) + 1.0,
            "{} vs {}",
            width(100),
            width(10)
        );
    }

    proptest! {
        #[test]
        fn edges_point_down_and_boxes_do_not_overlap(
            n in 1usize..40,
            raw in prop::collection::vec((0usize..1000, 0usize..1000), 0..80),
        ) {
            let edges: Vec<(usize, usize)> = raw
                .iter()
                .map(|&(a, b)| (a % n, b % n))
                .filter(|(a, b)| a < b)
                .collect();
            let nodes = boxes(n, &[0]);
            let l = layout(&nodes, &edges);
            for (e, &(a, b)) in edges.iter().enumerate() {
                prop_assert!(l.centers[a].1 < l.centers[b].1);
                let route = &l.routes[e];
                prop_assert!(route.len() >= 2);
                prop_assert!(route.windows(2).all(|w| w[0].1 <= w[1].1 + 1e-9));
            }
            for a in 0..n {
                let (x, y) = l.centers[a];
                prop_assert!(x - nodes[a].width / 2.0 >= -1e-6 && x + nodes[a].width / 2.0 <= l.width + 1e-6);
                prop_assert!(y - nodes[a].height / 2.0 >= -1e-6 && y + nodes[a].height / 2.0 <= l.height + 1e-6);
                for b in a + 1..n {
                    prop_assert!(!overlap(l.centers[a], &nodes[a], l.centers[b], &nodes[b]));
                }
            }
        }
    }
}
