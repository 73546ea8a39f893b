//! Line charts as inline SVG, drawn with plotters' SVG backend: counts on the left axis, shares
//! (0-100 %) on the right. No script and no external file, so the page prints as it shows and
//! works with JavaScript off. Every point also gets a marker, so that a period of one day shows a
//! dot rather than nothing. Only our own labels (dates, series names, numbers) are drawn: no text
//! a customer typed reaches the SVG.

use plotters::prelude::*;
use thiserror::Error;

/// Size the SVG is drawn at; the page scales it to its column.
const WIDTH: u32 = 760;
const HEIGHT: u32 = 300;

/// Colours with at least 4.5:1 contrast on white (WCAG AA for text), so that the legend is
/// readable and the lines tell apart in print.
const PALETTE: [RGBColor; 5] = [
    RGBColor(0x1f, 0x4e, 0x9c),
    RGBColor(0x9c, 0x3d, 0x00),
    RGBColor(0x1e, 0x6b, 0x2f),
    RGBColor(0x6b, 0x2a, 0x8a),
    RGBColor(0x5a, 0x5a, 0x5a),
];

/// Why a chart could not be drawn (the backend refused a drawing step).
#[derive(Debug, Error)]
#[error("the chart could not be drawn: {0}")]
pub struct ChartError(String);

/// Which axis a series is read on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Axis {
    /// Counts, on the left.
    Count,
    /// Shares from 0 to 1, on the right, shown as percentages.
    Share,
}

/// One line: a name for the legend and a value per point (`None` where the share is undefined,
/// such as a deflection rate on a day with no outcome).
#[derive(Debug, Clone)]
pub struct Line {
    pub name: &'static str,
    pub axis: Axis,
    pub values: Vec<Option<f64>>,
}

impl Line {
    pub fn new(name: &'static str, axis: Axis, values: Vec<Option<f64>>) -> Line {
        Line { name, axis, values }
    }
}

/// A chart: the points' labels along the bottom, and its lines.
#[derive(Debug, Clone)]
pub struct LineChart {
    pub labels: Vec<String>,
    pub lines: Vec<Line>,
}

impl LineChart {
    /// The chart as an SVG document.
    pub fn to_svg(&self) -> Result<String, ChartError> {
        let mut svg = String::new();
        self.draw(&mut svg)
            .map_err(|err| ChartError(err.to_string()))?;
        Ok(svg)
    }

