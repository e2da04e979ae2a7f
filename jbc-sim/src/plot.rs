//! The sweep's table and plot: stale rate and propagation against block time.

use plotters::prelude::*;

use crate::report::Report;

/// The sweep as a Markdown table.
pub fn table(reports: &[Report]) -> String {
    let mut out = String::from(
        "| T (s) | stale rate | model 1-exp(-D/T) | D (ms) | 50% hash (ms) | 90% hash (ms) | 90% nodes (ms) | 100% nodes (ms) | deepest reorg |\n|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    let ms =
        |s: Option<crate::report::Spread>| s.map_or("-".into(), |s| format!("{:.0}", s.median_ms));
    for r in reports {
        out += &format!(
            "| {} | {:.4} | {:.4} | {:.0} | {} | {} | {} | {} | {} |\n",
            r.config.block_ms as f64 / 1000.0,
            r.stale_rate,
            r.model_stale_rate,
            r.mean_delay_to_hash_power_ms,
            ms(r.propagation.hash_50),
            ms(r.propagation.hash_90),
            ms(r.propagation.nodes_90),
            ms(r.propagation.nodes_100),
            r.reorg_depths.keys().last().copied().unwrap_or(0),
        );
    }
    out
}

/// The sweep as an SVG: stale rate (simulated and the model) on top,
/// median propagation to 50 % and 90 % of the hash power below, both
/// against the block time on a log scale.
pub fn svg(reports: &[Report]) -> Result<String, String> {
    let mut out = String::new();
    {
        let root = SVGBackend::with_string(&mut out, (800, 700)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| e.to_string())?;
        let (top, bottom) = root.split_vertically(350);
        let xs: Vec<f64> = reports
            .iter()
            .map(|r| r.config.block_ms as f64 / 1000.0)
            .collect();
        let x_min = xs.iter().copied().fold(f64::INFINITY, f64::min).max(1e-3) / 1.5;
        let x_max = xs.iter().copied().fold(0.0, f64::max).max(x_min * 2.0) * 1.5;
        let nodes = reports.first().map_or(0, |r| r.config.nodes);

        let stale: Vec<(f64, f64)> = reports
            .iter()
            .map(|r| (r.config.block_ms as f64 / 1000.0, 100.0 * r.stale_rate))
            .collect();
        let model: Vec<(f64, f64)> = reports
            .iter()
            .map(|r| {
                (
                    r.config.block_ms as f64 / 1000.0,
                    100.0 * r.model_stale_rate,
                )
            })
            .collect();
        let y_max = stale
            .iter()
            .chain(&model)
            .map(|p| p.1)
            .fold(0.0, f64::max)
            .max(0.1)
            * 1.1;
        let mut chart = ChartBuilder::on(&top)
            .caption(
                format!("jbc-sim: stale rate vs block time ({nodes} nodes)"),
                ("sans-serif", 20),
            )
            .margin(10)
            .x_label_area_size(40)
            .y_label_area_size(60)
            .build_cartesian_2d((x_min..x_max).log_scale(), 0.0..y_max)
            .map_err(|e| e.to_string())?;
        chart
            .configure_mesh()
            .x_desc("block time T (s)")
            .y_desc("stale rate (%)")
            .draw()
            .map_err(|e| e.to_string())?;
        chart
            .draw_series(LineSeries::new(stale.clone(), RED.stroke_width(2)))
            .map_err(|e| e.to_string())?
            .label("simulated")
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], RED));
        chart
            .draw_series(stale.iter().map(|p| Circle::new(*p, 3, RED.filled())))
            .map_err(|e| e.to_string())?;
        chart
            .draw_series(LineSeries::new(model, BLUE))
            .map_err(|e| e.to_string())?
            .label("model 1-exp(-D/T)")
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], BLUE));
        chart
            .configure_series_labels()
            .border_style(BLACK)
            .background_style(WHITE)
            .draw()
            .map_err(|e| e.to_string())?;

        let series = |pick: fn(&Report) -> Option<f64>| -> Vec<(f64, f64)> {
            reports
                .iter()
                .filter_map(|r| pick(r).map(|v| (r.config.block_ms as f64 / 1000.0, v)))
                .collect()
        };
        let h50 = series(|r| r.propagation.hash_50.map(|s| s.median_ms));
        let h90 = series(|r| r.propagation.hash_90.map(|s| s.median_ms));
        let p_max = h50
            .iter()
            .chain(&h90)
            .map(|p| p.1)
            .fold(0.0, f64::max)
            .max(1.0)
            * 1.1;
        let mut chart = ChartBuilder::on(&bottom)
            .caption("median propagation of a block", ("sans-serif", 20))
            .margin(10)
            .x_label_area_size(40)
            .y_label_area_size(60)
            .build_cartesian_2d((x_min..x_max).log_scale(), 0.0..p_max)
            .map_err(|e| e.to_string())?;
        chart
            .configure_mesh()
            .x_desc("block time T (s)")
            .y_desc("ms")
            .draw()
            .map_err(|e| e.to_string())?;
        for (points, color, label) in [
            (h50, GREEN, "to 50% of hash power"),
            (h90, MAGENTA, "to 90% of hash power"),
        ] {
            chart
                .draw_series(LineSeries::new(points, color.stroke_width(2)))
                .map_err(|e| e.to_string())?
                .label(label)
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color));
        }
        chart
            .configure_series_labels()
            .border_style(BLACK)
            .background_style(WHITE)
            .draw()
            .map_err(|e| e.to_string())?;
        root.present().map_err(|e| e.to_string())?;
    }
    Ok(out)
}
