/* walletsync dashboard: draws the charts the server describes in data- attributes, and submits the
   selector forms on change. No inline script anywhere (the Content-Security-Policy forbids it): every
   page loads this file, which finds its work in the DOM, on load and after each htmx swap.

   <div data-chart="value" data-src="/web/data/value-series?...">   total (area) + one line per wallet
   <div data-chart="candles" data-src="/web/data/candles?...">      candlesticks + volume histogram

   After drawing, the element carries data-points (value chart) or data-bars (candles): how many
   points were drawn, which the browser tests compare with the stored bars. */
(function () {
  "use strict";
  var LWC = window.LightweightCharts;
  var PALETTE = ["#f0883e", "#a371f7", "#3fb950", "#db61a2", "#58a6ff", "#d29922", "#56d4dd", "#ff7b72"];
  var charts = [];

  function cssVar(name) {
    return getComputedStyle(document.documentElement).getPropertyValue(name).trim();
  }

  function theme() {
    return {
      layout: {
        background: { type: "solid", color: cssVar("--panel") },
        textColor: cssVar("--muted"),
        fontFamily: getComputedStyle(document.body).fontFamily,
        attributionLogo: false, /* it injects an inline <style>; the page footer credits TradingView */
      },
      grid: { vertLines: { color: cssVar("--line") }, horzLines: { color: cssVar("--line") } },
      rightPriceScale: { borderColor: cssVar("--line") },
      timeScale: { borderColor: cssVar("--line"), timeVisible: true, secondsVisible: false },
      crosshair: { mode: 1 },
    };
  }

  function makeChart(el) {
    var options = theme();
    options.autoSize = true;
    var chart = LWC.createChart(el, options);
    charts.push(chart);
    return chart;
  }

  function legend(el, items) {
    var box = document.getElementById(el.dataset.legend || "");
    if (!box) { return; }
    box.textContent = "";
    items.forEach(function (item) {
      var span = document.createElement("span");
      var swatch = document.createElement("span");
      swatch.className = "swatch";
      swatch.style.backgroundColor = item.color; /* CSSOM, not an inline style attribute: CSP allows it */
      span.appendChild(swatch);
      span.appendChild(document.createTextNode(item.label));
      box.appendChild(span);
    });
  }

  function load(el) {
    return fetch(el.dataset.src, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) {
        if (response.status === 401) { window.location.assign("/web/signin?next=" + encodeURIComponent(location.pathname + location.search)); }
        if (!response.ok) { throw new Error("HTTP " + response.status); }
        return response.json();
      });
  }

  function showEmpty(el, empty) {
    var note = el.parentElement.querySelector(".chart-empty");
    if (note) { note.hidden = !empty; }
  }

  function drawValue(el) {
    return load(el).then(function (data) {
      var chart = makeChart(el);
      var accent = cssVar("--accent");
      var price = { type: "price", precision: 2, minMove: 0.01 };
      var stacked = data.mode === "stacked" && data.wallets.length > 0;
      var total = chart.addSeries(stacked ? LWC.LineSeries : LWC.AreaSeries, {
        color: accent, lineColor: accent, topColor: accent + "55", bottomColor: accent + "05", lineWidth: 2,
        priceFormat: price, title: "Total",
      });
      total.setData(data.total);
      var items = [{ label: "Total", color: accent }];
      /* Stacked: each wallet's series is a running sum, drawn from the top down so lower ones paint over. */
      var order = data.wallets.map(function (_, i) { return i; });
      if (stacked) { order.reverse(); }
      order.forEach(function (i) {
        var wallet = data.wallets[i];
        var color = PALETTE[i % PALETTE.length];
        var series = stacked
          ? chart.addSeries(LWC.AreaSeries, {
              lineColor: color, topColor: color + "cc", bottomColor: color + "cc", lineWidth: 1,
              priceLineVisible: false, lastValueVisible: false, priceFormat: price,
            })
          : chart.addSeries(LWC.LineSeries, {
              color: color, lineWidth: 1, priceLineVisible: false, lastValueVisible: false, priceFormat: price,
            });
        series.setData(wallet.points);
      });
      data.wallets.forEach(function (wallet, i) {
        items.push({ label: wallet.label, color: PALETTE[i % PALETTE.length] });
      });
      chart.timeScale().fitContent();
      legend(el, items);
      showEmpty(el, data.total.length === 0);
      el.dataset.from = data.from || "";
      el.dataset.to = data.to || "";
      el.dataset.points = String(data.total.length);
    });
  }

  function drawCandles(el) {
    return load(el).then(function (data) {
      var chart = makeChart(el);
      var up = cssVar("--up");
      var down = cssVar("--down");
      var candles = chart.addSeries(LWC.CandlestickSeries, {
        upColor: up, downColor: down, borderUpColor: up, borderDownColor: down, wickUpColor: up, wickDownColor: down,
      });
      candles.setData(data.bars.map(function (b) {
        return { time: b.time, open: b.open, high: b.high, low: b.low, close: b.close };
      }));
      candles.priceScale().applyOptions({ scaleMargins: { top: 0.08, bottom: 0.25 } });
      var withVolume = data.bars.filter(function (b) { return b.volume !== null; });
      if (withVolume.length) {
        var volume = chart.addSeries(LWC.HistogramSeries, { priceFormat: { type: "volume" }, priceScaleId: "volume" });
        volume.priceScale().applyOptions({ scaleMargins: { top: 0.8, bottom: 0 } });
        volume.setData(withVolume.map(function (b) {
          return { time: b.time, value: b.volume, color: (b.close >= b.open ? up : down) + "66" };
        }));
      }
      chart.timeScale().fitContent();
      legend(el, [{ label: "up", color: up }, { label: "down", color: down }, { label: "volume", color: cssVar("--muted") }]);
      el.dataset.bars = String(data.bars.length);
    });
  }

  var DRAW = { value: drawValue, candles: drawCandles };

  function init(root) {
    root.querySelectorAll("[data-chart]").forEach(function (el) {
      if (el.dataset.state) { return; }
      el.dataset.state = "loading";
      DRAW[el.dataset.chart](el).then(
        function () { el.dataset.state = "ready"; },
        function (error) {
          el.dataset.state = "failed";
          el.textContent = "The chart could not be loaded (" + error.message + "). Reload to try again.";
        }
      );
    });
    root.querySelectorAll("form[data-autosubmit]").forEach(function (form) {
      if (form.dataset.bound) { return; }
      form.dataset.bound = "1";
      form.addEventListener("change", function () { form.requestSubmit(); });
    });
  }

  /* Follow the system theme while the page is open. */
  var scheme = window.matchMedia("(prefers-color-scheme: dark)");
  scheme.addEventListener("change", function () {
    charts.forEach(function (chart) { chart.applyOptions(theme()); });
  });

  document.addEventListener("DOMContentLoaded", function () { init(document); });
  document.addEventListener("htmx:load", function (event) { init(event.target); });
})();
