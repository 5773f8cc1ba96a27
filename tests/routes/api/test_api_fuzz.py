"""Property-based fuzzing of the whole API spec with Schemathesis: no 5xx, answers as the spec says.

In-process (WSGI, no network), bounded examples per operation so CI stays
fast: ``FUZZ_EXAMPLES`` (default 20) generated cases per operation and mode
(positive: valid by the spec; negative: invalid on purpose, which must be
4xx; known: valid, with the path's ids and names fixed to existing ones), as an
admin (every branch open) on a small completed job. Each operation's count
of examples and of server errors is printed in pytest's summary (``tests/routes/api/conftest.py``).
"""

from __future__ import annotations

import os
from collections import Counter
from typing import Any

import pytest
import schemathesis
from flask_migrate import stamp
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.checks import not_a_server_error
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from sqlalchemy import select

from app.models import OptimizationRun
from app.services.accounts import api_tokens

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "20"))
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
COUNTS: Counter = Counter()
SERVER_ERRORS: Counter = Counter()


def _operations() -> list[tuple[str, str]]:
    """(method, path) of every operation in the spec, read once at collection from a bare app."""
    from app import create_app
    from config import TestingConfig

    spec = create_app(TestingConfig).test_client().get("/api/v1/openapi.json").get_json()
    return [(method.upper(), path) for path, ops in spec["paths"].items() for method in ops]


# Parametrized by hand: schemathesis' own ``parametrize``/``from_fixture`` needs a pytest private this pytest lacks.
def _known(db, api, stored_job, path: str) -> dict[str, Any]:
    """Existing ids and names for the path's parameters, so generated cases also reach the 2xx branches."""
    run_id = db.session.scalar(select(OptimizationRun.id).where(OptimizationRun.job_id == stored_job.id).limit(1))
    token_id = api_tokens.list_tokens(api.users["admin"])[0].id
    known = {"job_id": stored_job.id, "run_id": run_id, "token_id": token_id, "name": "imbalance"}
    return {name: value for name, value in known.items() if "{" + name + "}" in path}


@pytest.mark.parametrize("mode", ["positive", "negative", "known"])
@pytest.mark.parametrize("method, path", _operations())
def test_no_server_error_and_answers_match_the_spec(app, db, api, stored_job, method, path, mode):
    stamp()  # the tables come from create_all: mark them as at head, so /health answers 200
    operation = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)[path][method]
    headers = api.headers("admin")
    label = f"{method} {path} ({mode})"
    if mode == "known":
        known = _known(db, api, stored_job, path)
        if not known:
            pytest.skip(f"{label}: no path parameter to fix")
        strategy = operation.as_strategy(path_parameters=known)
    else:
        strategy = operation.as_strategy(generation_mode=GenerationMode(mode))

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
        database=None,
    )
    @given(case=strategy)
    def fuzz(case):
        response = case.call(headers=headers)
        COUNTS[label] += 1
        if response.status_code >= 500:
            SERVER_ERRORS[label] += 1
        case.validate_response(response, checks=CHECKS)

    try:
        fuzz()
    except Unsatisfiable:
        if mode == "negative":  # no parameter to make invalid (no input, or free text)
            pytest.skip(f"{label}: nothing in the spec can be made invalid")
        raise
    assert COUNTS[label] > 0 and SERVER_ERRORS[label] == 0
