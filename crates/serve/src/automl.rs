//! AutoML Vision's v1beta1 prediction messages as JSON, the shape Google's REST API and its
//! client libraries use: camelCase field names in responses, either spelling accepted in
//! requests (protobuf's JSON parser does the same).

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// `PredictRequest`: one image and the call's parameters.
#[derive(Debug, Deserialize)]
pub struct PredictRequest {
    pub payload: Option<ExamplePayload>,
    /// Strings in AutoML's API (`map<string, string>`); numbers are accepted too.
    #[serde(default)]
    pub params: BTreeMap<String, serde_json::Value>,
}

/// The batch form: many images under one set of parameters.
#[derive(Debug, Deserialize)]
pub struct BatchPredictRequest {
    #[serde(default)]
    pub payloads: Vec<ExamplePayload>,
    #[serde(default)]
    pub params: BTreeMap<String, serde_json::Value>,
}

#[derive(Debug, Deserialize)]
pub struct ExamplePayload {
    pub image: Option<Image>,
}

#[derive(Debug, Deserialize)]
pub struct Image {
    #[serde(rename = "imageBytes", alias = "image_bytes")]
    pub image_bytes: Option<String>,
}

/// `PredictResponse`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PredictResponse {
    pub payload: Vec<AnnotationPayload>,
    pub metadata: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BatchPredictResponse {
    pub responses: Vec<PredictResponse>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AnnotationPayload {
    pub annotation_spec_id: String,
    pub display_name: String,
    pub classification: ClassificationAnnotation,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClassificationAnnotation {
    pub score: f32,
}

/// AutoML's default `score_threshold` for image classification.
pub const DEFAULT_SCORE_THRESHOLD: f64 = 0.5;

/// The labels whose score reaches `threshold`, best first, as AutoML returns them. The
/// annotation spec id of a class is its index.
pub fn response(
    class_names: &[String],
    probabilities: &[f32],
    threshold: f64,
    metadata: BTreeMap<String, String>,
) -> PredictResponse {
    let mut payload: Vec<AnnotationPayload> = probabilities
        .iter()
        .enumerate()
        .filter(|&(_, &p)| p as f64 >= threshold)
        .map(|(k, &p)| AnnotationPayload {
            annotation_spec_id: k.to_string(),
            display_name: class_names.get(k).cloned().unwrap_or_else(|| k.to_string()),
            classification: ClassificationAnnotation { score: p },
        })
        .collect();
    payload.sort_by(|a, b| b.classification.score.total_cmp(&a.classification.score));
    PredictResponse { payload, metadata }
}

/// `params.score_threshold`: a number from 0 to 1, as a string (AutoML) or a number.
pub fn score_threshold(params: &BTreeMap<String, serde_json::Value>) -> Result<f64, String> {
    let Some(value) = params.get("score_threshold") else {
        return Ok(DEFAULT_SCORE_THRESHOLD);
    };
    let parsed = match value {
        serde_json::Value::String(s) => s.trim().parse::<f64>().ok(),
        serde_json::Value::Number(n) => n.as_f64(),
        _ => None,
    };
    match parsed {
        Some(t) if (0.0..=1.0).contains(&t) => Ok(t),
        _ => Err(format!(
            "params.score_threshold must be a number from 0 to 1, got {value}"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn responses_keep_labels_at_or_over_the_threshold_best_first() {
        let names: Vec<String> = ["a", "b", "c"].iter().map(|s| s.to_string()).collect();
        let r = response(&names, &[0.2, 0.5, 0.3], 0.25, BTreeMap::new());
        let got: Vec<_> = r
            .payload
            .iter()
            .map(|p| (p.display_name.as_str(), p.annotation_spec_id.as_str()))
            .collect();
        assert_eq!(got, [("b", "1"), ("c", "2")]);
        let json = serde_json::to_value(&r).unwrap();
        assert_eq!(json["payload"][0]["displayName"], "b");
        assert_eq!(json["payload"][0]["annotationSpecId"], "1");
        assert_eq!(json["payload"][0]["classification"]["score"], 0.5);
        assert!(json["metadata"].is_object());
    }

    #[test]
    fn requests_parse_in_both_spellings_and_thresholds_are_checked() {
        let camel: PredictRequest = serde_json::from_str(
            r#"{"payload":{"image":{"imageBytes":"AAA="}},"params":{"score_threshold":"0.7"}}"#,
        )
        .unwrap();
        assert_eq!(
            camel.payload.unwrap().image.unwrap().image_bytes.unwrap(),
            "AAA="
        );
        assert_eq!(score_threshold(&camel.params), Ok(0.7));
        let snake: PredictRequest =
            serde_json::from_str(r#"{"payload":{"image":{"image_bytes":"AAA="}}}"#).unwrap();
        assert!(snake.payload.unwrap().image.unwrap().image_bytes.is_some());
        assert_eq!(score_threshold(&snake.params), Ok(DEFAULT_SCORE_THRESHOLD));
        for bad in [r#""x""#, "1.5", "-0.1", "true"] {
            let params = BTreeMap::from([(
                "score_threshold".to_string(),
                serde_json::from_str(bad).unwrap(),
            )]);
            assert!(score_threshold(&params).is_err(), "{bad}");
        }
    }
}
