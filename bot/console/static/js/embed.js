/* bankbot web chat for any site, in one line (served at /embed.js; see docs/embed.md):

     <script src="https://<web app>/embed.js" data-title="…" data-color="#9e1b32"
             data-position="right" data-language="zh-CN" data-open="false"></script>

   It adds a launcher button to the page; the chat itself runs in an iframe served by
   the web app (/embed/frame). The launcher lives in a shadow root and the chat in its
   own document, so the page's styles cannot reach either and theirs never leak into
   the page; the page's scripts cannot read the conversation (balances, statements),
   and the chat keeps its session in the web app's storage, per browser, like the full
   chat page. The frame is created when the chat is first opened. */
(function () {
  "use strict";

  if (window.BankbotWebchat) {
    return; // included twice: one launcher is enough
  }

  var script = document.currentScript;
  if (!script) {
    var candidates = document.querySelectorAll("script[src]");
    for (var i = candidates.length - 1; i >= 0 && !script; i -= 1) {
      if (/\/embed\.js(?:[?#]|$)/.test(candidates[i].src)) {
        script = candidates[i];
      }
    }
  }
  if (!script) {
    return;
  }

  var TEXT = {
    "zh-CN": { open: "打开在线客服", close: "关闭在线客服" },
    en: { open: "Open chat", close: "Close chat" }
  };
  var DEFAULT_COLOR = "#9e1b32";
  var STATE_KEY = "bankbot-webchat:open";

  function flag(value) {
    if (value === undefined || value === null) {
      return false;
    }
    return ["", "true", "1", "yes", "open"].indexOf(String(value).trim().toLowerCase()) !== -1;
  }

  var dataset = script.dataset || {};
  var language = /^en\b/i.test(dataset.language || "") ? "en" : "zh-CN";
  var text = TEXT[language];
  var color = /^#(?:[0-9a-f]{3}|[0-9a-f]{6})$/i.test(dataset.color || "") ? dataset.color : DEFAULT_COLOR;
  var position = String(dataset.position || "").toLowerCase() === "left" ? "left" : "right";
  var title = String(dataset.title || "").trim().slice(0, 40);
  var frameUrl = new URL("embed/frame", script.src);
  var frameOrigin = frameUrl.origin;
  var pageOrigin = window.location.origin && window.location.origin !== "null" ? window.location.origin : "*";
  frameUrl.searchParams.set("lang", language);
  frameUrl.searchParams.set("color", color);
  frameUrl.searchParams.set("parent", pageOrigin);
  if (title) {
    frameUrl.searchParams.set("title", title);
  }

  var CHAT_ICON =
    '<svg viewBox="0 0 24 24" aria-hidden="true" focusable="false"><path d="M4 4h16a2 2 0 0 1 2 2v10a2 2 0 0 1-2 2H9l-5 4v-4H4a2 2 0 0 1-2-2V6a2 2 0 0 1 2-2zm3 6.5a1.5 1.5 0 1 0 0 .01zm5 0a1.5 1.5 0 1 0 0 .01zm5 0a1.5 1.5 0 1 0 0 .01z"/></svg>';
  var CLOSE_ICON =
    '<svg viewBox="0 0 24 24" aria-hidden="true" focusable="false"><path d="M6.4 5 5 6.4 10.6 12 5 17.6 6.4 19l5.6-5.6 5.6 5.6 1.4-1.4-5.6-5.6L19 6.4 17.6 5 12 10.6z"/></svg>';
  var STYLE = [
    ":host { all: initial; }",
    ".launcher { all: initial; box-sizing: border-box; position: fixed; bottom: 20px; width: 60px; height: 60px;",
    "  border-radius: 50%; background: var(--bankbot-color); color: #fff; cursor: pointer; display: flex;",
    "  align-items: center; justify-content: center; box-shadow: 0 4px 14px rgba(0, 0, 0, .25);",
    "  z-index: 2147483001; }",
    ".launcher:focus-visible { outline: 3px solid #1f6feb; outline-offset: 3px; }",
    ".launcher svg { width: 28px; height: 28px; fill: currentColor; display: block; }",
    ".panel { box-sizing: border-box; position: fixed; bottom: 92px; width: 380px; height: 600px;",
    "  max-width: calc(100vw - 40px); max-height: calc(100vh - 112px); border-radius: 12px; overflow: hidden;",
    "  background: #fff; box-shadow: 0 8px 30px rgba(0, 0, 0, .25); z-index: 2147483000; display: none; }",
    ".panel.open { display: block; }",
    ".panel iframe { border: 0; width: 100%; height: 100%; display: block; background: #fff; }",
    ".right { right: 20px; } .left { left: 20px; }",
    "@media (max-width: 480px) {",
    "  .panel { inset: 0; width: 100%; height: 100%; max-width: none; max-height: none; border-radius: 0; }",
    "  .launcher.open { display: none; }",
    "}"
  ].join("\n");

  var host = document.createElement("bankbot-webchat");
  // The page's own CSS may target any element: keep the host out of its layout.
  host.setAttribute(
    "style",
    "all: initial !important; display: block !important; position: static !important; " +
      "width: 0 !important; height: 0 !important; margin: 0 !important; padding: 0 !important;"
  );
  host.setAttribute("data-position", position);
  var shadow = host.attachShadow({ mode: "open" });
  var style = document.createElement("style");
  style.textContent = STYLE;
  shadow.appendChild(style);

  var launcher = document.createElement("button");
  launcher.type = "button";
  launcher.className = "launcher " + position;
  launcher.style.setProperty("--bankbot-color", color);
  launcher.setAttribute("aria-controls", "bankbot-webchat-panel");
  shadow.appendChild(launcher);

  var panel = document.createElement("div");
  panel.id = "bankbot-webchat-panel";
  panel.className = "panel " + position;
  shadow.appendChild(panel);

  var frame = null;
  var isOpen = false;

  function remember(open) {
    try {
      window.sessionStorage.setItem(STATE_KEY, open ? "1" : "0");
    } catch (e) {
      /* storage may be off: the chat still works */
    }
  }

  function remembered() {
    try {
      return window.sessionStorage.getItem(STATE_KEY);
    } catch (e) {
      return null;
    }
  }

  function render() {
    var label = (isOpen ? text.close : text.open) + (title ? " · " + title : "");
    launcher.innerHTML = isOpen ? CLOSE_ICON : CHAT_ICON;
    launcher.setAttribute("aria-label", label);
    launcher.title = label;
    launcher.setAttribute("aria-expanded", isOpen ? "true" : "false");
    launcher.classList.toggle("open", isOpen);
    panel.classList.toggle("open", isOpen);
    host.setAttribute("data-state", isOpen ? "open" : "closed");
  }

  function open(byUser) {
    if (!frame) {
      frame = document.createElement("iframe");
      frame.src = frameUrl.toString();
      frame.title = title || (language === "en" ? "Online chat" : "在线客服");
      // The chat needs scripts, its own origin (storage) and new tabs for links;
      // it may not navigate the page or open dialogs over it.
      frame.setAttribute(
        "sandbox",
        "allow-scripts allow-same-origin allow-forms allow-popups allow-popups-to-escape-sandbox"
      );
      panel.appendChild(frame);
    }
    isOpen = true;
    remember(true);
    render();
    if (byUser) {
      frame.focus();
    }
  }

  function close(byUser) {
    isOpen = false;
    remember(false);
    render();
    if (byUser) {
      launcher.focus();
    }
  }

  launcher.addEventListener("click", function () {
    if (isOpen) {
      close(true);
    } else {
      open(true);
    }
  });

  window.addEventListener("message", function (event) {
    if (!frame || event.source !== frame.contentWindow || event.origin !== frameOrigin) {
      return;
    }
    if (event.data && event.data.type === "bankbot-webchat:close") {
      close(true);
    }
  });

  window.BankbotWebchat = {
    open: function () {
      open(true);
    },
    close: function () {
      close(true);
    },
    isOpen: function () {
      return isOpen;
    }
  };

  function mount() {
    document.body.appendChild(host);
    render();
    var stored = remembered();
    if (stored === null ? flag(dataset.open) : stored === "1") {
      open(false);
    }
  }

  if (document.body) {
    mount();
  } else {
    document.addEventListener("DOMContentLoaded", mount);
  }
})();
