//! `facecore profile MODEL.onnx --shape 1,3,H,W`: where tract spends its time, per operator
//! and per node (medians of repeated runs, one thread).

use std::collections::BTreeMap;
use std::path::PathBuf;

use clap::Args;

use crate::AnyResult;

#[derive(Args)]
pub struct ProfileArgs {
    /// An ONNX file with one NCHW float input.
    model: PathBuf,
    /// Input shape N,C,H,W.
    #[arg(long, value_delimiter = ',', required = true)]
    shape: Vec<usize>,
    /// Timed runs (after one warm-up).
    #[arg(long, default_value_t = 20)]
    runs: usize,
    /// Also list this many slowest nodes.
    #[arg(long, default_value_t = 12)]
    top: usize,
    /// Instead of a profile: time MODEL against this one (e.g. a rewrite of it), plain runs
    /// interleaved, and print both medians.
    #[arg(long)]
    against: Option<PathBuf>,
}

pub fn run(a: &ProfileArgs) -> AnyResult {
    let bytes = std::fs::read(&a.model).map_err(|e| format!("{}: {e}", a.model.display()))?;
    let shape: [usize; 4] = a.shape.clone().try_into().map_err(|_| "--shape needs four numbers N,C,H,W")?;
    if let Some(other) = &a.against {
        let b = std::fs::read(other).map_err(|e| format!("{}: {e}", other.display()))?;
        let (ta, tb) = facecore::time_onnx_pair(&bytes, &b, shape, a.runs)?;
        println!(
            "A/B {shape:?}, {} interleaved runs each: {} {ta:.2} ms, {} {tb:.2} ms, A/B = {:.3}",
            a.runs,
            a.model.display(),
            other.display(),
            ta / tb
        );
        return Ok(());
    }
    let nodes = facecore::profile_onnx(&bytes, shape, a.runs)?;
    let total: f64 = nodes.iter().map(|n| n.ms).sum();
    println!(
        "profile {} input {:?}: {} nodes, {total:.2} ms per run (sum of per-node medians, {} runs)",
        a.model.display(),
        shape,
        nodes.len(),
        a.runs
    );
    let mut by_op: BTreeMap<&str, (f64, usize)> = BTreeMap::new();
    for n in &nodes {
        let e = by_op.entry(n.op.as_str()).or_default();
        e.0 += n.ms;
        e.1 += 1;
    }
    let mut ops: Vec<_> = by_op.into_iter().collect();
    ops.sort_by(|a, b| b.1.0.total_cmp(&a.1.0));
    println!("| op | nodes | ms | share |");
    println!("|---|---:|---:|---:|");
    for (op, (ms, count)) in ops.iter().filter(|o| o.1.0 > 0.005) {
        println!("| {op} | {count} | {ms:.2} | {:.1}% |", 100.0 * ms / total.max(1e-9));
    }
    let mut slow: Vec<_> = nodes.iter().collect();
    slow.sort_by(|a, b| b.ms.total_cmp(&a.ms));
    println!("\nslowest nodes:");
    for n in slow.iter().take(a.top) {
        println!("  {:8.3} ms  {:<14} {}", n.ms, n.op, n.name);
    }
    Ok(())
}
