//! Every call into tract lives in this module, so an engine upgrade touches one file.
//!
//! A [`Net`] is an ONNX graph loaded once; [`Net::plan`] gives an optimised, runnable plan
//! for one concrete input shape, cached, so the (expensive) optimisation happens once per
//! shape and the plan is shared by all threads.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use tract_onnx::prelude::*;

use crate::error::{Error, Result};

type Plan = Arc<TypedRunnableModel>;

/// Plans kept per model. A detector fed frames of ever-new sizes would otherwise keep one
/// optimised plan (megabytes) per size forever; past this many, the least recently built
/// plan is dropped (and rebuilt if its size comes back).
pub(crate) const MAX_PLANS: usize = 16;

/// An ONNX model with a per-input-shape cache of optimised plans.
pub(crate) struct Net {
    id: &'static str,
    proto: tract_onnx::pb::ModelProto,
    plans: Mutex<Plans>,
}

#[derive(Default)]
struct Plans {
    by_shape: HashMap<[usize; 4], Plan>,
    /// Shapes in the order their plans were built, oldest first.
    order: std::collections::VecDeque<[usize; 4]>,
}

static PLANS_BUILT: AtomicU64 = AtomicU64::new(0);
static PLAN_BUILD_MICROS: AtomicU64 = AtomicU64::new(0);

/// Optimised plans built so far in this process (every model, every input shape) and the
/// time spent building them: the fixed cost a short job pays (`FACECORE_STATS=1 facecore ...`
/// prints it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PlanStats {
    /// Plans built.
    pub built: u64,
    /// Time spent building them, in milliseconds (summed over threads).
    pub build_ms: u64,
}

/// See [`PlanStats`].
pub fn plan_stats() -> PlanStats {
    PlanStats { built: PLANS_BUILT.load(Ordering::Relaxed), build_ms: PLAN_BUILD_MICROS.load(Ordering::Relaxed) / 1000 }
}

/// One output tensor, copied out of the engine.
pub(crate) struct Output {
    pub data: Vec<f32>,
}

fn load_err(id: &str, e: impl std::fmt::Display) -> Error {
    Error::ModelLoad { model: id.to_string(), detail: format!("{e:#}") }
}

/// Refuses a graph (or subgraph) output that no graph input, initializer or node names:
/// tract-onnx 0.23 looks each output up with `outlets_by_name[&*output.name]` when it builds
/// the model (`ParsingContext::parse_graph`), which panics on such a file instead of failing.
/// Found by the model_memory fuzz target (docs/fuzzing.md).
fn outputs_are_defined(graph: &tract_onnx::pb::GraphProto) -> std::result::Result<(), String> {
    let nodes = || graph.node.iter();
    let known: std::collections::HashSet<&str> = graph
        .input
        .iter()
        .map(|i| i.name.as_str())
        .chain(graph.initializer.iter().map(|t| t.name.as_str()))
        .chain(nodes().flat_map(|n| n.input.iter().chain(&n.output)).map(String::as_str).filter(|s| !s.is_empty()))
        .collect();
    if let Some(o) = graph.output.iter().find(|o| !known.contains(o.name.as_str())) {
        return Err(format!("graph {:?}: output {:?} is not an input, an initializer or a node output", graph.name, o.name));
    }
    for attr in nodes().flat_map(|n| &n.attribute) {
        for g in attr.g.iter().chain(&attr.graphs) {
            outputs_are_defined(g)?;
        }
    }
    Ok(())
}

impl Net {
    /// Parses an ONNX file held in memory. Optimisation is deferred to [`Net::plan`].
    pub fn from_bytes(id: &'static str, bytes: &[u8]) -> Result<Self> {
        let onnx = tract_onnx::onnx().with_ignore_value_info(true);
        let proto = onnx.proto_model_for_read(&mut &*bytes).map_err(|e| load_err(id, e))?;
        if let Some(graph) = &proto.graph {
            outputs_are_defined(graph).map_err(|e| load_err(id, e))?;
        }
        Ok(Net { id, proto, plans: Mutex::new(Plans::default()) })
    }

