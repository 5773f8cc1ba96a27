// Live progress bars: every element with data-progress-url polls that small JSON endpoint
// (status, counts, percent, runs/s, ETA) every second until the job is no longer pending or running.
(function () {
  function fmtEta(s) {
    if (s === null || s === undefined) return "";
    if (s < 90) return Math.round(s) + " s left";
    if (s < 5400) return Math.round(s / 60) + " min left";
    return (s / 3600).toFixed(1) + " h left";
  }
  function render(el, p) {
    el.querySelector(".bar > span").style.width = p.progress_pct + "%";
    el.querySelector(".pct").textContent = Number(p.progress_pct).toFixed(1) + "%";
    el.querySelector(".counts").textContent = (p.completed_runs + p.failed_runs) + " / " + p.total_runs;
    el.querySelector(".rate").textContent = p.runs_per_second ? p.runs_per_second + " runs/s" : "";
    el.querySelector(".eta").textContent = fmtEta(p.eta_seconds);
    var badge = document.getElementById("status-" + el.dataset.jobId);
    if (badge) { badge.textContent = p.status; badge.className = "badge " + p.status; }
    el.dataset.status = p.status;
  }
  // A finished job's row on the jobs page: fetch it again (best result, actions) without reloading the page.
  function refreshRow(el) {
    var row = el.closest("tr[id^='job-']");
    if (row && window.htmx) htmx.ajax("GET", window.location.href, {target: "#" + row.id, select: "#" + row.id, swap: "outerHTML"});
  }
  function poll(el) {
    fetch(el.dataset.progressUrl, {headers: {"Accept": "application/json"}, credentials: "same-origin"})
      .then(function (r) { return r.json(); })
      .then(function (p) {
        render(el, p);
        if (p.status === "pending" || p.status === "running") setTimeout(function () { poll(el); }, 1000);
        else refreshRow(el);
      })
      .catch(function () { setTimeout(function () { poll(el); }, 3000); });
  }
  document.querySelectorAll("[data-progress-url]").forEach(function (el) {
    if (el.dataset.status === "pending" || el.dataset.status === "running") poll(el);
  });
})();
