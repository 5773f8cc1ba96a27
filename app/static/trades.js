// Job detail: a slice's best run on demand: equity curve with drawdown, R-multiple histogram, trade list.
(function () {
  var equity, rchart;
  function esc(v) { return String(v === null || v === undefined ? "" : v).replace(/[&<>"]/g, function (c) { return {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;"}[c]; }); }
  function show(data, label) {
    document.getElementById("trades-panel").hidden = false;
    document.getElementById("trades-title").textContent = "Best run of " + label;
    equity = equity || echarts.init(document.getElementById("equity-chart"));
    rchart = rchart || echarts.init(document.getElementById("r-chart"));
    var curve = data.equity_curve || [], dd = data.drawdown || [];
    equity.setOption({
      animation: false,
      title: {text: "Equity and drawdown", textStyle: {fontSize: 13}}, tooltip: {trigger: "axis"}, legend: {top: 20},
      xAxis: {type: "time"}, yAxis: [{type: "value", name: "equity", scale: true}, {type: "value", name: "drawdown %", inverse: true}],
      series: [
        {name: "equity", type: "line", showSymbol: false, data: curve.map(function (p) { return [p.time || p.date || p.t, p.equity || p.value]; })},
        {name: "drawdown", type: "line", yAxisIndex: 1, areaStyle: {}, showSymbol: false, data: dd.map(function (p) { return [p.time || p.date || p.t, p.drawdown_pct !== undefined ? p.drawdown_pct : p.drawdown]; })}
      ]
    }, true);
    var hist = data.r_histogram || [];
    rchart.setOption({
      animation: false,
      title: {text: "R multiples", textStyle: {fontSize: 13}}, tooltip: {},
      xAxis: {type: "category", data: hist.map(function (b) { return b.low !== undefined ? b.low + ".." + b.high : b.bin; })},
      yAxis: {type: "value"}, series: [{type: "bar", data: hist.map(function (b) { return b.count; })}]
    }, true);
    var trades = data.trades || [];
    var cols = trades.length ? Object.keys(trades[0]).filter(function (k) { return typeof trades[0][k] !== "object"; }) : [];
    var html = "<p class='muted'>" + trades.length + " trades" + (data.candles_changed ? " (candles changed since the job ran)" : "") + "</p><table id='trades'><thead><tr>" +
      cols.map(function (c) { return "<th>" + esc(c) + "</th>"; }).join("") + "</tr></thead><tbody>" +
      trades.slice(0, 500).map(function (t) { return "<tr>" + cols.map(function (c) { return "<td>" + esc(typeof t[c] === "number" ? Math.round(t[c] * 1e4) / 1e4 : t[c]) + "</td>"; }).join("") + "</tr>"; }).join("") +
      "</tbody></table>";
    document.getElementById("trade-list").innerHTML = html;
  }
  document.querySelectorAll(".show-trades").forEach(function (button) {
    button.addEventListener("click", function () {
      fetch(button.dataset.url, {headers: {"Accept": "application/json"}, credentials: "same-origin"})
        .then(function (r) { return r.json(); }).then(function (d) { show(d, button.dataset.label); });
    });
  });
})();
