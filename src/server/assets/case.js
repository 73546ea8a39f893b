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
  const submit = form.querySelector("button[type=submit]");
  const waiting = empty.textContent;
  let deflectionId = null;
  let timer = null;
  // The draft last typed: a request sent for an older one is not shown.
  let latest = 0;
  // The request on its way, if any. One at a time: the first answer brings the draft's id, which
  // every later request must carry (or the draft would count as several), and the drafts reach
  // the server in the order they were typed, so the one it records last is the newest.
  let inFlight = null;
  // The draft the service last answered (and recorded), and the one whose answer is shown; as
  // sent, without the id.
  let answered = null;
  let shown = null;

  function draft() {
    const data = new FormData(form);
    return {
      subject: data.get("subject") || "",
      description: data.get("description") || "",
      case_type: data.get("case_type"),
      severity: Number(data.get("severity")),
      product: data.get("product") || null,
      version: data.get("version") || null,
    };
  }

  function text(tag, value, className) {
    const node = document.createElement(tag);
    node.textContent = value;
    if (className) node.className = className;
    return node;
  }

  function render(answer) {
    notices.replaceChildren(...answer.notices.map(function (n) {
      const node = text("p", n.text, "notice");
      if (n.url) {
        const link = document.createElement("a");
        link.href = n.url;
        link.textContent = "Product version support";
        node.append(" ", link);
      }
      return node;
    }));
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
      const why = "Matches: " + s.matched_terms.join(", ");
      item.append(text("p", why + " · " + Math.round(s.confidence * 100) + "% match", "meta"));
      const solved = text("button", "This solved my problem", "solved");
      solved.type = "button";
      solved.setAttribute("aria-label", "This solved my problem: " + s.title);
      solved.addEventListener("click", async function () {
        solved.disabled = true;
        if (await feedback("solved", s.id)) {
          item.classList.add("solved");
          status.textContent = "Glad it helped. No case is needed; you can close this page.";
        } else {
          solved.disabled = false;
          status.textContent = "Your answer could not be recorded; please try again.";
        }
      });
      item.append(solved);
      return item;
    }));
    empty.textContent = answer.suggestions.length ? "" : "No article matches this case closely yet.";
  }

  function clear() {
    notices.replaceChildren();
    list.replaceChildren();
    empty.textContent = waiting;
  }

  // Sends one draft, with the draft's id once known. Resolves to {answer} or {error} (a message,
  // or null for network trouble: suggestions are optional); never rejects.
  async function ask(body) {
    const sent = Object.assign({}, body);
    if (deflectionId) sent.deflection_id = deflectionId;
    try {
      const response = await fetch("/api/deflect", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify(sent),
      });
      const answer = await response.json();
      if (!response.ok) {
        return { error: answer.error ? answer.error.message : "Suggestions are not available." };
      }
      deflectionId = answer.deflection_id;
      answered = JSON.stringify(body);
      return { answer: answer };
    } catch (err) {
      return { error: null };
    }
  }

  // Asks for suggestions for the draft as it is now, once the request on its way (if any) has
  // answered, and shows them unless the customer typed on meanwhile. Never rejects.
  async function refresh() {
    const ticket = ++latest;
    while (inFlight) await inFlight;
    if (ticket !== latest) return; // a newer draft goes instead
    const body = draft();
    const key = JSON.stringify(body);
    if (!body.subject.trim() && !body.description.trim()) {
      shown = null;
      clear();
      return;
    }
    if (key === shown && key === answered) return; // nothing changed since
    const exchange = ask(body);
    inFlight = exchange.then(function () { inFlight = null; });
    const result = await exchange;
    if (ticket !== latest) return; // a newer draft is on its way
    if (result.answer) {
      shown = key;
      render(result.answer);
    } else {
      shown = null;
      if (result.error) empty.textContent = result.error;
    }
  }

  async function feedback(outcome, articleId) {
    if (!deflectionId) return false;
    try {
      const response = await fetch("/api/deflect/" + encodeURIComponent(deflectionId) + "/feedback", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ outcome: outcome, article_id: articleId }),
      });
      return response.ok;
    } catch (err) {
      return false;
    }
  }

  // `change` too: some ways of choosing an option (automation, assistive tools) fire only that.
  // A draft that did not change is not sent again.
  function later() {
    clearTimeout(timer);
    timer = setTimeout(refresh, 300);
  }
  form.addEventListener("input", later);
  form.addEventListener("change", later);
  form.addEventListener("submit", async function (event) {
    event.preventDefault();
    clearTimeout(timer);
    submit.disabled = true;
    status.textContent = "Submitting the case…";
    // The draft recorded is the case as submitted: ask again unless the service has seen it.
    while (inFlight) await inFlight;
    if (!deflectionId || answered !== JSON.stringify(draft())) await refresh();
    const ok = await feedback("case_submitted", null);
    // Once submitted, the button stays off: one case per draft.
    submit.disabled = ok;
    status.textContent = ok
      ? "Your case was submitted. Technical Support will contact you."
      : "The case could not be recorded; please try again.";
  });
})();
