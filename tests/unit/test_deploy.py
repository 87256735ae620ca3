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
    for name in ("intake", "mediation", "legal-aid", "followup", "supervision", "notification", "console"):
        deployment = docs[("Deployment", name)]
        c = deployment["spec"]["template"]["spec"]["containers"][0]
        assert deployment["spec"]["replicas"] >= 2 and c["readinessProbe"] and c["livenessProbe"]
        assert c["resources"]["limits"]["memory"] and ("HorizontalPodAutoscaler", name) in docs
        assert not any("value" in e and "SECRET" in e["name"] for e in c["env"])  # secrets only by reference
    for svc in ("intake", "mediation", "legal-aid", "followup", "supervision", "notification"):
        assert ("StatefulSet", f"pg-{svc}") in docs  # one database per service


def test_compose_file_follows_the_compose_specification():
    import check_jsonschema

    schema = json.loads((Path(check_jsonschema.__file__).parent / "builtin_schemas" / "vendor" /
                         "compose-spec.json").read_text())
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    jsonschema.validate(compose, schema)
    assert {"kafka-1", "kafka-2", "kafka-3", "pg-intake", "pg-supervision", "console"} <= set(compose["services"])


def test_prometheus_scrapes_every_service_and_alerts_only_on_metrics_that_exist():
    import re

    from prometheus_client import REGISTRY

    import services.backbone.metrics  # noqa: F401 - registers the metrics

    exported = {m.name for m in REGISTRY.collect()}  # counters without _total, histograms without _bucket
    rules = yaml.safe_load((DEPLOY / "prometheus" / "alerts.yml").read_text())
    alerts = [r for g in rules["groups"] for r in g["rules"]]
    assert {"LaborcaseDeadlineScannerBehind", "LaborcaseOutboxBacklog", "LaborcaseConsumerLag",
            "LaborcaseDeadLetters", "LaborcaseHandlerSlow"} <= {a["alert"] for a in alerts}
    for alert in alerts:
        assert alert["labels"]["severity"] in ("warning", "critical") and alert["annotations"]["summary"]
        for name in re.findall(r"\blaborcase_[a-z_0-9]+", alert["expr"]):
            base = re.sub(r"_(total|bucket|sum|count)$", "", name)
            assert base in exported, f"{alert['alert']} uses {name}, which no service exports"
    config = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text())
    job = config["scrape_configs"][0]
    assert job["job_name"] == "laborcase" and config["rule_files"] == ["/etc/prometheus/alerts.yml"]
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    scraped = {(n, sd["port"]) for sd in job["dns_sd_configs"] for n in sd["names"]}
    for svc in ("intake", "mediation", "legal_aid", "followup", "supervision", "notification"):
        port = next(int(p) for p in re.findall(r"127\.0\.0\.1:(\d+)/readyz", str(compose["services"][svc]["healthcheck"])))
        assert (svc, port) in scraped
    docs = {(d["kind"], d["metadata"]["name"]): d for d in k8s_docs()}
    for name in ("intake", "mediation", "legal-aid", "followup", "supervision", "notification"):
        annotations = docs[("Deployment", name)]["spec"]["template"]["metadata"]["annotations"]
        assert annotations["prometheus.io/scrape"] == "true" and annotations["prometheus.io/path"] == "/metrics"


def test_ingress_sends_api_paths_to_the_service_that_owns_them():
    from services.console.routing import owner_of, page_owner

    ingress = next(d for d in k8s_docs() if d["kind"] == "Ingress")
    paths = {p["path"]: p["backend"]["service"]["name"] for p in ingress["spec"]["rules"][0]["http"]["paths"]}
    assert paths.pop("/") == "console"
    for path, service in paths.items():
        owner = owner_of("GET", path + "/x") or owner_of("POST", path) or page_owner(path)
        assert owner is not None and owner.replace("_", "-") == service, (path, service, owner)
        for method in ("GET", "POST", "PATCH"):  # every method under the prefix has the same owner
            assert owner_of(method, path + "/x") in (None, owner)
    assert "/api/v1/cases" not in paths  # POST → intake, GET → supervision: the console tells them apart


def _topic_job_settings(env: dict[str, str]):
    from services.backbone.settings import Settings

    keep = {k: v for k, v in env.items() if k.startswith("LABORCASE_") and "DSN" not in k and "SECRET" not in k}
    return Settings(**{k.removeprefix("LABORCASE_").lower(): v for k, v in keep.items()
                       if k.removeprefix("LABORCASE_").lower() in Settings.model_fields})


def _compose_topic_job_env() -> dict[str, str]:
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    return {k: str(v) for k, v in compose["services"]["topics"]["environment"].items()}


def _k8s_topic_job_env() -> dict[str, str]:
    job = next(d for d in k8s_docs() if d["kind"] == "Job" and d["metadata"]["name"] == "topics")
    return {e["name"]: e["value"] for e in job["spec"]["template"]["spec"]["containers"][0]["env"] if "value" in e}


@pytest.mark.parametrize("env", [_compose_topic_job_env, _k8s_topic_job_env], ids=["compose", "k8s"])
def test_the_topic_job_creates_durable_topics_on_the_three_broker_cluster(env):
    """What `laborcase topics create` asks the cluster for: every topic 3 copies, acks=all needs 2 of them
    (brokers run min.insync.replicas=2: a topic with one copy would refuse every write), dead letters 90 days."""
    from events.catalog import TOPICS
    from services.backbone.kafka import catalog_topics, topic_plan

    settings = _topic_job_settings(env())
    assert settings.kafka_partitions is None  # a cluster: the catalog's partitions, for its instances to share
    plans = {p.name: p for p in topic_plan(catalog_topics(settings), brokers=3, settings=settings)}
    assert set(plans) == set(TOPICS)
    assert {p.name: p.partitions for p in plans.values()} == {t.name: t.partitions for t in TOPICS.values()}
    for plan in plans.values():
        assert plan.replication_factor == 3 and plan.configs["min.insync.replicas"] == "2", plan
    day = 24 * 3600 * 1000
    assert plans["court.events.dlq"].configs["retention.ms"] == str(90 * day)
    assert plans["court.events"].configs["retention.ms"] == str(14 * day)
    assert plans["laborcase.markers"].configs["retention.ms"] == "-1"


