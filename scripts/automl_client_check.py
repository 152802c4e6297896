#!/usr/bin/env python3
"""Calls `trainer serve` with Google's own AutoML v1beta1 client library, unchanged.

Google's Python package `google-cloud-automl` (pip install -r scripts/requirements.txt) talks
to AutoML over REST when given its REST transport; pointed at the local server over plain
http with anonymous credentials, it must work as it does against Google's service. The script
sends each image through the client's `predict` call, prints the labels, and checks them
against `trainer predict --json` on the same file (same model, same threshold).

    cargo run -p trainer -- serve --model NAME --addr 127.0.0.1:8080 &
    python3 scripts/automl_client_check.py --host 127.0.0.1:8080 --model NAME IMAGE...
"""

import argparse
import json
import subprocess
import sys

from google.auth.credentials import AnonymousCredentials
from google.cloud import automl_v1beta1
from google.cloud.automl_v1beta1.services.prediction_service.transports import (
    PredictionServiceRestTransport,
)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1:8080")
    parser.add_argument("--model", required=True)
    parser.add_argument("--score-threshold", default="0.0")
    parser.add_argument(
        "--trainer",
        default="target/debug/trainer",
        help="trainer binary for the command-line comparison ('' to skip it)",
    )
    parser.add_argument("images", nargs="+")
    args = parser.parse_args()

    transport = PredictionServiceRestTransport(
        host=args.host, url_scheme="http", credentials=AnonymousCredentials()
    )
    client = automl_v1beta1.PredictionServiceClient(transport=transport)
    name = f"projects/local/locations/local/models/{args.model}"
    failures = 0
    for path in args.images:
        with open(path, "rb") as f:
            content = f.read()
        response = client.predict(
            name=name,
            payload={"image": {"image_bytes": content}},
            params={"score_threshold": args.score_threshold},
        )
        labels = [(p.display_name, p.classification.score) for p in response.payload]
        print(f"{path}: " + ", ".join(f"{n} {s:.3f}" for n, s in labels[:3]))
        if not labels:
            print(f"  FAIL: no labels at threshold {args.score_threshold}")
            failures += 1
            continue
        if args.trainer:
            cli = subprocess.run(
                [args.trainer, "predict", "--model", args.model, "--json",
                 "--score-threshold", args.score_threshold, path],
                check=True, capture_output=True, text=True,
            )
            expected = json.loads(cli.stdout)["payload"]
            same = [p["displayName"] for p in expected] == [n for n, _ in labels] and all(
                abs(p["classification"]["score"] - s) < 1e-5
                for p, (_, s) in zip(expected, labels)
            )
            print("  same as `trainer predict --json`" if same else "  FAIL: differs from `trainer predict --json`")
            failures += 0 if same else 1
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
