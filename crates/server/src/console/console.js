// lockbridge console: the only script. While a code on the page is on its way to or off its
// lock, the codes table is read again every second (the page works without it).
(function () {
  var table = document.getElementById("codes");
  if (!table || !window.fetch) return;
  var body = table.querySelector("tbody");
  function busy() {
    return body.querySelector('tr[data-status="setting"], tr[data-status="removing"]') !== null;
  }
  function refresh() {
    if (!busy()) return;
    fetch(table.getAttribute("data-refresh"), { credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.text() : null; })
      .then(function (html) { if (html !== null) body.innerHTML = html; })
      .finally(function () { setTimeout(refresh, 1000); });
  }
  setTimeout(refresh, 1000);
})();
