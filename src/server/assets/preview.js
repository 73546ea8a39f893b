// The writers' preview: reload the page's content after each index commit (keeping the scroll
// position), and show the article's problems and how it ranks for queries.
(function () {
  "use strict";
  const main = document.querySelector("main");
  if (!main) return;
  const articleMatch = location.pathname.match(/^\/articles\/(.+)$/);
  const articleId = articleMatch ? decodeURIComponent(articleMatch[1]) : null;
  let reloading = null;

  function el(tag, text, className) {
    const node = document.createElement(tag);
    if (text !== undefined && text !== null) node.textContent = text;
    if (className) node.className = className;
    return node;
  }

  function ordinal(n) {
    const s = ["th", "st", "nd", "rd"], v = n % 100;
    return n + (s[(v - 20) % 10] || s[v] || s[0]);
  }

  function rankLine(report) {
    const item = el("li");
    const found = report.rank
      ? ordinal(report.rank) + (report.rank === 1 ? " — first" : "")
      : "not in the first 50";
    item.append(el("strong", "“" + report.query + "”: "), document.createTextNode(found));
    const details = [];
    if (report.matched_fields && report.matched_fields.length) details.push("matched in " + report.matched_fields.join(", "));
    if (report.missing_terms && report.missing_terms.length) details.push("not in the article: " + report.missing_terms.join(", "));
    if (details.length) item.append(el("div", details.join(" · "), "meta"));
    if (report.above && report.above.length) {
      const above = el("div", "Above it: ", "meta");
      report.above.slice(0, 5).forEach(function (a, i) {
        const link = el("a", a.title);
        link.href = "/articles/" + a.id;
        if (i) above.append(document.createTextNode(", "));
        above.append(link);
      });
      item.append(above);
    }
    return item;
  }

  function panel() {
    let box = document.getElementById("preview-panel");
    if (!box) {
      box = el("aside", null, "preview-panel");
      box.id = "preview-panel";
      const article = main.querySelector("article") || main;
      article.before(box);
    }
    return box;
  }

  async function showDetails() {
    if (!articleId) return;
    let details;
    try {
      const response = await fetch("/preview/api/article?id=" + encodeURIComponent(articleId));
      if (!response.ok) return;
      details = await response.json();
    } catch (err) { return; }
    const box = panel();
    const typed = box.querySelector("input") ? box.querySelector("input").value : "";
    box.replaceChildren();
    box.append(el("h2", "Problems"));
    const problems = el("ul", null, "problems");
    problems.id = "preview-problems";
    details.problems.forEach(function (p) {
      problems.append(el("li", (p.line ? "line " + p.line + ": " : "") + p.message, p.severity === "error" ? "error-item" : "warning-item"));
    });
    if (!details.problems.length) problems.append(el("li", "No problems.", "ok-item"));
    box.append(problems);
    box.append(el("h2", "Ranking"));
    const ranks = el("ul", null, "ranks");
    ranks.id = "preview-ranks";
    details.queries.forEach(function (r) { ranks.append(rankLine(r)); });
    box.append(ranks);
    const form = el("form", null, "rank-check");
    const label = el("label", "Try a query: ");
    const input = el("input");
    input.type = "search";
    input.name = "q";
    input.value = typed;
    label.append(input);
    form.append(label);
    const result = el("ul", null, "ranks");
    result.id = "preview-rank-result";
    form.append(result);
    form.addEventListener("submit", async function (event) {
      event.preventDefault();
      if (!input.value.trim()) return;
      const response = await fetch("/preview/api/rank?id=" + encodeURIComponent(articleId) + "&q=" + encodeURIComponent(input.value));
      if (!response.ok) return;
      result.replaceChildren(rankLine(await response.json()));
    });
    box.append(form);
  }

  async function reload() {
    const scroll = window.scrollY;
    try {
      const response = await fetch(location.href, { headers: { "Accept": "text/html" } });
      const page = new DOMParser().parseFromString(await response.text(), "text/html");
      const fresh = page.querySelector("main");
      if (!fresh) return;
      const box = document.getElementById("preview-panel");
      main.replaceChildren(...fresh.childNodes);
      if (box) (main.querySelector("article") || main).before(box);
      document.title = page.title;
      window.scrollTo(0, scroll);
      document.body.dataset.previewGeneration = String(Number(document.body.dataset.previewGeneration || 0) + 1);
    } catch (err) { /* the next change tries again */ }
    await showDetails();
  }

  // The batch this page was rendered at: the stream says at once if the index has moved on since.
  const since = document.body.dataset.previewBatch;
  const events = new EventSource("/preview/events" + (since ? "?since=" + encodeURIComponent(since) : ""));
  events.addEventListener("changed", function () {
    // Several commits in a row: one reload at a time, the last one wins.
    if (reloading) { reloading.again = true; return; }
    reloading = { again: false };
    (async function loop() {
      do { reloading.again = false; await reload(); } while (reloading.again);
      reloading = null;
    })();
  });
  showDetails();
})();