def test_the_local_stack_creates_fewer_partitions_and_keeps_one_per_dead_letter_topic():
    """LABORCASE_KAFKA_PARTITIONS caps every catalogued topic (the local stack sets 2: one instance per service)."""
    from events.catalog import TOPICS
    from services.backbone.kafka import catalog_topics, topics_for
    from services.backbone.settings import Settings

    capped = catalog_topics(Settings(kafka_partitions=2))
    assert capped["intake.events"] == capped["court.feedback"] == 2 and TOPICS["intake.events"].partitions == 8
    assert capped["laborcase.markers"] == capped["court.events.dlq"] == 1
    assert topics_for(["mediation.events"], with_dead_letters=["mediation.events"],
                      settings=Settings(kafka_partitions=3)) == {"mediation.events": 3, "mediation.events.dlq": 1}


def test_the_local_broker_keeps_one_copy():
    from services.backbone.kafka import topic_plan
    from services.backbone.settings import Settings

    [plan] = topic_plan({"court.events": 8}, brokers=1, settings=Settings())
    assert plan.replication_factor == 1 and "min.insync.replicas" not in plan.configs
    with pytest.raises(ValueError, match="retention windows must nest"):
        Settings(topic_retention_days=60)  # beyond the inbox's 30 days: a full re-read would double effects


def test_each_partner_may_only_write_its_inbound_topic_and_read_its_feedback():
    from services.security.kafka_acls import plan, script

    acls = plan([("court-QH0103", "court"), ("bureau-XNLZ", "bureau")])
    court = {(a.resource, a.name, a.operation) for a in acls if a.principal == "User:court-QH0103"}
    assert {(r, n) for r, n, o in court if o == "Write"} == {("topic", "court.events")}
    assert {(r, n) for r, n, o in court if o == "Read"} == {("topic", "court.feedback"), ("group", "partner.court-QH0103.")}
    bureau = {(a.resource, a.name, a.operation) for a in acls if a.principal == "User:bureau-XNLZ"}
    assert {n for r, n, o in bureau if o == "Write"} == {"bureau.events"}
    # services: what the catalog says, nothing more
    legal_aid = {a.name for a in acls if a.principal == "User:laborcase-legal_aid" and a.operation == "Write"}
    assert "court.feedback" not in legal_aid and "legalaid.events" in legal_aid
    supervision = {a.name for a in acls if a.principal == "User:laborcase-supervision" and a.operation == "Write"}
    assert not supervision & {"intake.events", "court.events", "court.feedback"}
    text = script(acls, users=["laborcase-intake", "court-QH0103"])
    assert "--allow-principal User:court-QH0103 --operation Write --topic court.events" in text
    assert 'SCRAM-SHA-512=[password=${SCRAM_COURT_QH0103}]' in text


def test_the_cluster_authenticates_everyone_and_gives_each_service_only_its_own_credentials():
    docs = {(d["kind"], d["metadata"]["name"]): d for d in k8s_docs()}
    broker = {e["name"]: e.get("value") for e in
              docs[("StatefulSet", "kafka")]["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert broker["KAFKA_ALLOW_EVERYONE_IF_NO_ACL_FOUND"] == "false" and "StandardAuthorizer" in broker[
        "KAFKA_AUTHORIZER_CLASS_NAME"] and "PARTNER:SASL_SSL" in broker["KAFKA_LISTENER_SECURITY_PROTOCOL_MAP"]
    for name in ("intake", "mediation", "legal-aid", "followup", "supervision", "notification"):
        env = docs[("Deployment", name)]["spec"]["template"]["spec"]["containers"][0]["env"]
        values = {e["name"]: e.get("value") for e in env}
        secrets = {e["valueFrom"]["secretKeyRef"]["key"] for e in env if "valueFrom" in e}
        var = name.upper().replace("-", "_")
        assert values[f"LABORCASE_{var}_DSN"].startswith("postgresql://laborcase_app:")
        assert values[f"LABORCASE_{var}_MIGRATION_DSN"].startswith("postgresql://laborcase_owner:")
        assert values["LABORCASE_KAFKA_SASL_USERNAME"] == f"laborcase-{name.replace('-', '_')}"
        assert values["LABORCASE_COOKIE_SECURE"] == "true"
        others = [s for s in SERVICE_NAMES if s != name]
        assert not [k for k in secrets if any(k.startswith((f"pg-{o}-", f"kafka-{o}-")) for o in others)], name
        assert not [v for k, v in values.items() if k.endswith("_DSN") and f"LABORCASE_{var}_" not in k]
    ingress = docs[("Ingress", "console")]["spec"]
    assert ingress["tls"][0]["secretName"] and ingress["tls"][0]["hosts"] == [ingress["rules"][0]["host"]]
    roles = docs[("ConfigMap", "pg-roles")]["data"]["10-roles.sh"]
    assert "laborcase_app" in roles and "laborcase_owner" in roles
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    assert compose["services"]["intake"]["environment"]["LABORCASE_INTAKE_DSN"].startswith("postgresql://laborcase_app:")
    assert "kafka-acls" in compose["services"]


SERVICE_NAMES = ("intake", "mediation", "legal-aid", "followup", "supervision", "notification")
