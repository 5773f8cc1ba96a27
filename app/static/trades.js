// A slice page's best run (trades.json): equity curve with drawdown, R-multiple histogram, the trade list.
(function () {
  var panel = document.getElementById("trades-panel");
  if (!panel) { return; }
  var COLUMNS = [["entry_time", "Entry time"], ["direction", "Side"], ["entry", "Entry"], ["stop", "Stop"], ["target", "Target"],
                 ["exit_time", "Exit time"], ["exit_price", "Exit"], ["exit_reason", "Exit reason"], ["r_multiple", "R"]];
  function esc(v) { return String(v === null || v === undefined ? "—" : v).replace(/[&<>"]/g, function (c) { return {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;"}[c]; }); }
  function cell(key, v) {
    if (key.slice(-5) === "_time") { return esc(String(v).slice(0, 16).replace("T", " ")); }
    if (key === "r_multiple") { return esc((v > 0 ? "+" : "") + v.toFixed(2) + " R"); }
    if (typeof v === "number") { return esc(Number(v.toPrecision(5))); }
    return esc(v);
  }
  function show(data) {
    var curve = data.equity_curve || [], dd = data.drawdown || [];
    echarts.init(document.getElementById("equity-chart")).setOption({
      animation: false, title: {text: "Equity and drawdown", textStyle: {fontSize: 13}}, tooltip: {trigger: "axis"}, legend: {top: 20},
      grid: {top: 55, left: 50, right: 50, bottom: 30},
      xAxis: {type: "time"}, yAxis: [{type: "value", name: "equity", scale: true}, {type: "value", name: "drawdown %", inverse: true}],
      series: [
        {name: "equity", type: "line", showSymbol: false, data: curve.map(function (p) { return [p.time, p.equity]; })},
        {name: "drawdown", type: "line", yAxisIndex: 1, areaStyle: {opacity: .3}, showSymbol: false, data: dd.map(function (p) { return [p.time, p.drawdown_pct !== undefined ? p.drawdown_pct : p.drawdown]; })}
      ]
    });
    var hist = data.r_histogram || [];
    echarts.init(document.getElementById("r-chart")).setOption({
      animation: false, title: {text: "R multiples", textStyle: {fontSize: 13}}, tooltip: {}, grid: {top: 40, left: 40, right: 10, bottom: 30},
      xAxis: {type: "category", data: hist.map(function (b) { return b.low !== undefined ? b.low + ".." + b.high : b.bin; })},
      yAxis: {type: "value"}, series: [{type: "bar", data: hist.map(function (b) { return b.count; })}]
    });
    var trades = (data.trades || []).slice().reverse();
    document.getElementById("trades-summary").textContent = "Trades: " + (data.trades_total || trades.length) + " (newest " + Math.min(trades.length, 200) + " listed)" +
      (data.candles_changed ? "; the candles changed since the job ran" : "");
    document.getElementById("trade-list").innerHTML = "<table id='trades'><thead><tr>" +
      COLUMNS.map(function (c) { return "<th>" + c[1] + "</th>"; }).join("") + "</tr></thead><tbody>" +
      trades.slice(0, 200).map(function (t) { return "<tr>" + COLUMNS.map(function (c) { return "<td>" + cell(c[0], t[c[0]]) + "</td>"; }).join("") + "</tr>"; }).join("") +
      "</tbody></table>";
  }
  fetch(panel.dataset.url, {headers: {"Accept": "application/json"}, credentials: "same-origin"})
    .then(function (r) { return r.json().then(function (body) { if (!r.ok) { throw new Error(body.error ? body.error.message : r.status); } return body; }); })
    .then(show)
    .catch(function (err) { panel.innerHTML = "<p class='muted' id='no-trades'>No trades to show: " + String(err.message).replace(/</g, "&lt;") + "</p>"; });
})();
