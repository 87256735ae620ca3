"""Deployment manifests, validated offline (no container engine here): Kubernetes against its schemas (strict),
the compose file against the Compose specification."""

import json
from pathlib import Path

import jsonschema
import kubernetes_validate
import pytest
import yaml

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"


def k8s_docs() -> list[dict]:
    return [d for d in yaml.safe_load_all((DEPLOY / "k8s" / "laborcase.yaml").read_text()) if d]


def test_k8s_manifests_are_generated_and_current():
    import importlib.util

    spec = importlib.util.spec_from_file_location("generate", DEPLOY / "k8s" / "generate.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.render() == (DEPLOY / "k8s" / "laborcase.yaml").read_text(), "run python deploy/k8s/generate.py"


@pytest.mark.parametrize("doc", k8s_docs(), ids=lambda d: f"{d['kind']}/{d['metadata']['name']}")
def test_k8s_manifest_is_valid(doc):
    kubernetes_validate.validate(doc, "1.33.0", strict=True)


def test_kafka_is_three_brokers_rf3_min_isr2_and_services_are_replicated_with_probes():
    docs = {(d["kind"], d["metadata"]["name"]): d for d in k8s_docs()}
    kafka = docs[("StatefulSet", "kafka")]
    env = {e["name"]: e.get("value") for e in kafka["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert kafka["spec"]["replicas"] == 3
    assert env["KAFKA_DEFAULT_REPLICATION_FACTOR"] == "3" and env["KAFKA_MIN_INSYNC_REPLICAS"] == "2"
    for name in ("intake", "mediation", "legal-aid", "followup", "supervision", "console"):
        deployment = docs[("Deployment", name)]
        c = deployment["spec"]["template"]["spec"]["containers"][0]
        assert deployment["spec"]["replicas"] >= 2 and c["readinessProbe"] and c["livenessProbe"]
        assert c["resources"]["limits"]["memory"] and ("HorizontalPodAutoscaler", name) in docs
        assert not any("value" in e and "SECRET" in e["name"] for e in c["env"])  # secrets only by reference
    for svc in ("intake", "mediation", "legal-aid", "followup", "supervision"):
        assert ("StatefulSet", f"pg-{svc}") in docs  # one database per service


def test_compose_file_follows_the_compose_specification():
    import check_jsonschema

    schema = json.loads((Path(check_jsonschema.__file__).parent / "builtin_schemas" / "vendor" /
                         "compose-spec.json").read_text())
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    jsonschema.validate(compose, schema)
    assert {"kafka-1", "kafka-2", "kafka-3", "pg-intake", "pg-supervision", "console"} <= set(compose["services"])
