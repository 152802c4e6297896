//! Self-contained HTML pages: one per run (`reports/NAME/index.html`) and the list of runs
//! (`reports/index.html`). Styles are inline and charts are referenced relatively, so the
//! folder opens offline, from disk, in any browser.

use crate::run_report::{ReportChart, SavedRun};
use crate::table::{Table, escape_html, pct};
use crate::{ReferenceResults, comparison};
use std::fmt::Write as _;

const STYLE: &str = "body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;max-width:1100px;\
margin:2rem auto;padding:0 1rem;color:#222;line-height:1.45}\
table{border-collapse:collapse;margin:1rem 0;font-size:.9rem}\
th,td{border:1px solid #ccc;padding:.3rem .6rem;text-align:right}\
th:first-child,td:first-child{text-align:left}th{background:#f3f3f3}\
figure{margin:2rem 0}figure img{max-width:100%;height:auto;border:1px solid #eee}\
figcaption{color:#555;font-size:.9rem}pre{background:#f6f6f6;padding:1rem;overflow:auto;font-size:.8rem}\
.note{color:#555;font-size:.9rem}";

fn page(title: &str, body: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n{body}</body>\n</html>\n",
        escape_html(title)
    )
}

fn source_note(reference: &ReferenceResults) -> String {
    format!(
        "<p class=\"note\">AutoML's rows: {}, <a href=\"{}\">\u{201c}{}\u{201d}</a> ({}, {}). {}</p>\n",
        escape_html(&reference.source.author),
        escape_html(&reference.source.url),
        escape_html(&reference.source.title),
        escape_html(&reference.source.publisher),
        escape_html(&reference.source.date),
        escape_html(&reference.metric_notes)
    )
}

/// `reports/NAME/index.html`. `charts` are those present in the run's folder; `files` the
/// run's other files to link (names relative to the folder).
pub fn render_run_html(
    reference: &ReferenceResults,
    run: &SavedRun,
    charts: &[ReportChart],
    files: &[&str],
) -> String {
    let m = &run.metrics;
    let mut body = String::new();
    let _ = writeln!(body, "<p><a href=\"../index.html\">All runs</a></p>");
    let _ = writeln!(
        body,
        "<h1>Run <code>{}</code></h1>",
        escape_html(&m.run_name)
    );
    let _ = writeln!(body, "<p>{}</p>", escape_html(&run.headline()));
    let search = run.search_explanation();
    if !search.is_empty() {
        let items: Vec<String> = search
            .iter()
            .map(|s| format!("<li>{}</li>", escape_html(s)))
            .collect();
        let _ = writeln!(
            body,
            "<h2>Trainings: the chosen model and why</h2>\n<ul>\n{}\n</ul>",
            items.join("\n")
        );
    }
    let _ = writeln!(body, "<h2>Compared with AutoML Vision</h2>");
    let _ = writeln!(body, "{}", comparison(reference, &[run.summary()]).html());
    body.push_str(&source_note(reference));
    for chart in charts {
        let _ = writeln!(
            body,
            "<figure id=\"{stem}\">\n<h2>{title}</h2>\n<img src=\"{stem}.svg\" alt=\"{title}\">\n\
             <figcaption>{caption} <a href=\"{stem}.png\">PNG</a></figcaption>\n</figure>",
            stem = escape_html(chart.stem),
            title = escape_html(chart.title),
            caption = escape_html(chart.caption),
        );
    }
    let _ = writeln!(body, "<h2>Per class</h2>\n{}", run.per_class_table().html());
    let _ = writeln!(
        body,
        "<h2>Confusion matrix</h2>\n<p>Rows: true class; columns: predicted class.</p>\n{}",
        run.confusion_table().html()
    );
    let _ = writeln!(
        body,
        "<h2>Configuration (<code>model.json</code>)</h2>\n<pre>{}</pre>",
        escape_html(&run.config_json())
    );
    if !files.is_empty() {
        let links: Vec<String> = files
            .iter()
            .map(|f| format!("<a href=\"{0}\">{0}</a>", escape_html(f)))
            .collect();
        let _ = writeln!(body, "<p>Files: {}</p>", links.join(" · "));
    }
    page(
        &format!("Run {}: Fashion-MNIST vs AutoML Vision", m.run_name),
        &body,
    )
}

