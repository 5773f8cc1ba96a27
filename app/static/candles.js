// Candlestick chart of one market (app/services/charts.py's JSON): active zones as shaded areas coloured by
// pattern type and direction, entry / stop / TP1-3 lines of the selected setup, a run's trades as markers.
// Any element with data-chart-url becomes one chart; a <select data-chart-for="ID"> of markets reloads it and a
// <select data-setup-for="ID"> picks the setup whose levels are drawn.
(function () {
  var ZONE_COLOURS = {
    imbalance: {bullish: "rgba(46,133,64,.22)", bearish: "rgba(179,38,30,.22)"},
    order_block: {bullish: "rgba(59,125,221,.22)", bearish: "rgba(156,39,176,.22)"},
    liquidity_sweep: {bullish: "rgba(0,150,136,.22)", bearish: "rgba(230,120,0,.24)"}
  };
  var LEVEL_COLOURS = {entry: "#3b7ddd", stop_loss: "#b3261e", tp1: "#2e8540", tp2: "#2e8540", tp3: "#2e8540"};
  function zoneColour(z) { return (ZONE_COLOURS[z.type] || {})[z.direction] || "rgba(120,120,120,.2)"; }
  function fmt(v) { return v === null || v === undefined ? "—" : Number(v).toPrecision(6).replace(/\.?0+$/, ""); }

  function option(data, setupId) {
    var first = data.candles.length ? data.candles[0][0] : null;
    var areas = data.zones.map(function (z) {
      return [{name: z.type + " " + z.direction, xAxis: Math.max(z.from, first || z.from), yAxis: z.high, itemStyle: {color: zoneColour(z)}},
              {xAxis: z.to, yAxis: z.low}];
    });
    var setup = data.setups.filter(function (s) { return String(s.id) === String(setupId); })[0] || data.setups[0];
    var lines = setup ? Object.keys(setup.levels).filter(function (k) { return setup.levels[k] !== null; }).map(function (k) {
      return {name: k, yAxis: setup.levels[k], lineStyle: {color: LEVEL_COLOURS[k], type: k === "entry" ? "solid" : "dashed"},
              label: {formatter: (k === "stop_loss" ? "stop" : k) + " " + fmt(setup.levels[k]), position: "insideEndTop"}};
    }) : [];
    var series = [{
      name: data.symbol + " " + data.timeframe, type: "candlestick", data: data.candles,
      itemStyle: {color: "#2e8540", color0: "#b3261e", borderColor: "#2e8540", borderColor0: "#b3261e"},
      markArea: {silent: true, label: {show: false}, data: areas},
      markLine: {symbol: "none", silent: true, data: lines}
    }];
    if (data.trades.length) {
      series.push({name: "entries", type: "scatter", symbol: "triangle", symbolSize: 9, itemStyle: {color: "#3b7ddd"},
        data: data.trades.map(function (t) { return {value: [t.entry_time, t.entry], symbolRotate: t.direction === "bearish" ? 180 : 0}; })});
      series.push({name: "exits", type: "scatter", symbol: "circle", symbolSize: 7,
        data: data.trades.map(function (t) { return {value: [t.exit_time, t.exit, t.r], itemStyle: {color: t.r > 0 ? "#2e8540" : "#b3261e"}}; })});
    }
    return {
      animation: false, grid: {left: 60, right: 70, top: 30, bottom: 60},
      tooltip: {trigger: "axis", axisPointer: {type: "cross"}},
      legend: {top: 0, data: series.map(function (s) { return s.name; })},
      xAxis: {type: "time"}, yAxis: {type: "value", scale: true, position: "right"},
      // A run's chart opens on its listed trades; the whole range stays one drag away.
      dataZoom: [{type: "inside", startValue: data.trades.length ? data.trades[0].entry_time : undefined},
                 {type: "slider", height: 20, bottom: 10, startValue: data.trades.length ? data.trades[0].entry_time : undefined}],
      series: series
    };
  }

  function load(el) {
    var chart = echarts.getInstanceByDom(el) || echarts.init(el);
    fetch(el.dataset.chartUrl, {headers: {"Accept": "application/json"}, credentials: "same-origin"})
      .then(function (r) { return r.json().then(function (body) { if (!r.ok) { throw new Error(body.error ? body.error.message : r.status); } return body; }); })
      .then(function (data) {
        el.chartData = data;
        chart.setOption(option(data, el.dataset.setup), true);
        var note = document.getElementById(el.id + "-note");
        if (note) {
          note.textContent = data.candles_total + " candles" + (data.candles_per_bar > 1 ? ", " + data.candles_per_bar + " per bar" : "") +
            ", " + data.zones.length + " active zone(s)" + (data.trades.length ? ", " + data.trades.length + " trades" : "");
        }
        var picker = document.querySelector('[data-setup-for="' + el.id + '"]');
        if (picker) {
          picker.innerHTML = data.setups.map(function (s) { return "<option value='" + s.id + "'>" + s.label + "</option>"; }).join("");
          if (el.dataset.setup) { picker.value = el.dataset.setup; }
        }
        el.dataset.loaded = "1";
      })
      .catch(function (err) {  // an empty state in the page, never an uncaught error
        chart.dispose();
        el.hidden = true;  // no empty frame: the note below says why there is no chart
        var note = document.getElementById(el.id + "-note");
        if (note) { note.textContent = "No chart: " + err.message; }
        el.dataset.loaded = "error";
      });
  }

  document.querySelectorAll("[data-chart-url]").forEach(function (el) {
    load(el);
    window.addEventListener("resize", function () { var c = echarts.getInstanceByDom(el); if (c) { c.resize(); } });
    var market = document.querySelector('[data-chart-for="' + el.id + '"]');
    if (market) {
      market.addEventListener("change", function () { el.dataset.chartUrl = market.value; el.dataset.setup = ""; load(el); });
    }
    var picker = document.querySelector('[data-setup-for="' + el.id + '"]');
    if (picker) {
      picker.addEventListener("change", function () {
        el.dataset.setup = picker.value;
        echarts.getInstanceByDom(el).setOption(option(el.chartData, picker.value), true);
      });
    }
  });
})();
