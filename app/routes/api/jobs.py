"""API v1: optimization jobs: list, one job with progress, its report; create, cancel, re-run, delete (admin)."""

from __future__ import annotations

from app.routes.api import schemas as s
from app.routes.api.base import make_blueprint, require_admin
from app.services.optimizer import jobs

bp = make_blueprint("api_jobs", tag="Jobs")
JOB_ID = "<int(max=9007199254740991):job_id>"


@bp.get("/jobs")
@bp.input(s.JobListQuery, location="query")
@bp.output(s.JobListOut)
def list_jobs(query_data: s.JobListQuery):
    """The newest jobs first, each with progress (runs/s, ETA while running)."""
    return {"jobs": [jobs.describe_job(job) for job in jobs.list_jobs(limit=query_data.limit)]}


@bp.get(f"/jobs/{JOB_ID}")
@bp.output(s.JobOut)
def get_job(job_id: int):
    """One job with its progress; 404 when unknown."""
    return jobs.describe_job(jobs.get_job(job_id))


@bp.get(f"/jobs/{JOB_ID}/report")
@bp.output(s.JobReportOut)
def job_report(job_id: int):
    """The job's report: every slice's best and robust run, walk-forward and Monte Carlo checks, lookahead guard."""
    return jobs.job_report(job_id)


@bp.post("/jobs")
@bp.input(s.JobCreateIn, location="json")
@bp.output(s.JobOut, status_code=201)
def create_job(json_data: s.JobCreateIn):
    """Create a pending job (admin); what is left out defaults to the weekly sweep's scope and range."""
    require_admin()
    return jobs.describe_job(jobs.create_sweep_job(**json_data.model_dump(exclude_none=True)))


@bp.post(f"/jobs/{JOB_ID}/cancel")
@bp.output(s.ProgressOut)
def cancel_job(job_id: int):
    """Cancel a pending or running job (admin): it stops at the next slice, keeping what it stored; 409 otherwise."""
    require_admin()
    return jobs.cancel_job(job_id)


@bp.post(f"/jobs/{JOB_ID}/rerun")
@bp.output(s.JobOut, status_code=201)
def rerun_job(job_id: int):
    """Create a new pending job with the same spec (admin)."""
    require_admin()
    return jobs.describe_job(jobs.rerun_job(job_id))


@bp.delete(f"/jobs/{JOB_ID}")
@bp.output({}, status_code=204)
def delete_job(job_id: int):
    """Delete a job with its slices and runs (admin); 409 while it is pending or running (cancel it first)."""
    require_admin()
    jobs.delete_job(job_id)
    return ""
