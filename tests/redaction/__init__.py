"""Tests of the redaction processor."""
