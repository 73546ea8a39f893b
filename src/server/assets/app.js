// Search as you type: the form works without this script; with it, results update while the
// customer types (debounced), suggestions fill the search box's list, and the URL follows along.
(function () {
  "use strict";
  const form = document.querySelector("form.search");
  if (!form) return;
  const input = form.querySelector("input[name=q]");
  const results = document.getElementById("results");
  const list = document.getElementById("suggestions");
  const version = form.querySelector("select[name=version]");
  let timer = null;
  let latest = 0;

  // The id of the search the results show: sent back with the next request, so that the
  // words typed and the submitted page are one search, and named by the click beacon.
  function searchId() {
    const holder = results.querySelector("[data-search]");
    return holder ? holder.dataset.search : "";
  }

  function query() {
    return new URLSearchParams(new FormData(form)).toString();
  }

  // Which result was opened: a beacon survives the page being left, and the article's own
  // address stays free of the query.
  function reportClick(event) {
    if (event.type === "auxclick" && event.button !== 1) return;
    const link = event.target.closest("a[data-rank]");
    const id = searchId();
    if (!link || !id || !navigator.sendBeacon) return;
    navigator.sendBeacon("/click", new URLSearchParams({
      search: id, article: link.dataset.article, rank: link.dataset.rank,
    }));
  }
  results.addEventListener("click", reportClick);
  results.addEventListener("auxclick", reportClick);

  async function refresh() {
    const ticket = ++latest;
    const params = query();
    try {
      const id = searchId();
      const search = id ? "&search=" + encodeURIComponent(id) : "";
      const response = await fetch("/?" + params + "&fragment=results" + search, { headers: { "Accept": "text/html" } });
      if (response.status === 429) return; // rate limited: keep the results shown
      const html = await response.text();
      if (ticket !== latest) return; // a newer request is on its way
      results.innerHTML = html;
      history.replaceState(null, "", "/?" + params);
    } catch (err) {
      // Network trouble: the plain form still works.
    }
  }

  async function suggest() {
    const q = input.value;
    if (q.trim().length < 2 || !list) return;
    try {
      const response = await fetch("/api/suggest?q=" + encodeURIComponent(q));
      if (!response.ok) return;
      const body = await response.json();
      list.replaceChildren(...body.suggestions.map(function (s) {
        const option = document.createElement("option");
        option.value = s.text;
        return option;
      }));
    } catch (err) { /* suggestions are optional */ }
  }

  input.addEventListener("input", function () {
    clearTimeout(timer);
    timer = setTimeout(function () { refresh(); suggest(); }, 150);
  });
  if (version) version.addEventListener("change", function () { form.requestSubmit(); });
  // With the script the results are already shown as typed: submitting refreshes them in
  // place, so that the search typed and the search submitted are recorded once.
  form.addEventListener("submit", function (event) {
    event.preventDefault();
    clearTimeout(timer);
    refresh();
  });
})();