    /// The optimised plan for an NCHW float input of `shape`, built on first use.
    pub fn plan(&self, shape: [usize; 4]) -> Result<Plan> {
        if let Some(p) = self.lock().by_shape.get(&shape) {
            return Ok(p.clone());
        }
        // Build outside the lock: optimisation takes a while and other shapes may be wanted.
        let started = std::time::Instant::now();
        let onnx = tract_onnx::onnx().with_ignore_value_info(true);
        let build = || {
            onnx.model_for_proto_model(&self.proto)
                .and_then(|m| m.with_input_fact(0, f32::fact(shape).into()))
                .and_then(|m| m.into_optimized())
                .and_then(|m| m.into_runnable())
        };
        // tract 0.23 panics on some malformed graphs instead of failing (found by fuzzing,
        // docs/fuzzing.md: pooling attributes shorter than the input's spatial rank index out
        // of bounds in tract-core's padding code). A custom model is untrusted input: its
        // load must fail, not take the host down. Nothing shared is touched while building.
        let plan = match std::panic::catch_unwind(std::panic::AssertUnwindSafe(build)) {
            Ok(built) => built.map_err(|e| load_err(self.id, e))?,
            Err(panic) => {
                let what = panic.downcast_ref::<&str>().copied().or_else(|| panic.downcast_ref::<String>().map(String::as_str));
                return Err(load_err(self.id, format!("the engine failed on this graph: {}", what.unwrap_or("panic"))));
            }
        };
        PLANS_BUILT.fetch_add(1, Ordering::Relaxed);
        PLAN_BUILD_MICROS.fetch_add(started.elapsed().as_micros() as u64, Ordering::Relaxed);
        let mut plans = self.lock();
        if let Some(p) = plans.by_shape.get(&shape) {
            return Ok(p.clone());
        }
        while plans.order.len() >= MAX_PLANS {
            if let Some(old) = plans.order.pop_front() {
                plans.by_shape.remove(&old);
            }
        }
        plans.order.push_back(shape);
        plans.by_shape.insert(shape, plan.clone());
        Ok(plan)
    }

