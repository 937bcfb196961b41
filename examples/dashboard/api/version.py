"""The app's version: shown on the dashboard and in every health answer."""

VERSION = "1.0.0"
