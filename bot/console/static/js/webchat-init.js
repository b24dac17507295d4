/* Starts the rasa-webchat widget with the options the server rendered into #webchat-config. */
(function () {
  "use strict";

  // rasa-webchat keeps the session id and the conversation under this key.
  var STORAGE_KEY = "chat_session";

  function readConfig() {
    var node = document.getElementById("webchat-config");
    return node ? JSON.parse(node.textContent) : {};
  }

  // Short "typing" pause before each bot message: longer for longer texts.
  function messageDelay(message) {
    var delay = (message ? String(message).length : 0) * 20;
    return Math.max(300, Math.min(delay, 1500));
  }

  var STATUS_TEXT = {
    connecting: "正在连接在线客服，请稍候…",
    failed: "暂时无法连接在线客服，请检查网络后刷新页面重试。",
    reconnecting: "连接已断开，正在重新连接…"
  };
  var GIVE_UP_MS = 10000;

  // rasa-webchat hides itself while it is not connected; say so instead of a blank panel.
  function watchConnection(root, status) {
    var startedAt = Date.now();
    var wasConnected = false;
    function widgetVisible() {
      var widget = root.querySelector(".rw-pro-widget-embedded, .rw-widget-container");
      return widget !== null && window.getComputedStyle(widget).display !== "none";
    }
    function update() {
      var visible = widgetVisible();
      var message = "";
      if (!visible) {
        if (wasConnected) {
          message = STATUS_TEXT.reconnecting;
        } else if (Date.now() - startedAt > GIVE_UP_MS) {
          message = STATUS_TEXT.failed;
        } else {
          message = STATUS_TEXT.connecting;
        }
      }
      wasConnected = wasConnected || visible;
      status.textContent = message;
      status.hidden = visible;
      status.setAttribute("data-state", visible ? "connected" : message === STATUS_TEXT.failed ? "failed" : "connecting");
    }
    update();
    window.setInterval(update, 500);
  }

  function clearHistory() {
    if (!window.confirm("确定清除本机浏览器中保存的聊天记录吗？")) {
      return;
    }
    window.localStorage.removeItem(STORAGE_KEY);
    window.sessionStorage.removeItem(STORAGE_KEY);
    window.location.reload();
  }

  function start() {
    var root = document.getElementById("webchat");
    if (!window.WebChat || !root) {
      if (root) {
        root.textContent = "在线客服加载失败，请刷新页面重试。";
      }
      return;
    }
    var options = readConfig();
    options.customMessageDelay = messageDelay;
    window.WebChat.default(options, root);
    var status = document.getElementById("webchat-status");
    if (status) {
      watchConnection(root, status);
    }
  }

  var clearButton = document.getElementById("clear-history");
  if (clearButton) {
    clearButton.addEventListener("click", clearHistory);
  }
  start();
})();