    /// Number of cached plans.
    #[cfg(test)]
    fn cached_plans(&self) -> usize {
        self.lock().by_shape.len()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Plans> {
        // A poisoned cache only means another thread panicked while inserting: the map is
        // still a valid map of finished plans.
        self.plans.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Runs the model on one NCHW float tensor and copies every output out.
    pub fn run(&self, shape: [usize; 4], input: &[f32]) -> Result<Vec<Output>> {
        let plan = self.plan(shape)?;
        let infer = |e: TractError| Error::Inference { model: self.id, source: e.into() };
        let tensor = Tensor::from_shape(&shape, input).map_err(infer)?;
        let outputs = plan.run(tvec!(tensor.into())).map_err(infer)?;
        outputs
            .iter()
            .map(|t| {
                let view = t.try_as_plain_ram().map_err(infer)?;
                let data = view.as_slice::<f32>().map_err(infer)?.to_vec();
                Ok(Output { data })
            })
            .collect()
    }

    /// The model id this net was loaded as.
    pub fn id(&self) -> &'static str {
        self.id
    }
}

/// Time spent in one node of an optimised plan, from [`profile_onnx`].
#[derive(Debug, Clone)]
pub struct NodeTime {
    /// Node name in the optimised graph (derived from the ONNX node names).
    pub name: String,
    /// tract operator, e.g. `Conv`, `OptMatMul`, `MaxPool`.
    pub op: String,
    /// Median time per run, milliseconds.
    pub ms: f64,
}

impl Net {
    /// Per-node times of the optimised plan for `shape`: the median over `runs` runs (after
    /// one warm-up run) of the time spent evaluating each node, through tract's own
    /// evaluation hook (`SimpleState::run_plan_with_eval`, what `tract --profile` uses).
    pub fn profile(&self, shape: [usize; 4], input: &[f32], runs: usize) -> Result<Vec<NodeTime>> {
        let plan = self.plan(shape)?;
        let infer = |e: TractError| Error::Inference { model: self.id, source: e.into() };
        let n = plan.model().nodes.len();
        let mut samples: Vec<Vec<f64>> = vec![Vec::with_capacity(runs); n];
        let mut state = plan.spawn().map_err(infer)?;
        for r in 0..=runs.max(1) {
            let tensor = Tensor::from_shape(&shape, input).map_err(infer)?;
            let mut this_run = vec![0.0f64; n];
            state
                .run_plan_with_eval(tvec!(tensor.into()), |ctx, st, node, inputs| {
                    let t = std::time::Instant::now();
                    let out = tract_onnx::tract_core::plan::eval(ctx, st, node, inputs);
                    this_run[node.id] += t.elapsed().as_secs_f64() * 1e3;
                    out
                })
                .map_err(infer)?;
            if r > 0 {
                for (s, t) in samples.iter_mut().zip(this_run) {
                    s.push(t);
                }
            }
        }
        Ok(plan
            .model()
            .nodes
            .iter()
            .map(|node| {
                let s = &mut samples[node.id];
                s.sort_by(f64::total_cmp);
                NodeTime { name: node.name.clone(), op: node.op().name().to_string(), ms: s.get(s.len() / 2).copied().unwrap_or(0.0) }
            })
            .collect())
    }
}

/// Per-node profile of any ONNX model with one NCHW float input, fixed to `shape`, on
/// deterministic input values in 0..255: the numbers behind docs/tract-upstream.md.
///
/// # Errors
/// [`Error::ModelLoad`] for a file tract cannot load, [`Error::Inference`] if a run fails.
pub fn profile_onnx(onnx: &[u8], shape: [usize; 4], runs: usize) -> Result<Vec<NodeTime>> {
    let net = Net::from_bytes("profiled-model", onnx)?;
    let len = shape.iter().product::<usize>();
    let input: Vec<f32> = (0..len).map(|i| ((i * 7919) % 256) as f32).collect();
    net.profile(shape, &input, runs)
}

/// Median plain-run times (ms) of two ONNX models on the same input, runs interleaved
/// (a, b, a, b, ...) so that machine load hits both alike: how a graph rewrite is judged.
///
/// # Errors
/// As [`profile_onnx`].
pub fn time_onnx_pair(a: &[u8], b: &[u8], shape: [usize; 4], runs: usize) -> Result<(f64, f64)> {
    let (na, nb) = (Net::from_bytes("model-a", a)?, Net::from_bytes("model-b", b)?);
    let len = shape.iter().product::<usize>();
    let input: Vec<f32> = (0..len).map(|i| ((i * 7919) % 256) as f32).collect();
    na.run(shape, &input)?;
    nb.run(shape, &input)?;
    let (mut ta, mut tb) = (Vec::with_capacity(runs), Vec::with_capacity(runs));
    for _ in 0..runs.max(1) {
        for (net, t) in [(&na, &mut ta), (&nb, &mut tb)] {
            let s = std::time::Instant::now();
            net.run(shape, &input)?;
            t.push(s.elapsed().as_secs_f64() * 1e3);
        }
    }
    let med = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    Ok((med(ta), med(tb)))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn the_plan_cache_is_bounded() {
        let net = Net::from_bytes("yunet", &crate::models::bytes(crate::models::ModelFile::Yunet).unwrap()).unwrap();
        for i in 0..MAX_PLANS + 3 {
            let shape = [1, 3, 32, 32 * (i + 1)];
            net.run(shape, &vec![0.0; 3 * 32 * 32 * (i + 1)]).unwrap();
            assert!(net.cached_plans() <= MAX_PLANS);
        }
        assert_eq!(net.cached_plans(), MAX_PLANS);
        // The oldest shapes were dropped and still run (rebuilt on demand).
        assert!(net.run([1, 3, 32, 32], &[0.0; 3 * 32 * 32]).is_ok());
    }
}
