//! Inputs the fuzz targets (fuzz/, docs/fuzzing.md) found to crash facecore, kept so that the
//! fixed behaviour stays fixed under plain `cargo test`. Each input also lives in
//! fuzz/regressions/<target>/, which scripts/fuzz.sh runs through its target first.
#![allow(clippy::unwrap_used, missing_docs)]

/// model_memory: an fcmp pack whose block tensor announces 2^62 elements. `numel * 4`
/// overflowed in the size check of `models::pack::block_tensor` (a panic with overflow checks,
/// as in debug builds; a wrapped, passing check without). It must be a plain error.
#[test]
fn pack_block_tensor_with_huge_element_count_is_an_error() {
    let bytes = include_bytes!("../../fuzz/regressions/model_memory/pack-numel-times-4-overflow");
    let err = facecore::models::pack::decode_fcmp("fuzz", bytes).unwrap_err();
    assert!(err.to_string().contains("bad tensor header"), "{err}");
}

/// model_memory: a tiny detector graph whose outputs were mutated so that one names a tensor
/// no node produces. tract-onnx 0.23 indexes its name map with each graph output and panicked
/// (`outlets_by_name[&*output.name]`, tract-onnx src/model.rs); `model::Net::from_bytes` now
/// refuses such graphs first. Loading must be a plain `ModelLoad` error.
#[test]
fn onnx_graph_output_that_nothing_produces_is_a_load_error() {
    let bytes = include_bytes!("../../fuzz/regressions/model_memory/onnx-undefined-graph-output");
    let err = facecore::Detector::custom(bytes, facecore::DetectorConfig::default()).unwrap_err();
    assert!(matches!(err, facecore::Error::ModelLoad { .. }), "{err}");
    assert!(err.to_string().contains("is not an input, an initializer or a node output"), "{err}");
    let err = facecore::Embedder::custom(facecore::EmbedModel::Sface, "fuzz-space", bytes).unwrap_err();
    assert!(matches!(err, facecore::Error::ModelLoad { .. }), "{err}");
}

/// model_memory: the tiny detector graph with one bit flipped so that an AveragePool's
/// `strides` has one value for a 2-D input. tract-core 0.23 indexes kernel shape, dilations
/// and strides by the input's spatial rank (`PaddingSpec::compute`, src/ops/cnn/padding.rs)
/// and panicked while optimising; `model::Net::plan` now contains the engine's panics. A
/// plain `ModelLoad` error.
#[test]
fn pooling_strides_shorter_than_the_input_rank_is_a_load_error() {
    let bytes = include_bytes!("../../fuzz/regressions/model_memory/onnx-pool-strides-shorter-than-input");
    let err = facecore::Detector::custom(bytes, facecore::DetectorConfig::default()).unwrap_err();
    assert!(matches!(err, facecore::Error::ModelLoad { .. }), "{err}");
}
