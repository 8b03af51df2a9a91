"""Hatch build plugin for AWS Lambda: a thin function zip plus reusable dependency and binary layers."""

__version__ = "0.1.0"
