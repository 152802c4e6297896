//! A small load generator for `trainer serve`: N client threads send the same predict
//! request back to back for a fixed time; prints requests/s and latency percentiles per
//! concurrency level.
//!
//!     cargo run -p serve --example loadgen -- http://127.0.0.1:8080 MODEL IMAGE [SECONDS] [BATCH]
//!
//! BATCH > 1 sends the batch form (`:batchPredictImages`) with that many copies of IMAGE.

use base64::Engine;
use std::time::{Duration, Instant};

fn main() -> Result<(), String> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [base, model, image, rest @ ..] = args.as_slice() else {
        return Err("usage: loadgen URL MODEL IMAGE [SECONDS] [BATCH]".into());
    };
    let seconds: f64 = rest
        .first()
        .map_or(Ok(10.0), |s| s.parse())
        .map_err(|e| format!("SECONDS: {e}"))?;
    let batch: usize = rest
        .get(1)
        .map_or(Ok(1), |s| s.parse())
        .map_err(|e| format!("BATCH: {e}"))?;
    let bytes = std::fs::read(image).map_err(|e| format!("{image}: {e}"))?;
    let encoded = base64::engine::general_purpose::STANDARD.encode(bytes);
    let one = serde_json::json!({"image": {"imageBytes": encoded}});
    let (url, body) = if batch > 1 {
        (
            format!(
                "{base}/v1beta1/projects/local/locations/local/models/{model}:batchPredictImages"
            ),
            serde_json::json!({"payloads": vec![one; batch]}).to_string(),
        )
    } else {
        (
            format!("{base}/v1beta1/projects/local/locations/local/models/{model}:predict"),
            serde_json::json!({"payload": one}).to_string(),
        )
    };
    println!("| concurrency | requests/s | images/s | p50 ms | p95 ms | p99 ms | errors |");
    println!("|---|---|---|---|---|---|---|");
    for concurrency in [1usize, 4, 16] {
        let deadline = Instant::now() + Duration::from_secs_f64(seconds);
        let start = Instant::now();
        let workers: Vec<_> = (0..concurrency)
            .map(|_| {
                let (url, body) = (url.clone(), body.clone());
                std::thread::spawn(move || {
                    let agent: ureq::Agent = ureq::Agent::config_builder()
                        .http_status_as_error(false)
                        .build()
                        .into();
                    let (mut latencies, mut errors) = (Vec::new(), 0usize);
                    while Instant::now() < deadline {
                        let t = Instant::now();
                        match agent
                            .post(&url)
                            .header("Content-Type", "application/json")
                            .send(&body)
                        {
                            Ok(mut r) if r.status() == 200 => {
                                let _ = r.body_mut().read_to_string();
                                latencies.push(t.elapsed().as_secs_f64() * 1e3);
                            }
                            _ => errors += 1,
                        }
                    }
                    (latencies, errors)
                })
            })
            .collect();
        let (mut latencies, mut errors) = (Vec::new(), 0);
        for w in workers {
            let (l, e) = w.join().map_err(|_| "a client thread panicked")?;
            latencies.extend(l);
            errors += e;
        }
        let elapsed = start.elapsed().as_secs_f64();
        latencies.sort_by(f64::total_cmp);
        let pct = |q: f64| {
            latencies
                .get(((latencies.len() as f64 * q) as usize).min(latencies.len().saturating_sub(1)))
                .copied()
                .unwrap_or(f64::NAN)
        };
        let rps = latencies.len() as f64 / elapsed;
        println!(
            "| {concurrency} | {rps:.1} | {:.0} | {:.1} | {:.1} | {:.1} | {errors} |",
            rps * batch as f64,
            pct(0.5),
            pct(0.95),
            pct(0.99)
        );
    }
    Ok(())
}
