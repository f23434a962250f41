// Progressive enhancement for the staff console; every page works without it.
// Times are rendered in UTC by the server; here they are shown in the reader's own time
// zone, with the UTC instant kept in the tooltip.
(function () {
  "use strict";
  var format = new Intl.DateTimeFormat(undefined, {
    year: "numeric", month: "short", day: "numeric", hour: "2-digit", minute: "2-digit",
    timeZoneName: "short"
  });

  function localise(root) {
    root.querySelectorAll("time[data-utc]").forEach(function (node) {
      var moment = new Date(node.getAttribute("datetime"));
      if (isNaN(moment.getTime())) { return; }
      node.textContent = format.format(moment);
      node.title = node.getAttribute("data-utc");
    });
  }

  document.addEventListener("DOMContentLoaded", function () { localise(document); });
  // Results swapped in by htmx get the same treatment.
  document.addEventListener("htmx:afterSwap", function (event) { localise(event.target); });
})();
