"""Wire formats: every message on every topic is one of these pydantic models.

The bottom floor: one module per message, plus decoding and dead-letter helpers. It imports pydantic only,
nothing of this project outside `schemas/`.
"""

from schemas.dead_letter import DeadLetter, ErrorDetail
from schemas.decision_record import CandidateSummary, DecisionRecord, Violation
from schemas.decoding import DecodeError, dead_letter, decode, readable_errors
from schemas.fraud_drift import FraudDrift
from schemas.fraud_label import FraudLabel
from schemas.fraud_review import FraudReview, ReviewDecision
from schemas.fraud_score import FraudScore, ScoreReason
from schemas.location import GeoPoint, Location, PlanePoint, TimeWindow
from schemas.order_event import OrderEvent
from schemas.route_plan import PlannedStop, RoutePlan, UnassignedOrder, VehicleRoute
from schemas.traffic_event import CircleArea, SegmentArea, TrafficEvent, ZoneArea
from schemas.transaction import Transaction
from schemas.vehicle_event import VehicleEvent
from schemas.wire_model import SCHEMA_VERSION, WireModel, WireValue

# The top-level messages, one JSON Schema file each.
WIRE_MODELS: dict[str, type[WireModel]] = {
    model.__name__: model
    for model in (
        OrderEvent, VehicleEvent, TrafficEvent, Transaction, RoutePlan, DecisionRecord, FraudScore, FraudLabel,
        FraudReview, FraudDrift, DeadLetter,
    )
}

__all__ = [
    "SCHEMA_VERSION", "WIRE_MODELS", "CandidateSummary", "CircleArea", "DeadLetter", "DecisionRecord", "DecodeError",
    "ErrorDetail", "FraudDrift", "FraudLabel", "FraudReview", "FraudScore", "GeoPoint", "Location", "OrderEvent",
    "PlanePoint", "PlannedStop", "ReviewDecision", "RoutePlan", "ScoreReason", "SegmentArea", "TimeWindow",
    "TrafficEvent", "Transaction", "UnassignedOrder", "VehicleEvent", "VehicleRoute", "Violation", "WireModel",
    "WireValue", "ZoneArea", "dead_letter", "decode", "readable_errors",
]
