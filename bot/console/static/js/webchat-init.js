/* Starts the rasa-webchat widget with the options the server rendered into #webchat-config.
   Used by the full chat page (/) and by the embedded chat frame (/embed/frame), which
   also renders #webchat-ui: its texts, colour and the page that embeds it. */
(function () {
  "use strict";

  // rasa-webchat keeps the session id and the conversation under this key.
  var STORAGE_KEY = "chat_session";

  function readJson(id) {
    var node = document.getElementById(id);
    return node ? JSON.parse(node.textContent) : null;
  }

  // Short "typing" pause before each bot message: longer for longer texts.
  function messageDelay(message) {
    var delay = (message ? String(message).length : 0) * 20;
    return Math.max(300, Math.min(delay, 1500));
  }

  var ui = readJson("webchat-ui") || {};
  var STATUS_TEXT = ui.status || {
    connecting: "正在连接在线客服，请稍候…",
    failed: "暂时无法连接在线客服，请检查网络后刷新页面重试。",
    reconnecting: "连接已断开，正在重新连接…",
    broken: "在线客服加载失败，请刷新页面重试。"
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

  // In the embedded frame: ask the page that embeds it (embed.js) to close the chat.
  function askToClose() {
    if (window.parent !== window && ui.parentOrigin) {
      window.parent.postMessage({ type: "bankbot-webchat:close" }, ui.parentOrigin);
    }
  }

  function setUpFrame() {
    if (ui.color) {
      document.documentElement.style.setProperty("--brand", ui.color);
    }
    var close = document.getElementById("frame-close");
    if (close) {
      close.hidden = !(window.parent !== window && ui.parentOrigin);
      close.addEventListener("click", askToClose);
    }
    document.addEventListener("keydown", function (event) {
      if (event.key === "Escape") {
        askToClose();
      }
    });
  }

  // Browsers that block third-party storage (Chrome's incognito windows, "block
  // third-party cookies") deny the embedded frame localStorage; rasa-webchat would
  // fail to start. Keep its session in memory then: the chat works for this visit.
  function memoryStorage() {
    var items = {};
    return {
      getItem: function (key) {
        return Object.prototype.hasOwnProperty.call(items, key) ? items[key] : null;
      },
      setItem: function (key, value) {
        items[key] = String(value);
      },
      removeItem: function (key) {
        delete items[key];
      },
      clear: function () {
        items = {};
      },
      key: function (index) {
        return Object.keys(items)[index] || null;
      },
      get length() {
        return Object.keys(items).length;
      }
    };
  }

  function ensureStorage() {
    ["localStorage", "sessionStorage"].forEach(function (name) {
      try {
        var storage = window[name];
        storage.setItem("bankbot-webchat:probe", "1");
        storage.removeItem("bankbot-webchat:probe");
      } catch (e) {
        Object.defineProperty(window, name, { value: memoryStorage(), configurable: true });
        document.documentElement.setAttribute("data-storage", "memory");
      }
    });
  }

  function start() {
    var root = document.getElementById("webchat");
    if (!window.WebChat || !root) {
      if (root) {
        root.textContent = STATUS_TEXT.broken;
      }
      return;
    }
    ensureStorage();
    var options = readJson("webchat-config") || {};
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
  if (document.body.classList.contains("webchat-frame")) {
    setUpFrame();
  }
  start();
})();
