// The outcomes page: a production set's live cumulative R against the Monte Carlo band of its backtest
// (the paths come in the chart's data-paths: trades, live, low, median, high; decay.cumulative_r_paths).
(function () {
  var box = document.getElementById("outcomes-chart");
  if (!box) { return; }
  var p = JSON.parse(box.dataset.paths);
  function pairs(values) { return values.map(function (v, i) { return [p.trades[i], v]; }); }
  function fmt(v) { return (v > 0 ? "+" : "") + v.toFixed(2) + " R"; }
  var width = p.high.map(function (v, i) { return v - p.low[i]; });
  var chart = echarts.init(box);
  chart.setOption({
    animation: false,
    legend: {top: 4, data: ["live", "expected median", {name: "expected 5%–95%", icon: "rect"}]},
    grid: {top: 40, left: 55, right: 20, bottom: 45},
    tooltip: {trigger: "axis", formatter: function (items) {
      var i = items[0].dataIndex;
      return "after " + p.trades[i] + " trades<br>live " + fmt(p.live[i]) + "<br>expected " + fmt(p.median[i]) +
        " (" + fmt(p.low[i]) + " to " + fmt(p.high[i]) + ")";
    }},
    xAxis: {type: "value", name: "closed trades", nameLocation: "middle", nameGap: 28, min: 0, max: p.trades[p.trades.length - 1] || 1, minInterval: 1},
    yAxis: {type: "value", name: "cumulative R"},
    series: [
      {name: "band floor", type: "line", stack: "band", stackStrategy: "all", data: pairs(p.low), showSymbol: false, lineStyle: {opacity: 0}, silent: true},
      {name: "expected 5%–95%", type: "line", stack: "band", stackStrategy: "all", data: pairs(width), showSymbol: false, lineStyle: {opacity: 0},
       areaStyle: {color: "#3b7ddd", opacity: 0.18}, itemStyle: {color: "#9dbbef"}},
      {name: "expected median", type: "line", data: pairs(p.median), showSymbol: false, lineStyle: {type: "dashed", color: "#3b7ddd"}, itemStyle: {color: "#3b7ddd"}},
      {name: "live", type: "line", data: pairs(p.live), showSymbol: p.trades.length < 60, lineStyle: {width: 2.5, color: "#1d2330"}, itemStyle: {color: "#1d2330"}}
    ]
  });
  box.dataset.loaded = "1";
  window.addEventListener("resize", function () { chart.resize(); });
})();
