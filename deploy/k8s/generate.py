"""Render deploy/k8s/laborcase.yaml: `python deploy/k8s/generate.py` (the test suite checks it is current).

Apache Kafka (KRaft, 3 brokers, replication factor 3, min.insync.replicas 2), one PostgreSQL per service,
every service a Deployment with probes, resource limits and replicas (safe: outbox lane leases, the inbox,
SKIP LOCKED deadlines), a HorizontalPodAutoscaler each, the topics created by a Job. Secrets are referenced,
never written here: create `laborcase-secrets` (secret-key, postgres-password) and `laborcase-accounts`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

NS = "laborcase"
DEPLOY = Path(__file__).resolve().parents[1]
IMAGE = "registry.example/laborcase:0.1.0"
SERVICES = {"intake": 8101, "mediation": 8102, "legal-aid": 8103, "followup": 8104, "supervision": 8105,
            "notification": 8106}
ENV_NAME = {"legal-aid": "LEGAL_AID"}


#: Paths the ingress sends straight to the service that owns them (services/console/routing.py; a test keeps
#: the two in step), so API calls skip the console's proxy. ``/api/v1/cases`` is shared by method (POST →
#: intake, GET → supervision), which an Ingress cannot tell apart: it stays with the console, as does the rest.
INGRESS = (
    ("/api/v1/intake", "intake"), ("/api/v1/events", "intake"),
    ("/api/v1/mediation", "mediation"), ("/mediation", "mediation"),
    ("/api/v1/legal-aid", "legal-aid"), ("/legal-aid", "legal-aid"),
    ("/api/v1/followup", "followup"), ("/followup", "followup"),
    ("/api/v1/supervision", "supervision"), ("/supervision", "supervision"), ("/api/v1/alerts", "supervision"),
    ("/api/v1/stats", "supervision"), ("/api/v1/stream", "supervision"), ("/api/v1/forecast", "supervision"),
    ("/api/v1/notification", "notification"), ("/notification", "notification"),
    ("/", "console"),
)


def meta(name: str, **labels: str) -> dict[str, Any]:
    return {"name": name, "namespace": NS, "labels": {"app.kubernetes.io/part-of": "laborcase",
                                                     "app.kubernetes.io/name": name, **labels}}


def secret_env(name: str, key: str, secret: str = "laborcase-secrets") -> dict[str, Any]:
    return {"name": name, "valueFrom": {"secretKeyRef": {"name": secret, "key": key}}}


def kafka_client_env(user: str, password_key: str) -> list[dict[str, Any]]:
    """SASL/SCRAM as ``user`` (the brokers' ACLs give it only its own topics: laborcase kafka acls)."""
    return [{"name": "LABORCASE_KAFKA_SECURITY_PROTOCOL", "value": "SASL_PLAINTEXT"},
            {"name": "LABORCASE_KAFKA_SASL_USERNAME", "value": user},
            secret_env("LABORCASE_KAFKA_SASL_PASSWORD", password_key)]


def common_env(name: str) -> list[dict[str, Any]]:
    """What every process needs; a service also gets its own database and broker credentials, and nothing else's."""
    env: list[dict[str, Any]] = [
        {"name": "KAFKA_BOOTSTRAP_SERVERS", "value": ",".join(f"kafka-{i}.kafka:9092" for i in range(3))},
        {"name": "LABORCASE_KAFKA_IDEMPOTENCE", "value": "true"},
        # every topic three copies, a write acknowledged by two (acks=all); dead letters kept 90 days
        {"name": "LABORCASE_KAFKA_REPLICATION_FACTOR", "value": "3"},
        {"name": "LABORCASE_KAFKA_MIN_INSYNC_REPLICAS", "value": "2"},
        {"name": "LABORCASE_TOPIC_RETENTION_DAYS", "value": "14"},
        {"name": "LABORCASE_DEAD_LETTER_RETENTION_DAYS", "value": "90"},
        {"name": "LABORCASE_HOST", "value": "0.0.0.0"},
        {"name": "LABORCASE_ACCOUNTS_FILE", "value": "/etc/laborcase/accounts.json"},
        # served over HTTPS by the Ingress: the session cookie is sent over HTTPS only
        {"name": "LABORCASE_COOKIE_SECURE", "value": "true"},
        secret_env("LABORCASE_SECRET_KEY", "secret-key"),
    ]
    for svc, port in SERVICES.items():
        env.append({"name": f"LABORCASE_{ENV_NAME.get(svc, svc.upper())}_URL", "value": f"http://{svc}:{port}"})
    if name in SERVICES:
        var = ENV_NAME.get(name, name.upper())
        env += [
            secret_env("PG_APP_PASSWORD", f"pg-{name}-app-password"),
            secret_env("PG_OWNER_PASSWORD", f"pg-{name}-owner-password"),
            # connects with a role that owns nothing; migrations run as the owner (deploy/postgres/roles.sh)
            {"name": f"LABORCASE_{var}_DSN",
             "value": f"postgresql://laborcase_app:$(PG_APP_PASSWORD)@pg-{name}:5432/laborcase"},
            {"name": f"LABORCASE_{var}_MIGRATION_DSN",
             "value": f"postgresql://laborcase_owner:$(PG_OWNER_PASSWORD)@pg-{name}:5432/laborcase"},
            *kafka_client_env(f"laborcase-{name.replace('-', '_')}", f"kafka-{name}-password"),
        ]
    if name == "notification":  # Tencent Cloud SMS (短信): the account in its own secret, `laborcase-sms`
        env += [{"name": "LABORCASE_SMS_GATEWAY", "value": "tencent"},
                secret_env("LABORCASE_SMS_TENCENT_APP_ID", "app-id", "laborcase-sms"),
                secret_env("LABORCASE_SMS_TENCENT_SECRET_ID", "secret-id", "laborcase-sms"),
                secret_env("LABORCASE_SMS_TENCENT_SECRET_KEY", "secret-key", "laborcase-sms")]
    return env


def container(name: str, module: str, port: int) -> dict[str, Any]:
    probe = {"httpGet": {"path": "/readyz", "port": port}, "periodSeconds": 10, "failureThreshold": 3}
    return {
        "name": name, "image": IMAGE, "command": ["python", "-m", module],
        "ports": [{"containerPort": port, "name": "http"}], "env": common_env(name),
        "readinessProbe": probe,
        "livenessProbe": {"httpGet": {"path": "/healthz", "port": port}, "periodSeconds": 20, "failureThreshold": 3},
        "startupProbe": {"httpGet": {"path": "/healthz", "port": port}, "periodSeconds": 2, "failureThreshold": 60},
        "resources": {"requests": {"cpu": "250m", "memory": "128Mi"}, "limits": {"cpu": "1", "memory": "256Mi"}},
        "securityContext": {"runAsNonRoot": True, "runAsUser": 10001, "readOnlyRootFilesystem": True,
                            "allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}},
        "volumeMounts": [{"name": "accounts", "mountPath": "/etc/laborcase", "readOnly": True}],
    }


def deployment(name: str, module: str, port: int, replicas: int = 2) -> list[dict[str, Any]]:
    labels = {"app.kubernetes.io/name": name}
    return [
        {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": meta(name),
         "spec": {"replicas": replicas, "selector": {"matchLabels": labels},
                  "template": {"metadata": {"labels": {**labels, "app.kubernetes.io/part-of": "laborcase"},
                                            "annotations": {"prometheus.io/scrape": "true",
                                                            "prometheus.io/port": str(port),
                                                            "prometheus.io/path": "/metrics"}},
                               "spec": {"terminationGracePeriodSeconds": 45,
                                        "containers": [container(name, module, port)],
                                        "volumes": [{"name": "accounts",
                                                     "secret": {"secretName": "laborcase-accounts"}}]}}}},
        {"apiVersion": "v1", "kind": "Service", "metadata": meta(name),
         "spec": {"selector": labels, "ports": [{"name": "http", "port": port, "targetPort": port}]}},
        {"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler", "metadata": meta(name),
         "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": name},
                  "minReplicas": replicas, "maxReplicas": 6,
                  "metrics": [{"type": "Resource", "resource": {"name": "cpu", "target": {
                      "type": "Utilization", "averageUtilization": 70}}}]}},
        {"apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": meta(name),
         "spec": {"minAvailable": 1, "selector": {"matchLabels": labels}}},
    ]


