//! SVG plots (plotters, SVG backend only): log-log against n, one line per
//! construction (and backend) for int8 jobs (the other element types are in the
//! report's tables); the prove-time and constraint plots carry O(n²) and O(n³)
//! reference slopes through the largest committed point.

use std::path::{Path, PathBuf};

use anyhow::anyhow;
use plotters::prelude::*;

use crate::report::{fmt_time, series};
use crate::results::{CaseResult, Results};

/// (file name, caption) of every plot a run writes under `plots/`.
pub const PLOTS: [(&str, &str); 3] = [
    ("prove_time.svg", "Prove time vs n, int8 (log-log), with O(n²) and O(n³) reference slopes"),
    ("constraints.svg", "R1CS constraints vs n, int8 (log-log)"),
    ("setup_time.svg", "Key generation time vs n, int8 (log-log)"),
];

type Metric = fn(&CaseResult) -> f64;

/// (value of a case, y-axis label, y tick formatter, draw the n² / n³ reference slopes)
type PlotSpec = (Metric, &'static str, fn(f64) -> String, bool);

fn fmt_count(y: f64) -> String {
    if y >= 1e6 {
        format!("{:.1}M", y / 1e6)
    } else if y >= 1e3 {
        format!("{:.0}k", y / 1e3)
    } else {
        format!("{y:.0}")
    }
}

/// Writes the plots into `dir/plots/` (none when the run has no case).
pub fn write_plots(r: &Results, dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    if r.cases.is_empty() {
        return Ok(Vec::new());
    }
    let plots = dir.join("plots");
    std::fs::create_dir_all(&plots)?;
    let specs: [PlotSpec; 3] = [
        (|c| c.timings.prove.median, "prove time (median)", fmt_time, true),
        (|c| c.exact.constraints as f64, "constraints", fmt_count, true),
        (|c| c.setup_s, "key generation time", fmt_time, false),
    ];
    let mut out = Vec::new();
    for ((file, caption), (metric, ylabel, yfmt, refs)) in PLOTS.iter().zip(specs) {
        let path = plots.join(file);
        draw(r, &path, caption, ylabel, metric, yfmt, refs).map_err(|e| anyhow!("{}: {e}", path.display()))?;
        out.push(path);
    }
    Ok(out)
}

fn log_points(lo: f64, hi: f64, count: usize) -> impl Iterator<Item = f64> {
    let (a, b) = (lo.ln(), hi.ln());
    (0..count).map(move |i| (a + (b - a) * i as f64 / (count - 1) as f64).exp())
}

fn draw(
    r: &Results,
    path: &Path,
    caption: &str,
    ylabel: &str,
    metric: Metric,
    yfmt: fn(f64) -> String,
    reference_slopes: bool,
) -> Result<(), Box<dyn std::error::Error>> {
    // One series per construction and backend, int8 only (all series if the run has no int8 case).
    let mut groups = series(r);
    if groups.keys().any(|(_, d, _)| d == "int8") {
        groups.retain(|(_, d, _), _| d == "int8");
    }
    let all: Vec<(f64, f64)> = groups.values().flatten().map(|c| (c.spec.n as f64, metric(c).max(1e-9))).collect();
    let (xmin, xmax) = all.iter().fold((f64::MAX, f64::MIN), |(lo, hi), p| (lo.min(p.0), hi.max(p.0)));
    let (ymin, ymax) = all.iter().fold((f64::MAX, f64::MIN), |(lo, hi), p| (lo.min(p.1), hi.max(p.1)));
    let (xmin, xmax) = (xmin / 1.3, xmax * 1.3);
    let (ymin, ymax) = (ymin / 2.0, ymax * 2.0);

    let root = SVGBackend::new(path, (960, 620)).into_drawing_area();
    root.fill(&WHITE)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(caption, ("sans-serif", 30))
        .margin(18)
        .x_label_area_size(60)
        .y_label_area_size(100)
        .build_cartesian_2d((xmin..xmax).log_scale(), (ymin..ymax).log_scale())?;
    chart
        .configure_mesh()
        .x_desc("n (job n×n×n)")
        .label_style(("sans-serif", 18))
        .axis_desc_style(("sans-serif", 20))
        .y_desc(ylabel)
        .x_label_formatter(&|x| format!("{x:.0}"))
        .y_label_formatter(&|y| yfmt(*y))
        .light_line_style(WHITE.mix(0.0))
        .draw()?;

    let colors = [
        RGBColor(31, 119, 180),
        RGBColor(214, 39, 40),
        RGBColor(44, 160, 44),
        RGBColor(148, 103, 189),
        RGBColor(255, 127, 14),
        RGBColor(140, 86, 75),
        RGBColor(23, 190, 207),
        RGBColor(127, 127, 127),
    ];
    for (i, ((k, d, b), cases)) in groups.iter().enumerate() {
        let color = colors[i % colors.len()];
        let pts: Vec<(f64, f64)> = cases.iter().map(|c| (c.spec.n as f64, metric(c).max(1e-9))).collect();
        chart
            .draw_series(LineSeries::new(pts.clone(), color.stroke_width(2)))?
            .label(format!("{k} {d} ({b})"))
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 22, y)], color.stroke_width(2)));
        chart.draw_series(pts.iter().map(|p| Circle::new(*p, 4, color.filled())))?;
    }

    if reference_slopes {
        // Anchor: the largest-n point of the first committed series (else of any series).
        let anchor = groups
            .iter()
            .find(|((k, _, _), _)| k == "committed")
            .or_else(|| groups.iter().next())
            .and_then(|(_, cases)| cases.last())
            .map(|c| (c.spec.n as f64, metric(c).max(1e-9)));
        if let Some((n0, y0)) = anchor {
            for (k, label, color) in
                [(2.0, "O(n²) reference", BLACK), (3.0, "O(n³) reference", RGBColor(120, 120, 120))]
            {
                let lo = xmin.max(n0 * (ymin / y0).powf(1.0 / k));
                let hi = xmax.min(n0 * (ymax / y0).powf(1.0 / k));
                if lo >= hi {
                    continue;
                }
                let line: Vec<(f64, f64)> = log_points(lo, hi, 60).map(|x| (x, y0 * (x / n0).powf(k))).collect();
                chart
                    .draw_series(DashedLineSeries::new(line, 8, 6, color.stroke_width(1)))?
                    .label(label)
                    .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 22, y)], color.stroke_width(1)));
            }
        }
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .label_font(("sans-serif", 18))
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()?;
    root.present()?;
    Ok(())
}
