//! Real HTTP requests to a server on a free local port, with a stand-in model.

use base64::Engine;
use serve::{ImageClassifier, ServeOptions};
use std::collections::HashMap;
use std::io::Cursor;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

/// "dark" when the prepared image is mostly black, "bright" otherwise; records how many
/// classifications overlap.
struct Brightness {
    names: Vec<String>,
    running: AtomicUsize,
    most_at_once: AtomicUsize,
    delay: Duration,
}

impl Brightness {
    fn new(delay: Duration) -> Arc<Self> {
        Arc::new(Self {
            names: vec!["dark".into(), "bright".into()],
            running: AtomicUsize::new(0),
            most_at_once: AtomicUsize::new(0),
            delay,
        })
    }
}

impl ImageClassifier for Brightness {
    fn class_names(&self) -> &[String] {
        &self.names
    }
    fn classify(&self, images: &[images::Pixels]) -> Result<Vec<Vec<f32>>, String> {
        let now = self.running.fetch_add(1, Ordering::SeqCst) + 1;
        self.most_at_once.fetch_max(now, Ordering::SeqCst);
        std::thread::sleep(self.delay);
        self.running.fetch_sub(1, Ordering::SeqCst);
        Ok(images
            .iter()
            .map(|p| {
                let mean = p.iter().map(|&v| v as f32).sum::<f32>() / p.len() as f32 / 255.0;
                let bright = mean.clamp(0.05, 0.95);
                vec![1.0 - bright, bright]
            })
            .collect())
    }
}

fn start(model: Arc<Brightness>, options: ServeOptions) -> String {
    let (tx, rx) = std::sync::mpsc::channel();
    let models: HashMap<String, Arc<dyn ImageClassifier>> =
        HashMap::from([("fmnist".to_string(), model as Arc<dyn ImageClassifier>)]);
    std::thread::spawn(move || {
        serve::run("127.0.0.1:0", models, options, |addr| {
            tx.send(addr).unwrap();
        })
        .unwrap();
    });
    let addr = rx.recv_timeout(Duration::from_secs(10)).unwrap();
    format!("http://{addr}")
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into()
}

fn post(base: &str, path: &str, body: &str) -> (u16, serde_json::Value) {
    let mut response = agent()
        .post(format!("{base}{path}"))
        .header("Content-Type", "application/json")
        .send(body)
        .unwrap();
    let status = response.status().as_u16();
    let text = response.body_mut().read_to_string().unwrap();
    let json = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{status}: {e}: {text}"));
    (status, json)
}

/// A white garment on black, 40x40, as PNG, base64.
fn bright_png() -> String {
    let picture = image::GrayImage::from_fn(40, 40, |x, y| {
        image::Luma([if (5..35).contains(&x) && (5..35).contains(&y) {
            250
        } else {
            0
        }])
    });
    let mut out = Cursor::new(Vec::new());
    picture.write_to(&mut out, image::ImageFormat::Png).unwrap();
    base64::engine::general_purpose::STANDARD.encode(out.into_inner())
}

const PREDICT: &str = "/v1beta1/projects/local/locations/local/models/fmnist:predict";

#[test]
fn predict_answers_in_automls_shape() {
    let base = start(Brightness::new(Duration::ZERO), ServeOptions::default());
    let body = serde_json::json!({
        "payload": {"image": {"imageBytes": bright_png()}},
        "params": {"score_threshold": "0.5"}
    });
    // The query string Google's REST transport appends is ignored.
    let (status, json) = post(
        &base,
        &format!("{PREDICT}?$alt=json;enum-encoding=int"),
        &body.to_string(),
    );
    assert_eq!(status, 200, "{json}");
    let payload = json["payload"].as_array().unwrap();
    assert_eq!(payload.len(), 1, "{json}");
    assert_eq!(payload[0]["displayName"], "bright");
    assert_eq!(payload[0]["annotationSpecId"], "1");
    assert!(payload[0]["classification"]["score"].as_f64().unwrap() > 0.5);
    assert!(json["metadata"].is_object());

    // A threshold of 0 lists every class, best first.
    let body = serde_json::json!({
        "payload": {"image": {"imageBytes": bright_png()}},
        "params": {"score_threshold": "0"}
    });
    let (_, json) = post(&base, PREDICT, &body.to_string());
    let names: Vec<_> = json["payload"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["displayName"].clone())
        .collect();
    assert_eq!(names, ["bright", "dark"]);

    let mut health = agent().get(format!("{base}/healthz")).call().unwrap();
    assert_eq!(health.status().as_u16(), 200);
    let health: serde_json::Value =
        serde_json::from_str(&health.body_mut().read_to_string().unwrap()).unwrap();
    assert_eq!(health["models"], serde_json::json!(["fmnist"]));
}