def postgres(svc: str) -> list[dict[str, Any]]:
    name = f"pg-{svc}"
    labels = {"app.kubernetes.io/name": name}
    return [
        {"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": meta(name),
         "spec": {"serviceName": name, "replicas": 1, "selector": {"matchLabels": labels},
                  "template": {"metadata": {"labels": labels}, "spec": {"containers": [{
                      "name": "postgres", "image": "postgres:16",
                      "env": [{"name": "POSTGRES_USER", "value": "laborcase"},
                              {"name": "POSTGRES_DB", "value": "laborcase"},
                              {"name": "PGDATA", "value": "/var/lib/postgresql/data/pgdata"},
                              secret_env("POSTGRES_PASSWORD", "postgres-password"),
                              secret_env("POSTGRES_OWNER_PASSWORD", f"pg-{svc}-owner-password"),
                              secret_env("POSTGRES_APP_PASSWORD", f"pg-{svc}-app-password")],
                      "ports": [{"containerPort": 5432, "name": "postgres"}],
                      "readinessProbe": {"exec": {"command": ["pg_isready", "-U", "laborcase"]}, "periodSeconds": 5},
                      "resources": {"requests": {"cpu": "250m", "memory": "256Mi"},
                                    "limits": {"cpu": "2", "memory": "1Gi"}},
                      "volumeMounts": [{"name": "data", "mountPath": "/var/lib/postgresql/data"},
                                       {"name": "roles", "mountPath": "/docker-entrypoint-initdb.d", "readOnly": True}]}],
                      "volumes": [{"name": "roles", "configMap": {"name": "pg-roles", "defaultMode": 0o555}}]}},
                  "volumeClaimTemplates": [{"metadata": {"name": "data"}, "spec": {
                      "accessModes": ["ReadWriteOnce"], "storageClassName": "encrypted-ssd",
                      "resources": {"requests": {"storage": "20Gi"}}}}]}},
        {"apiVersion": "v1", "kind": "Service", "metadata": meta(name),
         "spec": {"selector": labels, "ports": [{"name": "postgres", "port": 5432}], "clusterIP": "None"}},
    ]


