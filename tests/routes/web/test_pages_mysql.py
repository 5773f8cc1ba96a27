"""The jobs page's filters and best result, and the pages of a finished job, on MySQL/MariaDB (skipped without it)."""

from app.services.optimizer import job_list
from app.services.optimizer.runner import JobRunner
from tests.conftest import requires_mysql
from tests.routes.web.helpers import make_users, sign_in
from tests.routes.web.site import SYMBOL, TIMEFRAME, create_quick_job, load_market

pytestmark = requires_mysql


def test_pages_on_mysql(mysql_app):
    load_market()
    users = make_users()
    done = create_quick_job(name="mysql finished")
    JobRunner(workers=1).run(done.id)
    pending = create_quick_job(name="mysql pending", strategies=["imbalance"])
    by_strategy = job_list.jobs_page(strategy="macd")
    assert [row["id"] for row in by_strategy["rows"]] == [done.id]
    assert by_strategy["rows"][0]["best"]["slice"].startswith(f"{SYMBOL}|{TIMEFRAME}|")
    assert [row["id"] for row in job_list.jobs_page(status="pending")["rows"]] == [pending.id]
    assert job_list.jobs_page(strategy="imbalance")["total"] == 2

    client = mysql_app.test_client()
    assert sign_in(client, users["admin"]).status_code == 302
    market = f"{SYMBOL}|{TIMEFRAME}|macd"
    for path in (
        "/admin/optimization?strategy=macd",
        f"/admin/optimization/{done.id}",
        f"/admin/optimization/{done.id}/runs?sort=win_rate&order=asc&params=slow%3D24",
        f"/admin/optimization/compare.json?job_id={done.id}&slice={market}&x=slow&y=rr_target",
        "/admin/optimization/best",
        "/admin/patterns/duplicates",
        "/",
    ):
        assert client.get(path).status_code == 200, path
