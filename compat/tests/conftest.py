"""The evaluator's session-trained model (and its temporary VAR_DIR) for the compat tests."""

from __future__ import annotations

from evaluator.tests.conftest import (  # noqa: F401 - fixtures
    _clean_state,
    _evaluator_var_dir,
    active_run,
    trained,
)
