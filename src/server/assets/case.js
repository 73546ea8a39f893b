// The case form: while the customer describes the case, ask /api/deflect (debounced) for articles
// that may already solve it, and record what happened: "This solved my problem" or a submitted
// case. The same draft keeps one deflection id, so one case is one draft in the analytics.
(function () {
  "use strict";
  const form = document.getElementById("case-form");
  if (!form) return;
  const list = document.getElementById("deflect-suggestions");
  const notices = document.getElementById("deflect-notices");
  const empty = document.getElementById("deflect-empty");
  const status = document.getElementById("case-status");
  let deflectionId = null;
  let timer = null;
  let latest = 0;

  function draft() {
    const data = new FormData(form);
    const body = {
      subject: data.get("subject") || "",
      description: data.get("description") || "",
      case_type: data.get("case_type"),
      severity: Number(data.get("severity")),
      product: data.get("product") || null,
      version: data.get("version") || null,
    };
    if (deflectionId) body.deflection_id = deflectionId;
    return body;
  }

  function text(tag, value, className) {
    const node = document.createElement(tag);
    node.textContent = value;
    if (className) node.className = className;
    return node;
  }

  function render(answer) {
    notices.replaceChildren(...answer.notices.map(function (n) { return text("p", n, "notice"); }));
    list.replaceChildren(...answer.suggestions.map(function (s) {
      const item = document.createElement("li");
      item.className = "hit suggestion";
      item.dataset.id = s.id;
      const link = text("a", s.title, "title");
      link.href = s.section ? s.section.url : s.url;
      link.target = "_blank";
      item.append(link);
      const snippet = document.createElement("p");
      snippet.className = "snippet";
      snippet.innerHTML = s.snippet; // server-escaped, only <mark> added
      item.append(snippet);
      const why = s.reason || ("Matches: " + s.matched_terms.join(", "));
      item.append(text("p", why + " · " + Math.round(s.confidence * 100) + "% match", "meta"));
      const solved = text("button", "This solved my problem", "solved");
      solved.type = "button";
      solved.addEventListener("click", function () { feedback("solved", s.id, item); });
      item.append(solved);
      return item;
    }));
    empty.textContent = answer.suggestions.length ? "" : "No article matches this case closely yet.";
  }

  async function refresh() {
    const body = draft();
    if (!body.subject.trim() && !body.description.trim()) return;
    const ticket = ++latest;
    try {
      const response = await fetch("/api/deflect", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify(body),
      });
      const answer = await response.json();
      if (ticket !== latest) return; // a newer draft is on its way
      if (!response.ok) {
        empty.textContent = answer.error ? answer.error.message : "Suggestions are not available.";
        return;
      }
      deflectionId = answer.deflection_id;
      render(answer);
    } catch (err) {
      // Suggestions are optional: the case can still be submitted.
    }
  }

  async function feedback(outcome, articleId, item) {
    if (!deflectionId) return false;
    const response = await fetch("/api/deflect/" + deflectionId + "/feedback", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ outcome: outcome, article_id: articleId }),
    });
    if (response.ok && item) {
      item.classList.add("solved");
      status.textContent = "Glad it helped. No case is needed; you can close this page.";
    }
    return response.ok;
  }

  form.addEventListener("input", function () {
    clearTimeout(timer);
    timer = setTimeout(refresh, 300);
  });
  form.addEventListener("submit", async function (event) {
    event.preventDefault();
    if (!deflectionId) await refresh();
    const ok = await feedback("case_submitted", null, null);
    status.textContent = ok
      ? "Your case was submitted. Technical Support will contact you."
      : "The case could not be recorded; please try again.";
  });
})();
