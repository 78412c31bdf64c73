//! veriflop's reproducible benchmark suite.
//!
//! - [`suite`]: the standard suites (quick, full, tiny) as lists of cases;
//! - [`case`]: one case, measured in a child process of the benchmark binary
//!   (so its peak memory is its own), and the calibration workload;
//! - [`run`]: the driver (progress bar, child processes, machine description);
//! - [`results`]: the versioned results format (`veriflop-bench/2`), see
//!   `docs/BENCHMARKS.md` and `bench/schema/results-v2.schema.json`;
//! - [`report`], [`plot`], [`readme`]: Markdown report, SVG plots, README section;
//! - [`check`]: a reproduction against published results, per figure,
//!   normalised by the two machines' calibration;
//! - [`backends`]: the backend axis (CPU now; a GPU backend registers here);
//! - [`extensions`]: figures that come from other crates (on-chain gas,
//!   verifier-service throughput);
//! - [`service`]: verifier-service throughput (native and HTTP);
//! - [`market`]: the market flow through separate processes (jobs/s with 1, 2,
//!   4 provider agents; upload and download MB/s; the service's RSS on upload).

pub mod backends;
pub mod case;
pub mod ceremony;
pub mod check;
pub mod extensions;
pub mod inference;
pub mod machine;
pub mod market;
pub mod plot;
pub mod readme;
pub mod report;
pub mod results;
pub mod run;
pub mod schema;
pub mod service;
pub mod stats;
pub mod suite;

pub use results::{Results, SCHEMA};
