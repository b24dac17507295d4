// Live takeover in the staff console (no inline scripts: CSP script-src 'self').
//
// * Queue page: polls /api/queue and reloads when the waiting conversations, their
//   order or their urgency change.
// * Takeover panel (transcript page): polls /api/takeover/<id>/live for new customer,
//   bot and staff messages, and sends replies without reloading the page. For WeChat
//   it shows how many messages may still be sent (refreshed after each reply and
//   each new customer message, from /api/takeover/<id>/wechat-budget).
(function () {
  "use strict";

  var POLL_MS = 3000;

  function getJSON(url) {
    return fetch(url, {
      credentials: "same-origin",
      headers: { Accept: "application/json" },
    }).then(function (response) {
      if (!response.ok) {
        throw new Error("HTTP " + response.status);
      }
      return response.json();
    });
  }

  // -- queue page -------------------------------------------------------------

  function watchQueue(section) {
    var shown = section.getAttribute("data-queue-ids") || "";
    function poll() {
      getJSON("/api/queue")
        .then(function (queue) {
          if (queue.signature !== shown) {
            window.location.reload();
            return;
          }
          window.setTimeout(poll, POLL_MS);
        })
        .catch(function () {
          window.setTimeout(poll, POLL_MS * 3);
        });
    }
    window.setTimeout(poll, POLL_MS);
  }

  // -- takeover panel ----------------------------------------------------------

  function addMessage(list, message) {
    var item = document.createElement("li");
    item.className = "takeover-msg takeover-msg-" + message.kind;
    item.setAttribute("data-message-id", String(message.id));
    var who = document.createElement("span");
    who.className = "takeover-who";
    who.textContent = message.kind_label + (message.author ? "（" + message.author + "）" : "");
    if (message.button) {
      who.textContent += " · 点击按钮"; // the text is the button's title, not its payload
    } else if (message.payload) {
      who.textContent += " · 快捷指令";
    }
    var when = document.createElement("time");
    when.className = "takeover-time muted small";
    when.textContent = (message.time || "").replace("T", " ").slice(0, 19);
    var text = document.createElement("p");
    text.className = "takeover-text";
    text.textContent = message.text; // never innerHTML: customers can type HTML
    item.appendChild(who);
    item.appendChild(when);
    item.appendChild(text);
    list.appendChild(item);
    list.scrollTop = list.scrollHeight;
  }

  function showError(panel, message) {
    var box = panel.querySelector("#takeover-error");
    if (!box) {
      return;
    }
    box.textContent = message || "";
    box.hidden = !message;
  }

  function showBudget(panel, budget) {
    var line = panel.querySelector("#takeover-wechat");
    if (!line || !budget) {
      return;
    }
    line.textContent = budget.text;
    line.classList.toggle("takeover-wechat-blocked", !!budget.blocked);
    line.classList.toggle("muted", !budget.blocked);
  }

  function refreshBudget(panel) {
    var line = panel.querySelector("#takeover-wechat");
    var url = line && line.getAttribute("data-budget-url");
    if (!url) {
      return;
    }
    getJSON(url)
      .then(function (data) {
        showBudget(panel, data.wechat);
      })
      .catch(function () {
        // keep what is shown; the reply is checked again on the server
      });
  }

  function phase(status) {
    return status === "closed" ? "bot" : status;
  }

  function watchPanel(panel) {
    var list = panel.querySelector("#takeover-live");
    var url = panel.getAttribute("data-live-url");
    var status = panel.getAttribute("data-status");
    var cursor = -1;
    if (!url) {
      return; // read-only viewers (trainers) get no live updates
    }
    function poll() {
      getJSON(url + "?after=" + cursor)
        .then(function (data) {
          // The page may show an idle bot conversation as "closed": same phase.
          if (phase(data.status) !== phase(status)) {
            window.location.reload(); // taken, handed back or closed elsewhere
            return;
          }
          if (list) {
            data.messages.forEach(function (message) {
              addMessage(list, message);
            });
          }
          var customerWrote = data.messages.some(function (message) {
            return message.kind === "user";
          });
          if (customerWrote) {
            refreshBudget(panel); // a customer message gives WeChat's budget back
          }
          cursor = data.cursor;
          window.setTimeout(poll, POLL_MS);
        })
        .catch(function () {
          window.setTimeout(poll, POLL_MS * 3);
        });
    }
    poll();

    var form = panel.querySelector("#takeover-reply");
    if (!form) {
      return;
    }
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      var button = form.querySelector("button[type=submit]");
      var textarea = form.querySelector("textarea");
      button.disabled = true;
      fetch(form.action, {
        method: "POST",
        credentials: "same-origin",
        headers: { Accept: "application/json" },
        body: new FormData(form),
      })
        .then(function (response) {
          var type = response.headers.get("Content-Type") || "";
          if (type.indexOf("application/json") === -1) {
            throw new Error("发送失败（" + response.status + "），请刷新页面后重试。");
          }
          return response.json().then(function (body) {
            showBudget(panel, body.wechat);
            if (!response.ok) {
              throw new Error(body.error || "发送失败");
            }
            textarea.value = "";
            showError(panel, body.warning || "");
          });
        })
        .catch(function (error) {
          showError(panel, error.message || "发送失败，请重试。");
        })
        .then(function () {
          button.disabled = false;
          textarea.focus();
        });
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    var queue = document.getElementById("queue-waiting");
    if (queue) {
      watchQueue(queue);
    }
    var panel = document.getElementById("takeover");
    if (panel) {
      watchPanel(panel);
    }
  });
})();