# the brokers' own (super) user; the controller listener is on the cluster network only
SCRAM_JAAS = ('org.apache.kafka.common.security.scram.ScramLoginModule required username="admin" '
              'password="$(KAFKA_ADMIN_PASSWORD)";')


#: the admin client configuration the ACL job writes from its secret (never into the manifest)
ADMIN_CONFIG = ('printf \'security.protocol=SASL_PLAINTEXT\\nsasl.mechanism=SCRAM-SHA-512\\nsasl.jaas.config='
                'org.apache.kafka.common.security.scram.ScramLoginModule required username="admin" password="%s";\\n\' '
                '"$KAFKA_ADMIN_PASSWORD" > /tmp/admin.properties')


def kafka() -> list[dict[str, Any]]:
    labels = {"app.kubernetes.io/name": "kafka"}
    voters = ",".join(f"{i}@kafka-{i}.kafka:9093" for i in range(3))
    return [
        {"apiVersion": "v1", "kind": "Service", "metadata": meta("kafka"),
         "spec": {"clusterIP": "None", "selector": labels,
                  "ports": [{"name": "broker", "port": 9092}, {"name": "controller", "port": 9093}]}},
        {"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": meta("kafka"),
         "spec": {"serviceName": "kafka", "replicas": 3, "podManagementPolicy": "Parallel",
                  "selector": {"matchLabels": labels},
                  "template": {"metadata": {"labels": labels}, "spec": {"containers": [{
                      "name": "kafka", "image": "apache/kafka:3.9.1",
                      "command": ["sh", "-c",
                                  "export KAFKA_NODE_ID=${HOSTNAME##*-} KAFKA_ADVERTISED_LISTENERS="
                                  "INTERNAL://${HOSTNAME}.kafka:9092,PARTNER://${HOSTNAME}.partners.laborcase.example:9094"
                                  " && exec /etc/kafka/docker/run"],
                      "env": [{"name": "KAFKA_PROCESS_ROLES", "value": "broker,controller"},
                              {"name": "KAFKA_CONTROLLER_QUORUM_VOTERS", "value": voters},
                              # INTERNAL: services (SASL/SCRAM); PARTNER: courts and bureaus (SASL/SCRAM over TLS)
                              {"name": "KAFKA_LISTENERS", "value": "INTERNAL://:9092,PARTNER://:9094,CONTROLLER://:9093"},
                              {"name": "KAFKA_LISTENER_SECURITY_PROTOCOL_MAP",
                               "value": "INTERNAL:SASL_PLAINTEXT,PARTNER:SASL_SSL,CONTROLLER:PLAINTEXT"},
                              {"name": "KAFKA_CONTROLLER_LISTENER_NAMES", "value": "CONTROLLER"},
                              {"name": "KAFKA_INTER_BROKER_LISTENER_NAME", "value": "INTERNAL"},
                              {"name": "KAFKA_SASL_ENABLED_MECHANISMS", "value": "SCRAM-SHA-512"},
                              {"name": "KAFKA_SASL_MECHANISM_INTER_BROKER_PROTOCOL", "value": "SCRAM-SHA-512"},
                              secret_env("KAFKA_ADMIN_PASSWORD", "kafka-admin-password"),
                              {"name": "KAFKA_LISTENER_NAME_INTERNAL_SCRAM___SHA___512_SASL_JAAS_CONFIG",
                               "value": SCRAM_JAAS},
                              {"name": "KAFKA_LISTENER_NAME_PARTNER_SCRAM___SHA___512_SASL_JAAS_CONFIG",
                               "value": SCRAM_JAAS},
                              {"name": "KAFKA_AUTHORIZER_CLASS_NAME",
                               "value": "org.apache.kafka.metadata.authorizer.StandardAuthorizer"},
                              {"name": "KAFKA_SUPER_USERS", "value": "User:admin;User:ANONYMOUS"},
                              {"name": "KAFKA_ALLOW_EVERYONE_IF_NO_ACL_FOUND", "value": "false"},
                              {"name": "KAFKA_SSL_KEYSTORE_LOCATION", "value": "/etc/kafka/tls/broker.p12"},
                              {"name": "KAFKA_SSL_KEYSTORE_TYPE", "value": "PKCS12"},
                              secret_env("KAFKA_SSL_KEYSTORE_PASSWORD", "keystore-password", "kafka-tls"),
                              {"name": "KAFKA_DEFAULT_REPLICATION_FACTOR", "value": "3"},
                              {"name": "KAFKA_MIN_INSYNC_REPLICAS", "value": "2"},
                              {"name": "KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR", "value": "3"},
                              {"name": "KAFKA_AUTO_CREATE_TOPICS_ENABLE", "value": "false"},
                              {"name": "KAFKA_LOG_RETENTION_HOURS", "value": "720"},
                              {"name": "KAFKA_LOG_DIRS", "value": "/var/lib/kafka/data"},
                              {"name": "CLUSTER_ID", "valueFrom": {"secretKeyRef": {
                                  "name": "laborcase-secrets", "key": "kafka-cluster-id"}}}],
                      "ports": [{"containerPort": 9092, "name": "broker"}, {"containerPort": 9093, "name": "controller"}],
                      "readinessProbe": {"tcpSocket": {"port": 9092}, "periodSeconds": 10},
                      "resources": {"requests": {"cpu": "500m", "memory": "1Gi"}, "limits": {"cpu": "2", "memory": "2Gi"}},
                      "volumeMounts": [{"name": "data", "mountPath": "/var/lib/kafka/data"},
                                       {"name": "tls", "mountPath": "/etc/kafka/tls", "readOnly": True}]}],
                      "volumes": [{"name": "tls", "secret": {"secretName": "kafka-tls"}}]}},
                  "volumeClaimTemplates": [{"metadata": {"name": "data"}, "spec": {
                      "accessModes": ["ReadWriteOnce"], "storageClassName": "encrypted-ssd",
                      "resources": {"requests": {"storage": "50Gi"}}}}]}},
        {"apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": meta("kafka"),
         "spec": {"maxUnavailable": 1, "selector": {"matchLabels": labels}}},
    ]


