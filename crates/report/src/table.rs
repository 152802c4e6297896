//! Tables shared by the terminal, `report.md` and the HTML pages: built once as cells, then
//! rendered in each format.

use crate::{ReferenceResults, RunSummary};

#[derive(Debug, Clone, PartialEq)]
pub struct Table {
    pub header: Vec<String>,
    pub rows: Vec<Vec<String>>,
}

pub(crate) fn pct(v: f64) -> String {
    format!("{:.1}%", v * 100.0)
}

/// Escapes text for HTML element content and attribute values.
pub(crate) fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

impl Table {
    pub fn new(header: &[&str]) -> Self {
        Self {
            header: header.iter().map(|h| h.to_string()).collect(),
            rows: Vec::new(),
        }
    }

    /// A Markdown table with padded columns, readable as plain text too.
    pub fn markdown(&self) -> String {
        let cell = |text: &str| text.replace('|', "\\|");
        let columns = self.header.len();
        let widths: Vec<usize> = (0..columns)
            .map(|c| {
                self.rows
                    .iter()
                    .filter_map(|r| r.get(c))
                    .map(|v| cell(v).chars().count())
                    .chain([cell(&self.header[c]).chars().count()])
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        let line = |cells: &[String]| {
            let padded: Vec<String> = (0..columns)
                .map(|c| {
                    let text = cell(cells.get(c).map_or("", String::as_str));
                    let pad = widths[c] - text.chars().count();
                    format!("{text}{}", " ".repeat(pad))
                })
                .collect();
            format!("| {} |", padded.join(" | "))
        };
        let rule = format!(
            "|{}|",
            widths
                .iter()
                .map(|w| "-".repeat(w + 2))
                .collect::<Vec<_>>()
                .join("|")
        );
        let mut out = vec![line(&self.header), rule];
        out.extend(self.rows.iter().map(|r| line(r)));
        out.join("\n")
    }

    /// An HTML `<table>`; every cell escaped.
    pub fn html(&self) -> String {
        self.html_with_links(&|_| None)
    }

    /// As [`Table::html`], the first cell of row `i` a link to `link(i)` where it gives one.
    pub fn html_with_links(&self, link: &dyn Fn(usize) -> Option<String>) -> String {
        let cells = |cells: &[String], tag: &str, href: Option<String>| {
            let inner: String = cells
                .iter()
                .enumerate()
                .map(|(c, text)| match (&href, c) {
                    (Some(href), 0) => format!(
                        "<{tag}><a href=\"{}\">{}</a></{tag}>",
                        escape_html(href),
                        escape_html(text)
                    ),
                    _ => format!("<{tag}>{}</{tag}>", escape_html(text)),
                })
                .collect();
            format!("<tr>{inner}</tr>")
        };
        let body: String = self
            .rows
            .iter()
            .enumerate()
            .map(|(i, r)| cells(r, "td", link(i)) + "\n")
            .collect();
        format!(
            "<table>\n<thead>{}</thead>\n<tbody>\n{body}</tbody>\n</table>",
            cells(&self.header, "th", None)
        )
    }
}

/// AutoML free and paid, then our runs, on the same test-set metrics. AutoML published only
/// the micro average precision, so its macro AP and ROC AUC are blank.
pub fn comparison(reference: &ReferenceResults, runs: &[RunSummary]) -> Table {
    let mut table = Table::new(&[
        "run",
        "budget",
        "time used",
        "cost",
        "avg precision (micro)",
        "avg precision (macro)",
        "ROC AUC (macro OvR)",
        "precision@0.5",
        "recall@0.5",
        "accuracy",
    ]);
    table.rows = reference
        .automl
        .iter()
        .map(|a| {
            vec![
                a.mode.clone(),
                a.budget.clone(),
                a.compute_used.clone(),
                format!("${:.0}", a.cost_usd),
                pct(a.average_precision),
                "-".into(),
                "-".into(),
                pct(a.precision),
                pct(a.recall),
                pct(a.accuracy),
            ]
        })
        .collect();
    table.rows.extend(runs.iter().map(|r| {
        vec![
            r.name.clone(),
            r.budget.clone(),
            r.time_used.clone(),
            "$0 (own machine)".into(),
            pct(r.average_precision_micro),
            pct(r.average_precision_macro),
            pct(r.roc_auc_macro_ovr),
            pct(r.precision_at_0_5),
            pct(r.recall_at_0_5),
            pct(r.accuracy),
        ]
    }));
    table
}

/// [`comparison`] as a Markdown table (what the trainer prints at the end).
pub fn comparison_table(reference: &ReferenceResults, runs: &[RunSummary]) -> String {
    comparison(reference, runs).markdown()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table() -> Table {
        let mut t = Table::new(&["class", "note"]);
        t.rows.push(vec!["T-shirt/top".into(), "a|b".into()]);
        t.rows.push(vec!["<Bag>".into(), "x & y".into()]);
        t
    }

    #[test]
    fn markdown_pads_columns_and_escapes_pipes() {
        let md = table().markdown();
        let lines: Vec<&str> = md.lines().collect();
        assert_eq!(lines[0], "| class       | note  |");
        assert_eq!(lines[1], "|-------------|-------|");
        assert_eq!(lines[2], "| T-shirt/top | a\\|b  |");
    }

    #[test]
    fn html_escapes_every_cell() {
        let html = table().html();
        assert!(html.contains("<th>class</th><th>note</th>"));
        assert!(html.contains("<td>&lt;Bag&gt;</td><td>x &amp; y</td>"));
        assert!(!html.contains("<Bag>"));
    }

    #[test]
    fn comparison_has_the_cost_of_each_mode() {
        let r = ReferenceResults::bundled().unwrap();
        let t = comparison(&r, &[]);
        assert_eq!(t.header[3], "cost");
        assert_eq!(t.rows[0][3], "$0");
        assert_eq!(t.rows[1][3], "$480");
    }
}
