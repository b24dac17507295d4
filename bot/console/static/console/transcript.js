// Transcript page: an admin's "显示原文" fetches the raw text of one message (the
// server writes an audit entry) and shows it as text, never as HTML.
(function () {
  "use strict";

  function reveal(form) {
    var id = form.getAttribute("data-message-id");
    var csrf = form.querySelector('input[name="_csrf"]').value;
    var button = form.querySelector("button");
    button.disabled = true;
    fetch(form.action, {
      method: "POST",
      credentials: "same-origin",
      headers: { "X-CSRF-Token": csrf, "Accept": "application/json" }
    })
      .then(function (response) {
        if (!response.ok) { throw new Error("HTTP " + response.status); }
        return response.json();
      })
      .then(function (data) {
        var target = document.querySelector('.msg-text[data-message-id="' + id + '"]');
        if (target) {
          var raw = data.value !== undefined ? JSON.stringify(data.value) : (data.text || "");
          target.textContent = raw;
          target.classList.add("revealed");
          target.setAttribute("title", "原文（已记入审计日志）");
        }
        button.textContent = "已显示原文";
      })
      .catch(function () {
        button.disabled = false;
        button.textContent = "显示失败，重试";
      });
  }

  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (form && form.classList && form.classList.contains("reveal-form")) {
      event.preventDefault();
      reveal(form);
    }
  });
})();
