//! Using a trained model like AutoML's: `predict` on files, `serve` over HTTP, and
//! `export-automl`. One small model, trained once on a synthetic dataset, serves all of them.

mod common;

use common::*;
use std::io::{BufRead, BufReader, Cursor};
use std::path::Path;
use std::process::Stdio;

/// The synthetic dataset's class k is an image of brightness 25k: a picture of brightness
/// 25*3 must come out as class 3 (a dark one: brighter ones read as a light background).
fn synthetic_picture(dir: &Path, name: &str, format: image::ImageFormat) -> std::path::PathBuf {
    let picture = image::GrayImage::from_fn(28, 28, |_, _| image::Luma([75]));
    let path = dir.join(name);
    let mut out = Cursor::new(Vec::new());
    image::DynamicImage::ImageLuma8(picture)
        .to_rgb8()
        .write_to(&mut out, format)
        .unwrap();
    std::fs::write(&path, out.into_inner()).unwrap();
    path
}

#[test]
fn a_trained_model_predicts_files_serves_http_and_the_data_exports_for_automl() {
    let work = tempfile::tempdir().unwrap();
    let data = work.path().join("synthetic");
    synthetic_dataset(&data, 1200, 200);
    let out = trainer(work.path())
        .arg("--data-dir")
        .arg(&data)
        .args([
            "--allow-unverified-data",
            "--batch-size",
            "32",
            "--budget",
            "15s",
        ])
        .args(["--run-name", "small", "--quiet", "--backend", "flex"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let class_3 = json(&work.path().join("models/small/model.json"))["class_names"][3]
        .as_str()
        .unwrap()
        .to_string();

    // predict: text, then AutoML's JSON; without --model the newest model is used.
    let png = synthetic_picture(work.path(), "three.png", image::ImageFormat::Png);
    let jpg = synthetic_picture(work.path(), "three.jpg", image::ImageFormat::Jpeg);
    let out = trainer(work.path())
        .args(["predict", "--backend", "flex", "--top-k", "2"])
        .arg(&png)
        .arg(&jpg)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(stdout.lines().count(), 2, "{stdout}");
    for line in stdout.lines() {
        let best = line.split(": ").nth(1).unwrap();
        assert!(best.starts_with(&class_3), "{line}");
    }
    let response = response_json(&work, &png);
    let payload = response["payload"].as_array().unwrap();
    assert_eq!(payload.len(), 10, "threshold 0 lists every class");
    assert_eq!(payload[0]["displayName"], class_3.as_str());
    assert_eq!(payload[0]["annotationSpecId"], "3");
    let total: f64 = payload
        .iter()
        .map(|p| p["classification"]["score"].as_f64().unwrap())
        .sum();
    assert!((total - 1.0).abs() < 1e-3, "{total}");

    // The card's temperature (fitted on VALIDATION) rescales the scores predict gives: a
    // hotter one flattens them and keeps their order; one that is not positive is refused.
    let card_path = work.path().join("models/small/model.json");
    let saved_card = std::fs::read(&card_path).unwrap();
    let mut card = json(&card_path);
    card["test_time_mirror"]["temperature"] = serde_json::json!({
        "value": 4.0, "validation_loss_before": 0.5, "validation_loss_after": 0.4
    });
    std::fs::write(&card_path, card.to_string()).unwrap();
    let flattened = response_json(&work, &png);
    assert_eq!(flattened["payload"][0]["displayName"], class_3.as_str());
    let top = |r: &serde_json::Value| r["payload"][0]["classification"]["score"].as_f64().unwrap();
    assert!(
        top(&flattened) < top(&response) - 0.01,
        "{} at T = 4 against {}",
        top(&flattened),
        top(&response)
    );
    card["test_time_mirror"]["temperature"]["value"] = (-1.0).into();
    std::fs::write(&card_path, card.to_string()).unwrap();
    let out = trainer(work.path())
        .args(["predict", "--model", "small"])
        .arg(&png)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        text(&out).contains("model.json") && text(&out).contains("positive number"),
        "{}",
        text(&out)
    );
    std::fs::write(&card_path, saved_card).unwrap();

    // Bad input: a clear message naming the file, non-zero exit.
    let bad = work.path().join("notes.png");
    std::fs::write(&bad, "not a picture").unwrap();
    let out = trainer(work.path())
        .args(["predict"])
        .arg(&bad)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        text(&out).contains("notes.png") && text(&out).contains("not an image"),
        "{}",
        text(&out)
    );
    let out = trainer(work.path())
        .args(["predict", "--model", "nope"])
        .arg(&png)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        text(&out).contains("small"),
        "names the models there: {}",
        text(&out)
    );

    // serve: a real request on a free port.
    let mut server = trainer(work.path())
        .args(["serve", "--addr", "127.0.0.1:0", "--backend", "flex"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut first = String::new();
    let mut server_output = BufReader::new(server.stdout.take().unwrap());
    server_output.read_line(&mut first).unwrap();
    let base = first.trim().rsplit(' ').next().unwrap().to_string();
    assert!(base.starts_with("http://127.0.0.1:"), "{first}");
    use base64::Engine;
    let body = serde_json::json!({
        "payload": {"image": {"imageBytes": base64::engine::general_purpose::STANDARD.encode(std::fs::read(&png).unwrap())}},
        "params": {"score_threshold": "0.0"}
    });
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let mut response = agent
        .post(format!(
            "{base}/v1beta1/projects/local/locations/local/models/small:predict"
        ))
        .header("Content-Type", "application/json")
        .send(body.to_string())
        .unwrap();
    let status = response.status().as_u16();
    let served: serde_json::Value =
        serde_json::from_str(&response.body_mut().read_to_string().unwrap()).unwrap();
    let _ = server.kill();
    let _ = server.wait();
    drop(server_output);
    assert_eq!(status, 200, "{served}");
    assert_eq!(served["payload"][0]["displayName"], class_3.as_str());
    // The server and the command line agree on the same image.
    assert_eq!(served["payload"], response_json(&work, &png)["payload"]);

    // export-automl: PNG files and the CSV, split like training.
    let export = work.path().join("export");
    let out = trainer(work.path())
        .args(["export-automl", "--out"])
        .arg(&export)
        .arg("--data-dir")
        .arg(&data)
        .arg("--allow-unverified-data")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let csv = std::fs::read_to_string(export.join("automl.csv")).unwrap();
    let rows: Vec<Vec<&str>> = csv.lines().map(|l| l.split(',').collect()).collect();
    assert_eq!(rows.len(), 1400);
    let count = |set: &str| rows.iter().filter(|r| r[0] == set).count();
    let card = json(&work.path().join("models/small/model.json"));
    assert_eq!(
        count("VALIDATION") as u64,
        card["dataset"]["validation_images"].as_u64().unwrap()
    );
    assert_eq!(
        count("TRAIN") as u64,
        card["dataset"]["train_images"].as_u64().unwrap()
    );
    assert_eq!(count("TEST"), 200);
    // Each file holds the dataset's pixels; its label is the AutoML form of the class name.
    let row = rows
        .iter()
        .find(|r| r[0] == "TEST" && r[1].ends_with("00007.png"))
        .unwrap();
    let picture = image::open(export.join(row[1])).unwrap().to_luma8();
    let expected_label = (7 * 7 % 10) as u8; // the synthetic dataset's label of image 7
    assert_eq!(
        row[2],
        [
            "t_shirt_top",
            "trouser",
            "pullover",
            "dress",
            "coat",
            "sandal",
            "shirt",
            "sneaker",
            "bag",
            "ankle_boot"
        ][expected_label as usize]
    );
    assert!(
        picture
            .pixels()
            .all(|p| (p.0[0] as i32 - 25 * expected_label as i32).abs() <= 10)
    );
}

fn response_json(work: &tempfile::TempDir, image: &Path) -> serde_json::Value {
    let out = trainer(work.path())
        .args([
            "predict",
            "--model",
            "small",
            "--json",
            "--score-threshold",
            "0",
            "--backend",
            "flex",
        ])
        .arg(image)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    serde_json::from_slice(&out.stdout).unwrap()
}

/// A dataset of one's own, in AutoML's CSV format: 10 "garments" of different brightness on
/// black, in sub-folders, mostly UNASSIGNED rows (split 80/10/10 by the trainer).
fn own_dataset(dir: &Path) -> std::path::PathBuf {
    let names = [
        "ant", "bee", "cat", "dog", "eel", "fox", "gnu", "hen", "ibis", "jay",
    ];
    let mut csv = String::new();
    for i in 0..400usize {
        let class = i % 10;
        let picture = image::GrayImage::from_fn(28, 28, |x, y| {
            let inside = (6..22).contains(&x) && (4..24).contains(&y);
            let noise = ((i * 31 + (x * 17 + y * 7) as usize) % 13) as u8;
            image::Luma([if inside {
                40 + 20 * class as u8 + noise
            } else {
                noise / 4
            }])
        });
        let folder = dir.join(names[class]);
        std::fs::create_dir_all(&folder).unwrap();
        picture.save(folder.join(format!("{i}.png"))).unwrap();
        let set = if i < 20 {
            "TRAIN,"
        } else if i < 40 {
            "VALIDATION,"
        } else {
            ""
        };
        csv.push_str(&format!("{set}{}/{i}.png,{}\n", names[class], names[class]));
    }
    let path = dir.join("own.csv");
    std::fs::write(&path, csv).unwrap();
    path
}

#[test]
fn training_from_an_automl_csv_learns_its_classes_and_evaluates_again() {
    let work = tempfile::tempdir().unwrap();
    let csv = own_dataset(&work.path().join("photos"));
    let out = trainer(work.path())
        .arg("--csv")
        .arg(&csv)
        .args([
            "--budget",
            "15s",
            "--batch-size",
            "32",
            "--run-name",
            "own",
            "--backend",
            "flex",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("10 classes"), "{}", text(&out));
    let card = json(&work.path().join("models/own/model.json"));
    assert_eq!(card["class_names"][0], "ant");
    assert_eq!(card["class_names"][9], "jay");
    assert_eq!(card["model"]["num_classes"], 10);
    // 20 + 20 rows are placed; the 360 UNASSIGNED ones split 288/36/36.
    assert_eq!(card["dataset"]["train_images"], 20 + 288);
    assert_eq!(card["dataset"]["validation_images"], 20 + 36);
    assert_eq!(card["dataset"]["test_images"], 36);
    assert!(
        card["dataset"]["csv"]
            .as_str()
            .unwrap()
            .ends_with("own.csv")
    );
    let metrics = json(&work.path().join("reports/own/metrics.json"));
    let accuracy = metrics["accuracy"].as_f64().unwrap();
    assert!(accuracy > 0.8, "{metrics}");
    assert_eq!(metrics["class_names"][3], "dog");

    // `evaluate` finds the test images through the CSV again.
    let out = trainer(work.path())
        .args(["evaluate", "--model", "own", "--backend", "flex"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let again = json(&work.path().join("reports/own/metrics.json"));
    assert_eq!(again["accuracy"].as_f64().unwrap(), accuracy);
}
