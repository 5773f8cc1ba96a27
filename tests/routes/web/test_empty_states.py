"""Empty and error states: a site with no data says so in each table, in the same layout; a 404 is a page."""

from __future__ import annotations


def test_an_empty_site_says_so_in_every_table(app, as_tier):
    admin = as_tier("admin")
    assert "No completed optimization results yet" in admin.get("/admin/optimization/best").get_data(as_text=True)
    assert "No active patterns stored" in admin.get("/").get_data(as_text=True)
    assert "No optimization results yet" in admin.get("/").get_data(as_text=True)
    jobs = admin.get("/admin/optimization").get_data(as_text=True)
    assert "No jobs yet" in jobs
    for path in ("/admin/optimization/compare", "/admin/patterns/duplicates", "/admin/data", "/preferences"):
        assert admin.get(path).status_code == 200, path
    missing = admin.get("/admin/optimization/424242")
    text = missing.get_data(as_text=True)
    assert missing.status_code == 404 and "not found" in text and 'class="top"' in text  # the site's own layout
    assert admin.get("/admin/optimization/424242/slices/1").status_code == 404
