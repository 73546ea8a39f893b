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

  function query() {
    return new URLSearchParams(new FormData(form)).toString();
  }

  async function refresh() {
    const ticket = ++latest;
    const params = query();
    try {
      const response = await fetch("/?" + params + "&fragment=results", { headers: { "Accept": "text/html" } });
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
})();
