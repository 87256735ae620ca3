"""The topic catalog and the registry of event types.

Every topic is created up front with its final partition count (the local broker cannot add
partitions later, and neither should production). Keys keep one case's events in order: our own
topics are keyed by case id, partner topics by the partner's case number.
"""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import BaseModel

from events import auth, calendar, deadlines, followup, intake, legalaid, mediation, notification, partner, supervision

CONTRACT_URN = "urn:laborcase:contract"


@dataclass(frozen=True)
class Topic:
    name: str
    partitions: int
    key: str
    description: str


#: What a dead-letter topic's name ends with (``dead_letter_topic``).
DEAD_LETTER_SUFFIX = ".dlq"


def dead_letter_topic(topic: str) -> str:
    """The dead-letter topic of a consumed topic."""
    return f"{topic}{DEAD_LETTER_SUFFIX}"


_SERVICE_TOPICS = {
    "intake": "intake.events",
    "mediation": "mediation.events",
    "legal_aid": "legalaid.events",
    "followup": "followup.events",
    "supervision": "supervision.events",
    "notification": "notification.events",
}

#: What each service consumes (its consumer group is ``laborcase.<service>``).
CONSUMES: dict[str, tuple[str, ...]] = {
    "intake": ("court.events", "bureau.events", "followup.events"),
    "mediation": ("intake.events", "court.events", "bureau.events", "followup.events"),
    "legal_aid": ("intake.events", "mediation.events", "bureau.events", "followup.events"),
    "followup": ("intake.events", "mediation.events", "legalaid.events", "supervision.events"),
    "supervision": (
        "intake.events",
        "mediation.events",
        "legalaid.events",
        "followup.events",
        "court.events",
        "bureau.events",
        "court.feedback",
        "bureau.feedback",
    ),
    # the worker's SMS and the staff's in-console notices (worker.notices carries the query code: read here only)
    "notification": ("intake.events", "mediation.events", "followup.events", "worker.notices"),
}

#: Where each service writes (besides dead letters and the marker): its own topic; intake's HTTP ingress passes
#: signed partner events on to the partner topics; mediation answers courts and bureaus on the feedback topics.
PUBLISHES: dict[str, tuple[str, ...]] = {
    "intake": ("intake.events", "court.events", "bureau.events", "worker.notices"),
    "mediation": ("mediation.events", "court.feedback", "bureau.feedback"),
    "legal_aid": ("legalaid.events",),
    "followup": ("followup.events",),
    "supervision": ("supervision.events",),
    "notification": ("notification.events",),
}

SERVICES: tuple[str, ...] = tuple(_SERVICE_TOPICS)

MARKER_TOPIC = "laborcase.markers"
#: The worker's notices: what the notification service alone reads (a new query code in plain text, for its SMS).
WORKER_NOTICES = "worker.notices"
#: Where partners write; every record there must carry its sender's signature (docs/domain/partner-contracts.md).
PARTNER_TOPICS: tuple[str, ...] = ("court.events", "bureau.events")


def _topics() -> dict[str, Topic]:
    topics = [
        *(Topic(t, 8, "case_id", f"events published by {s}") for s, t in _SERVICE_TOPICS.items()),
        Topic("court.events", 8, "court_case_no", "inbound: courts (referrals, confirmation decisions, filings)"),
        Topic("bureau.events", 8, "arbitration_case_no", "inbound: labor bureaus / arbitration commissions"),
        Topic("court.feedback", 4, "court_case_no", "outbound: the union's answers to courts"),
        Topic("bureau.feedback", 4, "arbitration_case_no", "outbound: the union's answers to bureaus"),
        Topic(MARKER_TOPIC, 1, "service", "broker generation markers (detects a broker that lost its log)"),
        Topic(WORKER_NOTICES, 4, "case_id", "intake → notification only: query codes in plain text for the worker's SMS"),
    ]
    consumed = sorted({t for ts in CONSUMES.values() for t in ts})
    topics += [Topic(dead_letter_topic(t), 1, "as original", f"dead letters of {t}") for t in consumed]
    return {t.name: t for t in topics}


TOPICS: dict[str, Topic] = _topics()


