"""Screenshot every page of a running CryptoLens at 1440x900 and print each page's height, width and load time.

    python tools/page_shots.py --base http://127.0.0.1:5000 --email admin@cryptolens.local \
        --password ... --out /tmp/shots [--job 1]

What issue 25 asks the closing note to record (before and after a change, with
demo data): a full-page PNG per page, its scroll height and width at a 1440 px
viewport and the time until the load event plus idle network (htmx parts
included). Uses Debian's Chromium (``CHROMIUM_PATH``, else ``chromium``), never
downloads a browser.
"""

from __future__ import annotations

import argparse
import os
import shutil
import time
from pathlib import Path

PAGES = (
    ("dashboard", "/"),
    ("jobs", "/admin/optimization"),
    ("job-detail", "/admin/optimization/{job}"),
    ("compare", "/admin/optimization/compare?job_id={job}"),
    ("best", "/admin/optimization/best"),
    ("preferences", "/preferences"),
    ("duplicates", "/admin/patterns/duplicates"),
    ("data", "/admin/data"),
    ("scripts", "/scripts"),
    ("profile", "/profile"),
    ("job-404", "/admin/optimization/999999"),
)
SIZE_JS = "[document.documentElement.scrollHeight, document.documentElement.scrollWidth]"


def main() -> None:
    """Sign in, visit every page, write the screenshots and print one line per page."""
    from playwright.sync_api import sync_playwright

    args = _args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    chromium = os.environ.get("CHROMIUM_PATH") or shutil.which("chromium")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, headless=True, args=["--no-sandbox"])
        page = browser.new_context(viewport={"width": 1440, "height": 900}).new_page()
        page.goto(f"{args.base}/login")
        page.fill("#email", args.email)
        page.fill("#password", args.password)
        page.click("button[type=submit]")
        page.wait_for_url(f"{args.base}/")
        for name, path in PAGES + tuple(_extra(args.extra)):
            start = time.perf_counter()
            page.goto(args.base + path.format(job=args.job))
            page.wait_for_load_state("networkidle")
            seconds = time.perf_counter() - start
            height, width = page.evaluate(SIZE_JS)
            file = out / f"{name}.png"
            page.screenshot(path=str(file), full_page=True)
            print(f"{file.name:<24} height {height:>6} px  width {width:>5} px  load {seconds:.2f} s")
        browser.close()


def _extra(items: list[str]) -> list[tuple[str, str]]:
    """``name=/path`` pairs given on the command line (pages that need an id)."""
    return [tuple(item.split("=", 1)) for item in items]


def _args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", default="http://127.0.0.1:5000")
    parser.add_argument("--email", required=True)
    parser.add_argument("--password", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--job", type=int, default=1)
    parser.add_argument("--extra", nargs="*", default=[], help="more pages as name=/path")
    return parser.parse_args()


if __name__ == "__main__":
    main()
