"""Public CSV data turned into recorded event logs, so an offline backtest can replay real streams.

Three sources (see ../shared/data/SOURCES.md): NYC taxi trips → orders + vehicles, a Liverpool bus's GPS
pings → vehicles + synthetic parcel orders, the fraud handbook → transactions + late fraud labels. Every
rule that fills a gap in the data is written into the log header. Output is deterministic: the same
input gives a byte-identical log (no wall clock, no randomness, explicit sort keys, rounded coordinates).

Each source has its module (`taxi`, `bus`, `fraud`); `log_writing` holds what they share. Pure: files in,
files out, no Kafka. May import `engine.fraud`, `engine.routes`, `engine.replay.event_log` and `schemas`.
"""

from engine.replay.datasets.bus import BusLogSummary, bus_log
from engine.replay.datasets.fraud import FraudLogSummary, fraud_log
from engine.replay.datasets.taxi import TaxiLogSummary, ZonePlacement, place_zones, taxi_log

__all__ = ["BusLogSummary", "FraudLogSummary", "TaxiLogSummary", "ZonePlacement", "bus_log", "fraud_log",
           "place_zones", "taxi_log"]
