//! Shared by every bench file: criterion settings for the project's shared, noisy 2-core
//! machines: few samples, short warm-up and measurement, no plots.

use criterion::Criterion;
use std::time::Duration;

pub fn config() -> Criterion {
    Criterion::default()
        .without_plots()
        .sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .configure_from_args()
}