def service_topic(service: str) -> str:
    return _SERVICE_TOPICS[service]


@dataclass(frozen=True)
class EventSpec:
    type: str
    version: int
    model: type[BaseModel]
    topics: tuple[str, ...]
    public: bool = False
    """Public events are part of the partner contract: they may never break."""

    @property
    def dataschema(self) -> str:
        return f"{CONTRACT_URN}:{self.type}:v{self.version}"


_ALL_SERVICE_TOPICS = tuple(_SERVICE_TOPICS.values())

_SPECS = [
    # partner → union
    EventSpec("court.case_referred", 1, partner.CourtCaseReferred, ("court.events",), public=True),
    EventSpec("court.confirmation_decided", 1, partner.CourtConfirmationDecided, ("court.events",), public=True),
    EventSpec("court.case_filed", 1, partner.CourtCaseFiled, ("court.events",), public=True),
    EventSpec("bureau.case_referred", 1, partner.BureauCaseReferred, ("bureau.events",), public=True),
    EventSpec("bureau.arbitration_accepted", 1, partner.BureauArbitrationAccepted, ("bureau.events",), public=True),
    EventSpec("bureau.award_issued", 1, partner.BureauAwardIssued, ("bureau.events",), public=True),
    # union → partner
    EventSpec(
        "union.mediation_settled", 1, partner.UnionMediationSettled, ("court.feedback", "bureau.feedback"), True
    ),
    EventSpec("union.confirmation_requested", 1, partner.UnionConfirmationRequested, ("court.feedback",), True),
    EventSpec(
        "union.mediation_failed", 1, partner.UnionMediationFailed, ("court.feedback", "bureau.feedback"), True
    ),
    # intake
    EventSpec("intake.case_received", 1, intake.CaseReceived, ("intake.events",)),
    EventSpec("intake.case_linked", 1, intake.CaseLinked, ("intake.events",)),
    EventSpec("intake.case_triaged", 1, intake.CaseTriaged, ("intake.events",)),
    EventSpec("intake.case_reclassified", 1, intake.CaseReclassified, ("intake.events",)),
    EventSpec("intake.case_dispatched", 1, intake.CaseDispatched, ("intake.events",)),
    EventSpec("intake.case_declined", 1, intake.CaseDeclined, ("intake.events",)),
    EventSpec("intake.case_answered", 1, intake.CaseAnswered, ("intake.events",)),
    EventSpec("intake.submission_rejected", 1, intake.SubmissionRejected, ("intake.events",)),
    # mediation
    EventSpec("mediation.case_opened", 1, mediation.CaseOpened, ("mediation.events",)),
    EventSpec("mediation.mediator_assigned", 1, mediation.MediatorAssigned, ("mediation.events",)),
    EventSpec("mediation.assignment_accepted", 1, mediation.AssignmentAnswered, ("mediation.events",)),
    EventSpec("mediation.assignment_declined", 1, mediation.AssignmentAnswered, ("mediation.events",)),
    EventSpec("mediation.assignment_pending", 1, mediation.AssignmentPending, ("mediation.events",)),
    EventSpec("mediation.session_scheduled", 1, mediation.SessionScheduled, ("mediation.events",)),
    EventSpec("mediation.session_held", 1, mediation.SessionHeld, ("mediation.events",)),
    EventSpec("mediation.settled", 1, mediation.Settled, ("mediation.events",)),
    EventSpec("mediation.confirmation_recorded", 1, mediation.ConfirmationRecorded, ("mediation.events",)),
    EventSpec("mediation.failed", 1, mediation.Failed, ("mediation.events",)),
    EventSpec("mediation.withdrawn", 1, mediation.Withdrawn, ("mediation.events",)),
    EventSpec("mediation.case_resolved", 1, mediation.CaseResolved, ("mediation.events",)),
    EventSpec("mediation.handed_to_legal_aid", 1, mediation.HandedToLegalAid, ("mediation.events",)),
    EventSpec("mediation.partner_progress", 1, mediation.PartnerProgress, ("mediation.events",)),
    EventSpec("mediation.window_extended", 1, mediation.WindowExtended, ("mediation.events",)),
    # legal aid
    EventSpec("legalaid.application_received", 1, legalaid.ApplicationReceived, ("legalaid.events",)),
    EventSpec("legalaid.eligibility_decided", 1, legalaid.EligibilityDecided, ("legalaid.events",)),
    EventSpec("legalaid.objection_filed", 1, legalaid.ObjectionFiled, ("legalaid.events",)),
    EventSpec("legalaid.objection_reviewed", 1, legalaid.ObjectionReviewed, ("legalaid.events",)),
    EventSpec("legalaid.lawyer_assigned", 1, legalaid.LawyerAssigned, ("legalaid.events",)),
    EventSpec("legalaid.progress_recorded", 1, legalaid.ProgressRecorded, ("legalaid.events",)),
    EventSpec("legalaid.case_concluded", 1, legalaid.CaseConcluded, ("legalaid.events",)),
    EventSpec("mediation.case_reopened", 1, mediation.CaseReopened, ("mediation.events",)),
    # follow-up
    EventSpec("followup.scheduled", 1, followup.FollowupScheduled, ("followup.events",)),
    EventSpec("followup.attempted", 1, followup.FollowupAttempted, ("followup.events",)),
    EventSpec("followup.completed", 1, followup.FollowupCompleted, ("followup.events",)),
    EventSpec("followup.instalment_paid", 1, followup.InstalmentChecked, ("followup.events",)),
    EventSpec("followup.instalment_missed", 1, followup.InstalmentChecked, ("followup.events",)),
    EventSpec("followup.escalated", 1, followup.FollowupEscalated, ("followup.events",)),
    EventSpec("followup.case_closed", 1, followup.CaseClosed, ("followup.events",)),
    EventSpec("followup.case_reopened", 1, followup.CaseReopened, ("followup.events",)),
    EventSpec("followup.flagged", 1, followup.CaseFlagged, ("followup.events",)),
    # supervision
    # v2: an alert may be about a possible duplicate across scopes (kind "duplicate")
    *(EventSpec(f"supervision.alert_{change}", 2, supervision.AlertChanged, ("supervision.events",))
      for change in ("raised", "escalated", "acknowledged", "resolved")),
    # durable deadlines, published by whichever service owns the clock
    *(
        EventSpec(f"deadline.{signal}", 1, deadlines.DeadlineSignal, _ALL_SERVICE_TOPICS)
        for signal in ("started", "warning", "breached", "paused", "resumed", "extended", "met", "cancelled",
                       "handed_over")
    ),
    EventSpec("calendar.year_loaded", 1, calendar.CalendarYearLoaded, ("intake.events",)),
    EventSpec("auth.session_revoked", 1, auth.SessionRevoked, ("intake.events",)),
    EventSpec("intake.duplicate_suspected", 1, intake.DuplicateSuspected, ("intake.events",)),
    EventSpec("calendar.year_missing", 1, calendar.CalendarYearMissing, _ALL_SERVICE_TOPICS),
    # issue 18: evidence added to a case (supervision puts it on the timeline; no content, no personal data)
    EventSpec("intake.attachment_added", 1, intake.AttachmentAdded, ("intake.events",)),
    # notification: what became of a message to a worker (no phone number, no text)
    EventSpec("notification.sent", 1, notification.MessageOutcome, ("notification.events",)),
    EventSpec("notification.failed", 1, notification.MessageOutcome, ("notification.events",)),
    # the worker's door (docs/domain/worker-door.md): the code in plain text only to the notification service
    EventSpec("intake.query_code_issued", 1, intake.QueryCodeIssued, (WORKER_NOTICES,)),
    EventSpec("intake.query_code_set", 1, intake.QueryCodeSet, ("intake.events",)),
    EventSpec("supervision.worker_rated", 1, supervision.WorkerRated, ("supervision.events",)),
]

EVENTS: dict[str, EventSpec] = {s.type: s for s in _SPECS}


def spec_for(event_type: str) -> EventSpec | None:
    return EVENTS.get(event_type)


def carried_by(event_type: str, topics: tuple[str, ...] | list[str]) -> bool:
    """Whether a service reading ``topics`` receives events of this type."""
    spec = EVENTS.get(event_type)
    return spec is not None and bool(set(spec.topics) & set(topics))

