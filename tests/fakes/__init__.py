"""Test doubles that live only in tests/: never shipped in the package."""