#[test]
fn the_batch_form_answers_each_image() {
    let base = start(Brightness::new(Duration::ZERO), ServeOptions::default());
    let body = serde_json::json!({
        "payloads": [{"image": {"imageBytes": bright_png()}}, {"image": {"imageBytes": bright_png()}}],
        "params": {"score_threshold": 0.5}
    });
    let (status, json) = post(
        &base,
        "/v1beta1/projects/local/locations/local/models/fmnist:batchPredictImages",
        &body.to_string(),
    );
    assert_eq!(status, 200, "{json}");
    let responses = json["responses"].as_array().unwrap();
    assert_eq!(responses.len(), 2);
    for r in responses {
        assert_eq!(r["payload"][0]["displayName"], "bright");
    }
}

#[test]
fn bad_requests_get_a_4xx_with_a_json_error() {
    let base = start(
        Brightness::new(Duration::ZERO),
        ServeOptions {
            body_limit: 64 * 1024,
            max_batch: 2,
            ..ServeOptions::default()
        },
    );
    let not_an_image = base64::engine::general_purpose::STANDARD.encode(b"plain text, no pixels");
    let image =
        |b64: &str| serde_json::json!({"payload": {"image": {"imageBytes": b64}}}).to_string();
    let three = serde_json::json!({"payloads": [{"image": {"imageBytes": bright_png()}}, {"image": {"imageBytes": bright_png()}}, {"image": {"imageBytes": bright_png()}}]}).to_string();
    let huge = image(&"A".repeat(100 * 1024));
    let cases: Vec<(&str, String, u16, &str)> = vec![
        (PREDICT, "this is not json".into(), 400, "not the expected JSON"),
        (PREDICT, "{}".into(), 400, "no payload"),
        (PREDICT, r#"{"payload": {}}"#.into(), 400, "imageBytes"),
        (PREDICT, image("***not base64***"), 400, "not base64"),
        (PREDICT, image(&not_an_image), 400, "not an image"),
        (PREDICT, serde_json::json!({"payload": {"image": {"imageBytes": bright_png()}}, "params": {"score_threshold": "high"}}).to_string(), 400, "score_threshold"),
        (PREDICT, huge, 413, "body"),
        ("/v1beta1/projects/local/locations/local/models/nope:predict", image(&bright_png()), 404, "not served"),
        ("/v1beta1/projects/local/locations/local/models/fmnist:explain", image(&bright_png()), 404, "unknown method"),
        ("/v1beta1/projects/local/locations/local/models/fmnist:batchPredictImages", three, 400, "limit is 2"),
        ("/v2/elsewhere", "{}".into(), 404, "no such route"),
    ];
    for (path, body, want, needle) in cases {
        let (status, json) = post(&base, path, &body);
        assert_eq!(status, want, "{path}: {json}");
        let message = json["error"]["message"].as_str().unwrap_or_default();
        assert!(message.contains(needle), "{path}: {json}");
        assert_eq!(json["error"]["code"], want);
    }
    // Still serving after all that.
    let (status, _) = post(&base, PREDICT, &image(&bright_png()));
    assert_eq!(status, 200);
}

#[test]
fn concurrent_requests_are_bounded_and_all_answered() {
    let model = Brightness::new(Duration::from_millis(150));
    let base = start(
        model.clone(),
        ServeOptions {
            max_concurrent_inferences: 2,
            ..ServeOptions::default()
        },
    );
    let body = serde_json::json!({"payload": {"image": {"imageBytes": bright_png()}}}).to_string();
    let clients: Vec<_> = (0..6)
        .map(|_| {
            let (base, body) = (base.clone(), body.clone());
            std::thread::spawn(move || post(&base, PREDICT, &body).0)
        })
        .collect();
    for client in clients {
        assert_eq!(client.join().unwrap(), 200);
    }
    let most = model.most_at_once.load(Ordering::SeqCst);
    assert!((1..=2).contains(&most), "{most} inferences ran at once");
}
