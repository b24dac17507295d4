// Transcript page (no inline scripts: CSP script-src 'self').
//
// * One toggle shows or hides the internal steps (actions, slot changes, events);
//   they are hidden by default. Without JavaScript the toggle is a link (?internal=1).
// * An admin's "显示原文" asks for a reason (required; the server refuses without one
//   and writes it into the audit entry), then shows the raw text, never as HTML.
(function () {
  "use strict";

  function setupToggle() {
    var toggle = document.getElementById("toggle-internal");
    var list = document.getElementById("messages");
    if (!toggle || !list) {
      return;
    }
    toggle.addEventListener("click", function (event) {
      event.preventDefault();
      var show = !list.classList.contains("show-internal");
      list.classList.toggle("show-internal", show);
      toggle.setAttribute("aria-pressed", show ? "true" : "false");
      toggle.textContent = toggle.getAttribute(show ? "data-hide-text" : "data-show-text");
      toggle.setAttribute("href", window.location.pathname + (show ? "" : "?internal=1"));
      if (window.history && window.history.replaceState) {
        window.history.replaceState(null, "", window.location.pathname + (show ? "?internal=1" : ""));
      }
    });
  }

  function showError(form, message) {
    var box = form.querySelector(".reveal-error");
    if (box) {
      box.textContent = message || "";
      box.hidden = !message;
    }
  }

  function reveal(form) {
    var id = form.getAttribute("data-message-id");
    var reason = form.querySelector('input[name="reason"]');
    if (reason && reason.value.trim().length < 2) {
      showError(form, "请填写查看原文的原因（至少 2 个字），原因会记入审计日志。");
      reason.focus();
      return;
    }
    var button = form.querySelector('button[type="submit"]');
    button.disabled = true;
    fetch(form.action, {
      method: "POST",
      credentials: "same-origin",
      headers: { Accept: "application/json" },
      body: new URLSearchParams(new FormData(form)),
    })
      .then(function (response) {
        return response.json().then(function (data) {
          if (!response.ok) {
            throw new Error(data.error || "显示失败（" + response.status + "）");
          }
          return data;
        });
      })
      .then(function (data) {
        var target = document.querySelector('.msg-text[data-message-id="' + id + '"]');
        if (target) {
          var raw = data.value !== undefined ? JSON.stringify(data.value) : (data.text || "");
          target.textContent = raw; // never innerHTML: customers can type HTML
          target.classList.add("revealed");
          target.setAttribute("title", "原文（已记入审计日志）");
        }
        showError(form, "");
        button.textContent = "已显示原文";
        var details = form.closest("details");
        if (details) {
          details.querySelector("summary").textContent = "已显示原文";
          details.open = false;
        }
      })
      .catch(function (error) {
        button.disabled = false;
        showError(form, error.message || "显示失败，请重试。");
      });
  }

  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (form && form.classList && form.classList.contains("reveal-form")) {
      event.preventDefault();
      reveal(form);
    }
  });

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", setupToggle);
  } else {
    setupToggle();
  }
})();
