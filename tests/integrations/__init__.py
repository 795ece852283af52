"""The orchestrator hooks, each tested in its orchestrator's own virtualenv
(``make test-integrations``); ``make test`` leaves this directory out."""