def documents() -> list[dict[str, Any]]:
    docs: list[dict[str, Any]] = [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}}]
    docs += kafka()
    for svc in SERVICES:
        docs += postgres(svc)
    docs.append({"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta("pg-roles"),
                 "data": {"10-roles.sh": (DEPLOY / "postgres" / "roles.sh").read_text()}})
    topics = container("topics", "services.cli", 8000)
    topics["env"] = topics["env"] + kafka_client_env("admin", "kafka-admin-password")
    docs.append({"apiVersion": "batch/v1", "kind": "Job", "metadata": meta("topics"),
                 "spec": {"backoffLimit": 20, "template": {"spec": {
                     "restartPolicy": "OnFailure",
                     "containers": [{**topics, "command": ["python", "-m", "services.cli", "topics", "create"]}],
                     "volumes": [{"name": "accounts", "secret": {"secretName": "laborcase-accounts"}}]}}}})
    # SCRAM users and ACLs: the laborcase image writes the plan (services + the accounts file's partners), the Kafka
    # image applies it with the admin user. SCRAM_<USER> passwords come from the laborcase-kafka-users secret.
    acl_script = container("kafka-acls-plan", "services.cli", 8000)
    acl_script |= {"command": ["sh", "-c", "python -m services.cli kafka acls > /plan/acls.sh"],
                   "volumeMounts": acl_script["volumeMounts"] + [{"name": "plan", "mountPath": "/plan"}]}
    for key in ("ports", "readinessProbe", "livenessProbe", "startupProbe"):
        acl_script.pop(key)
    docs.append({"apiVersion": "batch/v1", "kind": "Job", "metadata": meta("kafka-acls"),
                 "spec": {"backoffLimit": 20, "template": {"spec": {
                     "restartPolicy": "OnFailure",
                     "initContainers": [acl_script],
                     "containers": [{
                         "name": "kafka-acls", "image": "apache/kafka:3.9.1",
                         "command": ["sh", "-c", ADMIN_CONFIG + " && PATH=$PATH:/opt/kafka/bin "
                                     "KAFKA_ADMIN_CONFIG=/tmp/admin.properties sh /plan/acls.sh"],
                         "env": [secret_env("KAFKA_ADMIN_PASSWORD", "kafka-admin-password"),
                                 {"name": "KAFKA_BOOTSTRAP", "value": "kafka-0.kafka:9092"}],
                         "envFrom": [{"secretRef": {"name": "laborcase-kafka-users"}}],
                         "resources": {"requests": {"cpu": "100m", "memory": "256Mi"},
                                       "limits": {"cpu": "1", "memory": "512Mi"}},
                         "volumeMounts": [{"name": "plan", "mountPath": "/plan"}]}],
                     "volumes": [{"name": "accounts", "secret": {"secretName": "laborcase-accounts"}},
                                 {"name": "plan", "emptyDir": {}}]}}}})
    for svc, port in SERVICES.items():
        docs += deployment(svc, f"services.{svc.replace('-', '_')}", port)
    docs += deployment("console", "services.console", 8000)
    docs.append({"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "metadata": meta("console"),
                 "spec": {"tls": [{"hosts": ["laborcase.example"], "secretName": "laborcase-tls"}],
                          "rules": [{"host": "laborcase.example", "http": {"paths": [
                     {"path": path, "pathType": "Prefix",
                      "backend": {"service": {"name": svc, "port": {"number": {**SERVICES, "console": 8000}[svc]}}}}
                     for path, svc in INGRESS]}}]}})
    return docs


def render() -> str:
    header = "# Generated by deploy/k8s/generate.py — edit that, then run it.\n"
    return header + "".join("---\n" + json.dumps(d, ensure_ascii=False, indent=1) + "\n" for d in documents())


if __name__ == "__main__":
    Path(__file__).with_name("laborcase.yaml").write_text(render())
