(function () {
  const verdict = document.getElementById("fv"), tag = document.getElementById("ft");
  const text = document.getElementById("fq"), shown = document.getElementById("shown");
  function apply() {
    const v = verdict.value, t = tag.value, q = text.value.trim().toLowerCase();
    let n = 0;
    document.querySelectorAll("details.case").forEach(function (c) {
      const ok = (!v || (v === "failing" ? c.dataset.passed === "no" : c.dataset.verdict === v)) &&
        (!t || c.dataset.tags.split(" ").includes(t)) &&
        (!q || c.dataset.search.includes(q));
      c.classList.toggle("hidden", !ok);
      if (ok) n += 1;
    });
    shown.textContent = String(n);
  }
  [verdict, tag, text].forEach(function (e) { e.addEventListener("input", apply); });
  apply();
})();
