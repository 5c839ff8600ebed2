/* walletsync dashboard: live updates through the event stream, polling as the fallback.

   An element with data-live-stream="/v1/events/stream?..." (the wallet page's sync status, the
   portfolio's version poller) makes the page open one EventSource on that URL. EventSource cannot
   send an Authorization header: the stream accepts the dashboard's session cookie, which the browser
   sends with this same-origin request. While the stream is open:

   - every htmx request carries "X-Walletsync-Live: 1", and the server answers with fragments that
     wait for events instead of polling on a timer (a running job's progress is still polled, 1 s);
   - each event (tx.indexed, tx.rolled_back, balance.changed, sync.completed, sync.failed) fires
     "wallet-live" on <body>, coalesced over 300 ms: the status fragment re-reads itself, and when
     the wallet's transactions changed its answer triggers "wallet-updated", which reloads the
     balances and transactions panels.

   When the stream fails (no EventSource, refused, not open within 10 s, or 3 errors in a row
   without an open in between) the page closes it and fires "live-fallback": the fragments switch to
   polling with backoff (2, 4, 8 ... 60 s), as without JavaScript events. A dropped connection that
   the browser re-opens by itself resumes after the last event it saw (Last-Event-ID), so nothing is
   missed. <body data-live> says where the page is: connecting, open, reconnecting or polling. */
(function () {
  "use strict";
  var HEADER = "X-Walletsync-Live";
  var TOPICS = ["tx.indexed", "tx.rolled_back", "balance.changed", "sync.completed", "sync.failed"];
  var OPEN_TIMEOUT_MS = 10000;
  var MAX_ERRORS = 3;
  var COALESCE_MS = 300;
  var source = null;
  var live = false;
  var failed = false;
  var errors = 0;
  var pending = null;
  var opening = null;

  function fire(name) {
    document.body.dispatchEvent(new CustomEvent(name, { bubbles: true }));
  }

  function mark(state) {
    document.body.dataset.live = state;
  }

  function fallBack() {
    if (failed) { return; }
    failed = true;
    live = false;
    clearTimeout(opening);
    if (source) { source.close(); }
    mark("polling");
    fire("live-fallback");
  }

  function changed(event) {
    var count = Number(document.body.dataset.liveEvents || "0") + 1;
    document.body.dataset.liveEvents = String(count);
    document.body.dataset.liveLast = event.type;
    if (pending) { return; }
    pending = setTimeout(function () { pending = null; fire("wallet-live"); }, COALESCE_MS);
  }

  function start(url) {
    if (source || failed) { return; }
    if (typeof window.EventSource !== "function") { fallBack(); return; }
    mark("connecting");
    source = new EventSource(url); /* same origin: the session cookie goes along */
    opening = setTimeout(function () { if (!live) { fallBack(); } }, OPEN_TIMEOUT_MS);
    source.addEventListener("open", function () {
      live = true;
      errors = 0;
      clearTimeout(opening);
      mark("open");
    });
    TOPICS.forEach(function (topic) { source.addEventListener(topic, changed); });
    source.addEventListener("error", function () {
      live = false;
      errors += 1;
      if (source.readyState === EventSource.CLOSED || errors >= MAX_ERRORS) {
        fallBack(); /* refused (401, 429) or keeps failing */
      } else {
        mark("reconnecting"); /* the browser retries by itself, resuming after Last-Event-ID */
      }
    });
  }

  function init(root) {
    var el = root.querySelector ? root.querySelector("[data-live-stream]") : null;
    if (!el && root.matches && root.matches("[data-live-stream]")) { el = root; }
    if (el) { start(el.dataset.liveStream); }
  }

  document.addEventListener("htmx:configRequest", function (event) {
    if (live) { event.detail.headers[HEADER] = "1"; }
  });
  document.addEventListener("DOMContentLoaded", function () { init(document); });
  document.addEventListener("htmx:load", function (event) { init(event.target); });
  window.addEventListener("pagehide", function () { if (source) { source.close(); } });
})();