    fn draw(&self, svg: &mut String) -> Result<(), Box<dyn std::error::Error + '_>> {
        let points = self.labels.len().max(1);
        let highest = self
            .lines
            .iter()
            .filter(|line| line.axis == Axis::Count)
            .flat_map(|line| line.values.iter().flatten())
            .fold(0.0f64, |max, &v| max.max(v));
        let top = nice_ceiling(highest);
        // One point is drawn in the middle of a unit-wide axis.
        let x_range = if points == 1 {
            -0.5..0.5
        } else {
            0.0..(points - 1) as f64
        };
        let root = SVGBackend::with_string(svg, (WIDTH, HEIGHT)).into_drawing_area();
        root.fill(&WHITE)?;
        let mut chart = ChartBuilder::on(&root)
            .margin(12)
            .x_label_area_size(34)
            .y_label_area_size(48)
            .right_y_label_area_size(48)
            .build_cartesian_2d(x_range.clone(), 0.0..top)?
            .set_secondary_coord(x_range, 0.0..1.0);
        let labels = &self.labels;
        let label_of = |x: &f64| -> String {
            let nearest = x.round();
            if (x - nearest).abs() > 1e-6 || nearest < 0.0 {
                return String::new();
            }
            labels.get(nearest as usize).cloned().unwrap_or_default()
        };
        chart
            .configure_mesh()
            .x_labels(points.min(8))
            .x_label_formatter(&label_of)
            .y_labels(6)
            .y_label_formatter(&|y| format!("{y:.0}"))
            .y_desc("count")
            .label_style(("sans-serif", 13).into_font().color(&BLACK))
            .bold_line_style(RGBColor(0xe4, 0xe7, 0xeb))
            .max_light_lines(0)
            .draw()?;
        if self.lines.iter().any(|line| line.axis == Axis::Share) {
            chart
                .configure_secondary_axes()
                .y_labels(6)
                .y_label_formatter(&|y| format!("{:.0}%", y * 100.0))
                .y_desc("share")
                .label_style(("sans-serif", 13).into_font().color(&BLACK))
                .draw()?;
        }
        for (line, color) in self.lines.iter().zip(PALETTE.iter().cycle()) {
            let values: Vec<(f64, f64)> = line
                .values
                .iter()
                .enumerate()
                .filter_map(|(x, v)| v.map(|v| (x as f64, v)))
                .collect();
            let style = color.stroke_width(2);
            let series = LineSeries::new(values.clone(), style);
            let markers = values
                .into_iter()
                .map(|p| Circle::new(p, 3, color.filled()));
            let legend = move |(x, y): (i32, i32)| {
                PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(3))
            };
            let name = match line.axis {
                Axis::Count => line.name.to_string(),
                Axis::Share => format!("{} (right axis)", line.name),
            };
            match line.axis {
                Axis::Count => {
                    chart.draw_series(markers)?;
                    chart.draw_series(series)?.label(name).legend(legend);
                }
                Axis::Share => {
                    chart.draw_secondary_series(markers)?;
                    chart
                        .draw_secondary_series(series)?
                        .label(name)
                        .legend(legend);
                }
            }
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperLeft)
            .label_font(("sans-serif", 13).into_font().color(&BLACK))
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .draw()?;
        root.present()?;
        Ok(())
    }
}

/// A round number at or above `value` for the top of the count axis (at least 5, so that an
/// empty chart still has an axis).
fn nice_ceiling(value: f64) -> f64 {
    if value <= 5.0 {
        return 5.0;
    }
    let magnitude = 10f64.powf(value.log10().floor());
    [1.0, 2.0, 2.5, 5.0, 10.0]
        .iter()
        .map(|step| step * magnitude)
        .find(|&top| top >= value)
        .unwrap_or(10.0 * magnitude)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chart(points: usize) -> LineChart {
        LineChart {
            labels: (0..points).map(|d| format!("Dec {}", d + 1)).collect(),
            lines: vec![
                Line {
                    name: "Drafts",
                    axis: Axis::Count,
                    values: (0..points).map(|d| Some(d as f64 * 3.0)).collect(),
                },
                Line {
                    name: "Deflection rate",
                    axis: Axis::Share,
                    values: (0..points).map(|d| (d % 2 == 0).then_some(0.5)).collect(),
                },
            ],
        }
    }

    #[test]
    fn a_chart_with_no_data_one_day_or_many_is_an_svg_with_its_legend() {
        for points in [0, 1, 30] {
            let svg = chart(points).to_svg().unwrap();
            assert!(svg.starts_with("<svg"), "{points}: {svg:.80}");
            assert!(svg.contains("Drafts"), "{points}: legend");
            assert!(svg.contains("Deflection rate (right axis)"), "{points}");
            let markers = svg.matches("<circle").count();
            let expected = points + points.div_ceil(2);
            assert_eq!(markers, expected, "{points}: a marker per defined value");
        }
        let one = chart(1).to_svg().unwrap();
        assert!(one.contains("Dec 1"), "the one day is labelled");
    }

    #[test]
    fn the_count_axis_ends_on_a_round_number() {
        assert_eq!(nice_ceiling(0.0), 5.0);
        assert_eq!(nice_ceiling(7.0), 10.0);
        assert_eq!(nice_ceiling(12.0), 20.0);
        assert_eq!(nice_ceiling(240.0), 250.0);
        assert_eq!(nice_ceiling(1000.0), 1000.0);
    }
}
