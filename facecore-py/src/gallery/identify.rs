//! `Pipeline.identify` against a gallery: the pipeline's own identify (with the cascade) on an
//! in-memory gallery, the full embedding and the store's identify on a shared one.

use facecore::{FacePipeline, Identified, Image, OperatingPoint, Stage};
use pyo3::prelude::*;

use super::{Backend, PyGallery, read, remote};
use crate::errors::to_py;

impl PyGallery {
    /// Detects every face of `img` and names it at `op`, in detection order. The arguments
    /// are converted already; everything here runs with the GIL released, and the gallery
    /// lock (taken by [`read`]) is held only while the recognition networks run, not during
    /// detection.
    ///
    /// In memory: [`FacePipeline::identify_faces`], the cascade for `accurate`. In a shared
    /// store: the full embedding of every face and [`facecore::GalleryStore::identify`] at the
    /// operating point's threshold (stage "full"). The cascade's first stage scores the probe
    /// against one network's part of each template, which the store's search does not offer.
    pub(crate) fn identify_image(
        &self,
        py: Python<'_>,
        pipeline: &FacePipeline,
        img: &Image,
        op: OperatingPoint,
    ) -> PyResult<Vec<Identified>> {
        let threshold = op.threshold(pipeline.recognizer().space()).map_err(to_py)?;
        let faces = py.detach(|| pipeline.detector().detect(img)).map_err(to_py)?;
        match &self.backend {
            Backend::Memory(g) => read(py, g, |g| pipeline.identify_faces(img, &faces, g, op)).map_err(to_py),
            Backend::Store(s) => {
                let analyzed = py.detach(|| pipeline.embed_faces(img, faces)).map_err(to_py)?;
                remote(py, s, |st| {
                    analyzed
                        .into_iter()
                        .map(|f| {
                            let identity = st.identify(&f.embedding, threshold)?;
                            Ok(Identified {
                                face: f.face,
                                identity,
                                stage: Stage::Full,
                                threshold,
                                quality: f.quality,
                                liveness: f.liveness,
                            })
                        })
                        .collect()
                })
            }
        }
    }
}
