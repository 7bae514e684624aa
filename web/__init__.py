"""The hotline's web side-app: supervisor board, agent page, call log, reports, planner, API."""
