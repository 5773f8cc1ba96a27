// Compare page: the heatmap of one slice (values in cells, thin cells greyed, best cell marked, hover with
// run count and exact parameters), the parameter importance and a slice plot per axis, from compare.json.
(function () {
  var el = document.getElementById("heatmap");
  if (!el) return;
  function fmt(v) { return v === null || v === undefined ? "—" : (Math.abs(v) >= 100 ? v.toFixed(1) : v.toFixed(3)); }
  function fold(values) { var ok = values.filter(function (v) { return v !== null; }); return ok.length ? Math.max.apply(null, ok) : null; }
  fetch(el.dataset.url, {headers: {"Accept": "application/json"}, credentials: "same-origin"})
    .then(function (r) { return r.json().then(function (d) { return {ok: r.ok, d: d}; }); })
    .then(function (res) {
      var note = document.getElementById("best-cell");
      if (!res.ok) { note.className = "error"; note.textContent = res.d.error.message; return; }
      var m = res.d.matrix, xs = m.x_values.map(String), ys = m.y_values.map(String), data = [], grey = [];
      m.cells.forEach(function (row, iy) {
        row.forEach(function (c, ix) {
          if (c.value === null) grey.push([ix, iy, null, c]); else data.push([ix, iy, c.value, c]);
        });
      });
      var values = data.map(function (d) { return d[2]; });
      var best = m.best;
      if (best) {
        note.dataset.x = String(best.x); note.dataset.y = String(best.y); note.dataset.value = String(best.value);
        note.textContent = "Best cell: " + m.x + " = " + best.x + ", " + m.y + " = " + best.y + ": " + m.metric + " " + fmt(best.value) +
          " (neighbourhood mean " + fmt(best.neighbourhood_mean) + ")";
      } else { note.textContent = "No cell has a run with at least " + m.min_trades + " trades."; }
      var chart = echarts.init(el);
      chart.setOption({
        animation: false,
        title: {text: m.symbol + " " + m.timeframe + " " + m.strategy + ": " + m.metric + " (" + m.fold + " over the other parameters)", textStyle: {fontSize: 13}},
        tooltip: {formatter: function (p) {
          var c = p.data[3];
          return m.x + " = " + xs[p.data[0]] + ", " + m.y + " = " + ys[p.data[1]] + "<br>" + m.metric + ": " + fmt(p.data[2]) +
            "<br>runs: " + c.runs + ", trades: " + (c.trades === undefined ? "—" : c.trades) + (c.params ? "<br>" + JSON.stringify(c.params) : "");
        }},
        grid: {top: 40, bottom: 70, left: 70},
        xAxis: {type: "category", data: xs, name: m.x, nameLocation: "middle", nameGap: 28},
        yAxis: {type: "category", data: ys, name: m.y},
        visualMap: {dimension: 2, precision: 3, min: values.length ? Math.min.apply(null, values) : 0, max: values.length ? Math.max.apply(null, values) : 1, calculable: true, orient: "horizontal", left: "center", bottom: 0, seriesIndex: 0},
        series: [
          {type: "heatmap", data: data, label: {show: true, formatter: function (p) { return fmt(p.data[2]); }},
           markPoint: best ? {symbol: "rect", symbolSize: 18, itemStyle: {color: "transparent", borderColor: "#000", borderWidth: 3},
             label: {show: true, formatter: "best", position: "top", color: "#000"}, data: [{coord: [xs.indexOf(String(best.x)), ys.indexOf(String(best.y))]}]} : undefined},
          {type: "heatmap", data: grey, itemStyle: {color: "#d5d8de"}, label: {show: true, formatter: "thin", color: "#777"}}
        ]
      });
      var imp = (res.d.importance.parameters || []);
      echarts.init(document.getElementById("importance")).setOption({
        animation: false,
        title: {text: "Parameter importance", textStyle: {fontSize: 13}}, tooltip: {}, grid: {left: 110},
        xAxis: {type: "value", max: 1}, yAxis: {type: "category", data: imp.map(function (p) { return p.parameter; }).reverse()},
        series: [{type: "bar", data: imp.map(function (p) { return p.share; }).reverse(), label: {show: true, position: "right", formatter: function (p) { return Math.round(p.value * 100) + "%"; }}}]
      });
      function slicePlot(id, name, labels, series) {
        echarts.init(document.getElementById(id)).setOption({
          animation: false,
          title: {text: m.metric + " by " + name + " (best over the rest)", textStyle: {fontSize: 13}}, tooltip: {trigger: "axis"},
          xAxis: {type: "category", data: labels, name: name}, yAxis: {type: "value", scale: true},
          series: [{type: "line", data: series}]
        });
      }
      slicePlot("slice-x", m.x, xs, xs.map(function (_, ix) { return fold(m.cells.map(function (row) { return row[ix].value; })); }));
      slicePlot("slice-y", m.y, ys, m.cells.map(function (row) { return fold(row.map(function (c) { return c.value; })); }));
    });
})();
