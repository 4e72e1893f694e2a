"""The Faust wiring: topics in, tables and Redis out. The only package that knows Kafka."""
