"""The dashboard in a real browser: Debian's Chromium driven by Playwright, the app served on a loopback port.

Sign in as admin, create a QUICK job with the New job form, let the cron runner
(``scripts/run_optimization.py``, a separate process) run it while the progress
bar reaches 100% without a reload, open the detail and the compare heatmap and
read the marked best cell, Apply one slice and see the production set change,
then sign in as a free user and get 403 on the admin area. Every request the
page makes is intercepted: anything not for 127.0.0.1 is aborted and fails the
test. Screenshots of each page go to ``tests/artifacts/browser/`` (git-ignored).

Skips when Playwright or a Chromium is missing (``CHROMIUM_PATH``, else
``chromium`` on the PATH; ``.ci/run`` installs it through apt).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
from urllib.parse import urlsplit

import pytest

from app import create_app
from app.extensions import db as _db
from app.services.optimizer import results
from app.services.params import parameter_sets
from config import TestingConfig
from tests.conftest import REPO_ROOT
from tests.routes.web.helpers import PASSWORD, make_users
from tests.routes.web.site import END, START, SYMBOL, TIMEFRAME, build_site, load_market
from tests.services.outcomes.test_monitor import alarmed_sets

playwright_api = pytest.importorskip("playwright.sync_api", reason="Playwright for Python is not installed")
CHROMIUM = os.environ.get("CHROMIUM_PATH") or shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(not CHROMIUM, reason="no Chromium (set CHROMIUM_PATH or install chromium)")

ARTIFACTS = REPO_ROOT / "tests" / "artifacts" / "browser"
JOB_NAME = "browser quick job"
WAIT_MS = 240_000


class BrowserConfig(TestingConfig):
    """The served app: CSRF on (as in production), many sign-ins allowed from one address."""

    WTF_CSRF_ENABLED = True
    LOGIN_RATE_LIMIT = "1000 per minute"


def _serve(tmp_path, monkeypatch, build):
    """The app on a SQLite file with what ``build`` stores, served on 127.0.0.1 in a thread."""
    from werkzeug.serving import make_server

    url = f"sqlite:///{tmp_path / 'browser.db'}"
    monkeypatch.setenv("DATABASE_URL", url)
    app = create_app(BrowserConfig)
    with app.app_context():
        _db.create_all()
        built = build()
        server = make_server("127.0.0.1", 0, app, threaded=True)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        yield {"base": f"http://127.0.0.1:{server.server_port}", "database_url": url, "app": app, **built}
        server.shutdown()
        thread.join(timeout=10)
        _db.session.remove()
        _db.drop_all()


def _market_and_users() -> dict:
    load_market()
    return {"users": make_users()}


@pytest.fixture
def served(tmp_path, monkeypatch):
    """The app with BNB/USDT 1d candles and users (the journey creates its job through the form)."""
    yield from _serve(tmp_path, monkeypatch, _market_and_users)


@pytest.fixture
def served_site(tmp_path, monkeypatch):
    """The app with the finished site of the page tests (``site.build_site``: candles, patterns, a QUICK job)."""
    yield from _serve(tmp_path, monkeypatch, build_site)


def _start_cron_runner(database_url: str) -> subprocess.Popen:
    """Run ``scripts/run_optimization.py`` as cron does: it picks the oldest pending job up."""
    env = {**os.environ, "DATABASE_URL": database_url, "CRYPTOLENS_ENV": "testing", "OPTIMIZER_WORKERS": "1"}
    return subprocess.Popen(
        [sys.executable, str(REPO_ROOT / "scripts" / "run_optimization.py")],
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _shot(page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def _sign_in(page, base: str, email: str) -> None:
    page.goto(f"{base}/login")
    page.fill("#email", email)
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/")


def test_admin_journey_and_free_user_in_a_real_browser(served):
    base = served["base"]
    requested, refused = [], []

    def only_loopback(route):
        host = urlsplit(route.request.url).hostname
        requested.append(route.request.url)
        if host != "127.0.0.1":
            refused.append(route.request.url)
            return route.abort()
        return route.continue_()

    with playwright_api.sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=["--no-sandbox", "--disable-background-networking", "--disable-component-update", "--no-first-run"],
        )
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        context.route("**/*", only_loopback)
        page = context.new_page()
        page.set_default_timeout(30_000)
        runner = None
        try:
            # Sign in as admin; the dashboard answers.
            page.goto(f"{base}/login")
            _shot(page, "01-sign-in")
            _sign_in(page, base, served["users"]["admin"])
            assert page.inner_text("h1") == "Dashboard"
            _shot(page, "02-dashboard")

            # Create a QUICK job with the New job form.
            page.goto(f"{base}/admin/optimization")
            page.fill("#name", JOB_NAME)
            page.check(f'input[name="symbols"][value="{SYMBOL}"]')
            page.check(f'input[name="timeframes"][value="{TIMEFRAME}"]')
            for strategy in ("imbalance", "macd"):
                page.check(f'input[name="strategies"][value="{strategy}"]')
            page.select_option("#preset", "quick")
            page.fill("#start_date", START)
            page.fill("#end_date", END)
            page.click("#new-job-form button[type=submit]")
            page.wait_for_selector(".flash")
            assert "the optimization runner picks it up" in page.inner_text(".flash")
            row = page.locator("#jobs tbody tr").first
            job_id = int(row.get_attribute("id").removeprefix("job-"))
            assert page.inner_text(f"#status-{job_id}") == "pending"
            _shot(page, "03-jobs-pending")

            # The cron runner picks it up; the bar reaches 100% without a reload.
            page.evaluate("window.__notReloaded = true")
            runner = _start_cron_runner(served["database_url"])
            page.wait_for_function(
                f"document.querySelector('#progress-{job_id} .pct').textContent === '100.0%'", timeout=WAIT_MS
            )
            page.wait_for_function(f"document.getElementById('status-{job_id}').textContent === 'completed'")
            # The finished row is fetched again in place: its best result and actions appear, still no reload.
            page.wait_for_function(f"document.getElementById('job-{job_id}').innerText.includes('composite_score')")
            assert page.evaluate("window.__notReloaded") is True
            assert runner.wait(timeout=120) == 0, runner.stdout.read()
            _shot(page, "04-jobs-completed")

            # Detail: scope, slices, the runs table (htmx), a best run's trades.
            page.click(f"#job-{job_id} a >> nth=0")
            page.wait_for_selector("#runs-table")
            assert f"{SYMBOL} {TIMEFRAME} macd" in page.inner_text("#slices")
            _shot(page, "05-job-detail")
            # The slice's own page: its best run's equity chart and trade list load by themselves.
            page.click(f"#slices a:text('{SYMBOL} {TIMEFRAME} macd')")
            page.wait_for_selector("#trades", state="attached")
            _shot(page, "05-slice")

            # Compare: the marked best cell is the service's best cell.
            market = f"{SYMBOL}|{TIMEFRAME}|macd"
            page.goto(f"{base}/admin/optimization/compare?job_id={job_id}&slice={market}&x=slow&y=rr_target")
            page.wait_for_function("document.getElementById('best-cell').dataset.x !== undefined")
            cell = page.locator("#best-cell")
            with served["app"].app_context():
                best = results.compare_matrix(
                    job_id=job_id, symbol=SYMBOL, timeframe=TIMEFRAME, strategy="macd", x="slow", y="rr_target"
                )["best"]
            marked = (float(cell.get_attribute("data-x")), float(cell.get_attribute("data-y")))
            assert marked == (float(best["x"]), float(best["y"]))
            assert "neighbourhood mean" in cell.inner_text()
            _shot(page, "06-compare")

            # Best parameters: Apply one slice (confirmation first), the production set changes.
            page.goto(f"{base}/admin/optimization/best")
            row_id = f"#best-{SYMBOL.replace('/', '')}-{TIMEFRAME}-macd"
            assert "defaults" in page.inner_text(f"{row_id} .production")
            page.wait_for_selector("#proposals")
            # One in-sample sweep proves nothing: no Apply, the row says which check of the gate refuses, and the
            # run's provenance line (DSR, PBO, trials) is marked as no better than luck.
            assert page.locator(f"{row_id} button.apply").count() == 0
            assert page.inner_text(f"{row_id} .refusal").startswith("no walk-forward")
            assert page.inner_text(f"{row_id} .provenance-line").startswith("DSR")
            assert page.locator(f"{row_id} .provenance-line.luck").count() == 1
            _shot(page, "07-apply-refused")
            # With the gate's evidence checks off (what promotion does, not whether), Apply confirms and applies.
            served["app"].config.update(AUTOTUNE_MIN_DSR=0.0, AUTOTUNE_MAX_PBO=1.0, AUTOTUNE_REQUIRE_WALK_FORWARD=False)
            page.goto(f"{base}/admin/optimization/best")
            page.click(f"{row_id} button.apply")
            page.wait_for_selector("#confirm-apply")
            after = page.inner_text("#apply-after")
            _shot(page, "07-apply-confirm")
            page.click("#confirm-apply")
            page.wait_for_selector(".flash")
            assert "applied" in page.inner_text(".flash")
            assert page.inner_text(f"{row_id} .production code") == after
            with served["app"].app_context():
                active = parameter_sets.active_set(symbol=SYMBOL, timeframe=TIMEFRAME, strategy="macd")
            assert active is not None and active["applied_by"] == served["users"]["admin"]
            _shot(page, "08-best-applied")

            # Sign out; a free user gets 403 on the admin area.
            page.click("header.top button")
            page.wait_for_url(f"{base}/login")
            _sign_in(page, base, served["users"]["free"])
            assert page.locator("#upgrade-message").is_visible()
            response = page.goto(f"{base}/admin/optimization")
            assert response.status == 403 and "this needs an admin account" in page.inner_text("#error-message")
            _shot(page, "09-free-user-403")
        except Exception:
            _shot(page, "failure")
            (ARTIFACTS / "failure.html").write_text(page.content())
            raise
        finally:
            if runner is not None and runner.poll() is None:
                runner.kill()
            context.close()
            browser.close()

    assert requested and not refused, f"requests left 127.0.0.1: {refused}"
    assert all(urlsplit(url).hostname == "127.0.0.1" for url in requested)
    assert any("/static/vendor/echarts-6.1.0/echarts.min.js" in url for url in requested)


# Every page of the tour at 1440x900: name, path ({job} and {slice} filled in), whether it answers 404 on purpose.
TOUR = (
    ("dashboard", "/", False),
    ("jobs", "/admin/optimization", False),
    ("job-detail", "/admin/optimization/{job}", False),
    ("slice", "/admin/optimization/{job}/slices/{slice}", False),
    ("compare", "/admin/optimization/compare?job_id={job}", False),
    ("best", "/admin/optimization/best", False),
    ("preferences", "/preferences", False),
    ("duplicates", "/admin/patterns/duplicates", False),
    ("data", "/admin/data", False),
    ("outcomes", f"/admin/outcomes?slice={SYMBOL}|{TIMEFRAME}|macd", False),
    ("scripts", "/scripts", False),
    ("profile", "/profile", False),
    ("job-404", "/admin/optimization/999999", True),
)
VIEWPORT = {"width": 1440, "height": 900}
MAX_DETAIL_HEIGHT = 3 * VIEWPORT["height"]
CHART_JS = """() => {
  const chart = echarts.getInstanceByDom(document.getElementById('price-chart'));
  const series = chart.getOption().series[0];
  return {candles: series.data.length, zones: series.markArea.data.length, levels: series.markLine.data.length};
}"""


def test_every_page_fits_the_screen_and_the_dashboard_chart_draws_the_zones(served_site):
    """No page scrolls sideways at 1440x900, the job detail is at most 3 screens, no console error, loopback only."""
    base, job_id = served_site["base"], served_site["job_id"]
    requested, refused, errors = [], [], []

    def only_loopback(route):
        requested.append(route.request.url)
        if urlsplit(route.request.url).hostname != "127.0.0.1":
            refused.append(route.request.url)
            return route.abort()
        return route.continue_()

    with playwright_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox", "--no-first-run"])
        context = browser.new_context(viewport=VIEWPORT)
        context.route("**/*", only_loopback)
        page = context.new_page()
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        try:
            _sign_in(page, base, served_site["users"]["admin"])
            page.goto(f"{base}/admin/optimization/{job_id}")
            slice_id = page.get_attribute("#slices tbody tr", "id").removeprefix("slice-")
            sizes = {}
            for name, path, missing in TOUR:
                errors.clear()
                response = page.goto(base + path.format(job=job_id, slice=slice_id))
                page.wait_for_load_state("networkidle")
                assert (response.status == 404) is missing, name
                sizes[name] = page.evaluate(
                    "[document.documentElement.scrollWidth, document.documentElement.scrollHeight]"
                )
                _shot(page, f"tour-{name}")
                assert sizes[name][0] <= VIEWPORT["width"], f"{name} scrolls sideways: {sizes[name]}"
                assert missing or not errors, f"{name}: console errors {errors}"
                if name == "dashboard":
                    page.wait_for_function("document.getElementById('price-chart').dataset.loaded === '1'")
                    drawn = page.evaluate(CHART_JS)
                    zones = page.evaluate("document.getElementById('price-chart').chartData.zones.length")
                    assert drawn["candles"] > 0 and drawn["zones"] == zones > 0 and drawn["levels"] >= 2
            assert sizes["job-detail"][1] <= MAX_DETAIL_HEIGHT, sizes["job-detail"]
        finally:
            context.close()
            browser.close()
    assert requested and not refused, f"requests left 127.0.0.1: {refused}"


@pytest.fixture
def served_alarm(tmp_path, monkeypatch):
    """The app with an alarmed and an on-track production set (``alarmed_sets``) and users."""

    def build() -> dict:
        first, bad, good = alarmed_sets(_db, monkeypatch, seed=5, trades=(60, 40))
        return {"users": make_users(), "first": first, "bad": bad}

    yield from _serve(tmp_path, monkeypatch, build)


OUTCOMES_CHART_JS = """() => {
  const option = echarts.getInstanceByDom(document.getElementById('outcomes-chart')).getOption();
  return Object.fromEntries(option.series.map(s => [s.name, s.data.length]));
}"""


def test_the_outcomes_page_draws_live_against_the_band_and_rolls_back(served_alarm):
    """Dashboard's alarm-first board -> the alarmed slice's page: its chart drawn, two screens, Roll back (CSRF on)."""
    base, errors = served_alarm["base"], []
    with playwright_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox", "--no-first-run"])
        page = browser.new_context(viewport=VIEWPORT).new_page()
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        try:
            _sign_in(page, base, served_alarm["users"]["admin"])
            errors.clear()  # the sign-in page's favicon.ico 404
            first_row = page.wait_for_selector("#monitor-board tbody tr")
            assert "imbalance" in first_row.inner_text() and first_row.query_selector(".badge.monitor.alarm")
            _shot(page, "outcomes-01-dashboard-board")
            first_row.query_selector("a").click()
            page.wait_for_selector("#outcomes-chart[data-loaded='1']")
            drawn = page.evaluate(OUTCOMES_CHART_JS)
            assert drawn["live"] == drawn["expected median"] == drawn["expected 5%–95%"] == 61  # trade 0..60
            width, height = page.evaluate(
                "[document.documentElement.scrollWidth, document.documentElement.scrollHeight]"
            )
            _shot(page, "outcomes-02-alarmed-slice")
            assert width <= VIEWPORT["width"] and height <= 2 * VIEWPORT["height"], (width, height)
            page.click("#suggestion button.rollback")
            page.wait_for_selector(".flash")
            assert "rolled back BTC/USDT 1d imbalance" in page.inner_text(".flash")
            assert "/admin/outcomes?slice=" in page.url
            _shot(page, "outcomes-03-rolled-back")
            assert not errors, errors
        finally:
            browser.close()
    active = parameter_sets.active_set(symbol="BTC/USDT", timeframe="1d", strategy="imbalance")
    assert active["restored_from"] == served_alarm["first"]["id"]