/// `reports/index.html`: every run with its headline numbers and a link to its page, the
/// cross-run charts (`runs.svg` and `comparison.svg`, when `charts`) and the published
/// results.
pub fn render_index_html(
    reference: &ReferenceResults,
    runs: &[SavedRun],
    charts: bool,
    unreadable: &[(String, String)],
) -> String {
    let mut body = String::new();
    let _ = writeln!(
        body,
        "<h1>Fashion-MNIST runs compared with Google AutoML Vision</h1>\n<p>Every run under \
         this folder, evaluated once on the official test set (10,000 images), beside \
         AutoML Vision's free and paid results from the 2018 benchmark.</p>"
    );
    let mut table = Table::new(&[
        "run",
        "backend",
        "machine",
        "budget",
        "time used",
        "stop",
        "accuracy",
        "avg precision (micro)",
        "avg precision (macro)",
        "ROC AUC (macro OvR)",
        "precision@0.5",
        "recall@0.5",
    ]);
    for run in runs {
        let s = run.summary();
        let m = &run.metrics;
        table.rows.push(vec![
            m.run_name.clone(),
            m.backend.clone(),
            run.trained_on().unwrap_or_else(|| "-".into()),
            s.budget,
            s.time_used,
            m.stop_reason.replace('_', " "),
            pct(s.accuracy),
            pct(s.average_precision_micro),
            pct(s.average_precision_macro),
            pct(s.roc_auc_macro_ovr),
            pct(s.precision_at_0_5),
            pct(s.recall_at_0_5),
        ]);
    }
    let html = table.html_with_links(&|i| {
        runs.get(i)
            .map(|run| format!("{}/index.html", run.metrics.run_name))
    });
    let _ = writeln!(body, "<h2>Runs</h2>");
    if runs.is_empty() {
        let _ = writeln!(
            body,
            "<p>No run yet: <code>cargo run -p trainer -- --budget 5m</code> makes one.</p>"
        );
    } else {
        let _ = writeln!(body, "{html}");
    }
    for (name, reason) in unreadable {
        let _ = writeln!(
            body,
            "<p class=\"note\">Run <code>{}</code> is not listed: {}</p>",
            escape_html(name),
            escape_html(reason)
        );
    }
    let _ = writeln!(
        body,
        "<h2>AutoML Vision</h2>\n{}",
        comparison(reference, &[]).html()
    );
    body.push_str(&source_note(reference));
    if charts {
        let _ = writeln!(
            body,
            "<figure id=\"runs\">\n<img src=\"runs.svg\" alt=\"Test accuracy against training \
             time, every run\">\n<figcaption>Test accuracy against the training time used, \
             every run beside AutoML and published models. <a href=\"runs.png\">PNG</a>\
             </figcaption>\n</figure>\n<figure id=\"comparison\">\n<img src=\"comparison.svg\" \
             alt=\"Every run compared with AutoML Vision\">\n<figcaption>Every run beside AutoML \
             free and paid on the metrics AutoML reports. <a href=\"comparison.png\">PNG</a>\
             </figcaption>\n</figure>"
        );
    }
    let mut anchors = Table::new(&["published model", "test accuracy", "source"]);
    anchors.rows = reference
        .anchors
        .iter()
        .map(|a| vec![a.model.clone(), pct(a.accuracy), a.source.clone()])
        .collect();
    let _ = writeln!(
        body,
        "<h2>Published results on Fashion-MNIST</h2>\n{}",
        anchors.html()
    );
    page("Fashion-MNIST runs vs AutoML Vision", &body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::run_report::{RUN_CHARTS, RunMetrics};

    fn run(name: &str) -> SavedRun {
        let labels = [0, 1, 1, 0];
        let probs = vec![
            vec![0.9, 0.1],
            vec![0.2, 0.8],
            vec![0.6, 0.4],
            vec![0.7, 0.3],
        ];
        SavedRun {
            metrics: RunMetrics {
                run_name: name.into(),
                class_names: vec!["T-shirt/top".into(), "Bag <b>".into()],
                budget: "1h".into(),
                budget_seconds: 3600.0,
                training_seconds: 3590.0,
                stop_reason: "budget_reached".into(),
                backend: "flex".into(),
                metrics: metrics::evaluate(&labels, &probs, 2).unwrap(),
            },
            model_card: serde_json::json!({"note": "<script>"}),
            history: vec![],
        }
    }

    #[test]
    fn run_page_has_every_chart_and_the_numbers_escaped() {
        let html = render_run_html(
            &ReferenceResults::bundled().unwrap(),
            &run("demo"),
            &RUN_CHARTS,
            &["metrics.json", "report.md"],
        );
        assert!(html.starts_with("<!DOCTYPE html>"));
        for chart in RUN_CHARTS {
            assert!(html.contains(&format!("<img src=\"{}.svg\"", chart.stem)));
            assert!(html.contains(&format!("<a href=\"{}.png\">", chart.stem)));
        }
        assert!(html.contains("<td>75.0%</td>"), "accuracy 3/4");
        assert!(html.contains("Bag &lt;b&gt;") && !html.contains("<b>"));
        assert!(html.contains("&lt;script&gt;") && !html.contains("<script>"));
        assert!(html.contains("<a href=\"metrics.json\">metrics.json</a>"));
        assert!(html.contains("<a href=\"../index.html\">"));
    }

    #[test]
    fn index_links_each_run_and_names_unreadable_ones() {
        let mut recorded = run("b-run");
        recorded.model_card["machine"] = serde_json::json!({
            "cpu": "Intel(R) Xeon(R) <Gold>",
            "logical_cores": 2,
            "vector_extensions": ["AVX-512F", "AVX2", "FMA"]
        });
        let html = render_index_html(
            &ReferenceResults::bundled().unwrap(),
            &[run("a-run"), recorded],
            true,
            &[("broken".into(), "metrics.json is corrupt".into())],
        );
        assert!(
            html.contains(
                "<td>flex</td><td>-</td><td>1h</td>"
            ) && html.contains(
                "<td>flex</td><td>Intel(R) Xeon(R) &lt;Gold&gt;, 2 logical cores, AVX-512F + AVX2 + FMA</td><td>1h</td>"
            ),
            "the machine column: {html}"
        );
        assert!(html.contains("<a href=\"a-run/index.html\">a-run</a>"));
        assert!(html.contains("<a href=\"b-run/index.html\">b-run</a>"));
        assert!(html.contains("<img src=\"runs.svg\""));
        assert!(html.contains("<img src=\"comparison.svg\""));
        assert!(html.contains("broken") && html.contains("metrics.json is corrupt"));
        assert!(html.contains("Human"));
        let empty = render_index_html(&ReferenceResults::bundled().unwrap(), &[], false, &[]);
        assert!(empty.contains("No run yet") && !empty.contains("runs.svg"));
    }
}
