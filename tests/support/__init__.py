"""Helpers the tests import: real runs (``runs``) and trace back-ends served over HTTP
(``backends``). Fixtures live in the conftest files, not here."""
