"""Recorded event logs: the file format (pure); recording and replaying live in agents/."""
