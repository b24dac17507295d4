// Trainer pages of the staff console (no inline scripts: CSP script-src 'self').
//
// * Inbox: entity marking by selecting text in an example. The selection's offsets
//   (in code points, as Python counts them) snap to the jieba token boundaries shown
//   as boxes, with a warning when a token was cut; the spans go into a hidden input
//   as JSON and the server snaps them again. Editing the example re-tokenises it.
// * Intent pickers: the alternatives set the intent; "新建意图" shows name + topic.
// * Job page: polls /api/trainer/jobs/<id> for progress and new log lines.
// * Forms with data-confirm ask first; data-busy-label disables the button while posting.
(function () {
  "use strict";

  var POLL_MS = 1500;

  // -- text offsets in code points ----------------------------------------------------

  function chars(text) {
    return Array.from(text);
  }

  function codePoints(text, utf16Offset) {
    return chars(text.slice(0, utf16Offset)).length;
  }

  function slice(text, start, end) {
    return chars(text).slice(start, end).join("");
  }

  function isSpace(ch) {
    return /\s/.test(ch);
  }

  // Offset (UTF-16) of (node, offset) from the start of container's text.
  function offsetIn(container, node, offset) {
    var range = document.createRange();
    range.selectNodeContents(container);
    range.setEnd(node, offset);
    return range.toString().length;
  }

  // Widen [start, end) to whole tokens; null when nothing but whitespace is selected.
  function snap(text, tokens, start, end) {
    var list = chars(text);
    while (start < end && isSpace(list[start])) {
      start += 1;
    }
    while (end > start && isSpace(list[end - 1])) {
      end -= 1;
    }
    if (start >= end) {
      return null;
    }
    var newStart = start;
    var newEnd = end;
    var cut = [];
    tokens.forEach(function (token) {
      if (token.start < end && start < token.end) {
        newStart = Math.min(newStart, token.start);
        newEnd = Math.max(newEnd, token.end);
        if ((token.start < start && start < token.end) || (token.start < end && end < token.end)) {
          cut.push(token.text);
        }
      }
    });
    return {
      start: newStart,
      end: newEnd,
      selected: slice(text, start, end),
      cut: cut,
    };
  }

  // -- the annotator of one inbox group ---------------------------------------------------

  function Annotator(form) {
    this.form = form;
    this.example = form.querySelector("[data-example]");
    this.hidden = form.querySelector("[data-spans]");
    this.typeSelect = form.querySelector("[data-entity-type]");
    this.list = form.querySelector("[data-span-list]");
    this.warning = form.querySelector("[data-span-warning]");
    this.textInput = form.querySelector("[data-text]");
    this.spans = [];
    var self = this;
    if (this.textInput) {
      this.textInput.addEventListener("change", function () {
        self.retokenize();
      });
    }
  }

  Annotator.prototype.text = function () {
    return this.example.textContent;
  };

  Annotator.prototype.tokens = function () {
    var found = [];
    this.example.querySelectorAll(".tr-tok").forEach(function (node) {
      found.push({
        start: Number(node.getAttribute("data-start")),
        end: Number(node.getAttribute("data-end")),
        text: node.textContent,
      });
    });
    return found;
  };

  Annotator.prototype.warn = function (message) {
    if (!this.warning) {
      return;
    }
    this.warning.textContent = message || "";
    this.warning.hidden = !message;
  };

  // The selection's [start, end) in code points, or null when it misses the example.
  Annotator.prototype.selection = function () {
    var selection = window.getSelection();
    if (!selection || selection.rangeCount === 0 || selection.isCollapsed) {
      return null;
    }
    var range = selection.getRangeAt(0);
    if (!range.intersectsNode(this.example)) {
      return null;
    }
    var text = this.text();
    var startUnits = this.example.contains(range.startContainer)
      ? offsetIn(this.example, range.startContainer, range.startOffset)
      : 0;
    var endUnits = this.example.contains(range.endContainer)
      ? offsetIn(this.example, range.endContainer, range.endOffset)
      : text.length;
    return { start: codePoints(text, startUnits), end: codePoints(text, endUnits) };
  };

  Annotator.prototype.mark = function () {
    var picked = this.selection();
    if (!picked) {
      return false;
    }
    var entity = this.typeSelect ? this.typeSelect.value : "";
    if (!entity) {
      this.warn("请先在「实体类型」中选择要标注的实体，再用鼠标选中文字。");
      return true;
    }
    var text = this.text();
    var span = snap(text, this.tokens(), picked.start, picked.end);
    if (!span) {
      this.warn("选中的只有空白，未标注。");
      return true;
    }
    var surface = slice(text, span.start, span.end);
    var overlap = this.spans.filter(function (other) {
      return span.start < other.end && other.start < span.end;
    })[0];
    if (overlap) {
      this.warn(
        "「" + surface + "」与已标注的「" + slice(text, overlap.start, overlap.end) +
          "」重叠，无法同时标注；请先删除原标注。"
      );
      return true;
    }
    if (span.cut.length) {
      this.warn(
        "选区「" + span.selected + "」切开了分词「" + span.cut.join("、") +
          "」，已扩展为「" + surface + "」。若确需更短的实体，请把该词加入分词词典。"
      );
    } else {
      this.warn("");
    }
    this.spans.push({ start: span.start, end: span.end, entity: entity });
    this.spans.sort(function (a, b) {
      return a.start - b.start;
    });
    this.update();
    return true;
  };

  Annotator.prototype.update = function () {
    var self = this;
    var text = this.text();
    this.hidden.value = JSON.stringify(this.spans);
    this.example.querySelectorAll(".tr-tok").forEach(function (node) {
      var start = Number(node.getAttribute("data-start"));
      var end = Number(node.getAttribute("data-end"));
      var marked = self.spans.some(function (span) {
        return span.start <= start && end <= span.end;
      });
      node.classList.toggle("tr-marked", marked);
    });
    while (this.list.firstChild) {
      this.list.removeChild(this.list.firstChild);
    }
    this.spans.forEach(function (span, index) {
      var item = document.createElement("li");
      item.setAttribute("data-span", span.start + ":" + span.end);
      var label = document.createElement("span");
      label.textContent = "「" + slice(text, span.start, span.end) + "」" + span.entity;
      var remove = document.createElement("button");
      remove.type = "button";
      remove.textContent = "×";
      remove.setAttribute("aria-label", "删除该标注");
      remove.addEventListener("click", function () {
        self.spans.splice(index, 1);
        self.update();
      });
      item.appendChild(label);
      item.appendChild(remove);
      self.list.appendChild(item);
    });
  };

  Annotator.prototype.render = function (text, tokens) {
    var example = this.example;
    while (example.firstChild) {
      example.removeChild(example.firstChild);
    }
    var list = chars(text);
    var position = 0;
    function piece(start, end, token) {
      var node = document.createElement("span");
      node.className = token ? "tr-tok" : "tr-gap";
      node.setAttribute("data-start", String(start));
      node.setAttribute("data-end", String(end));
      node.textContent = list.slice(start, end).join("");
      example.appendChild(node);
    }
    tokens.forEach(function (token) {
      if (token.start < position || token.end > list.length || token.start >= token.end) {
        return;
      }
      if (token.start > position) {
        piece(position, token.start, false);
      }
      piece(token.start, token.end, true);
      position = token.end;
    });
    if (position < list.length) {
      piece(position, list.length, false);
    }
  };

  Annotator.prototype.retokenize = function () {
    var self = this;
    var text = this.textInput.value.trim();
    this.spans = [];
    this.render(text, []);
    this.update();
    if (!text) {
      return;
    }
    var csrf = this.form.querySelector("input[name=_csrf]");
    fetch("/api/trainer/tokenize", {
      method: "POST",
      credentials: "same-origin",
      headers: {
        "Content-Type": "application/json",
        Accept: "application/json",
        "X-CSRF-Token": csrf ? csrf.value : "",
      },
      body: JSON.stringify({ text: text }),
    })
      .then(function (response) {
        if (!response.ok) {
          throw new Error("HTTP " + response.status);
        }
        return response.json();
      })
      .then(function (data) {
        if (self.textInput.value.trim() !== text) {
          return; // edited again meanwhile
        }
        self.render(text, data.tokens || []);
        self.update();
        self.warn(data.problem || "");
      })
      .catch(function () {
        self.warn("无法获取分词结果；保存时服务器会按分词边界调整标注。");
      });
  };

  function setupInbox() {
    var annotators = [];
    document.querySelectorAll("form[data-annotator]").forEach(function (form) {
      annotators.push(new Annotator(form));
      setupIntentPicker(form);
    });
    if (!annotators.length) {
      return;
    }
    document.addEventListener("mouseup", function () {
      // After the browser has updated the selection.
      window.setTimeout(function () {
        for (var i = 0; i < annotators.length; i += 1) {
          if (annotators[i].mark()) {
            var selection = window.getSelection();
            if (selection) {
              selection.removeAllRanges();
            }
            return;
          }
        }
      }, 0);
    });
  }

  function setupIntentPicker(form) {
    var select = form.querySelector("[data-intent-select]");
    var extra = form.querySelector("[data-new-intent]");
    if (!select) {
      return;
    }
    function sync() {
      if (extra) {
        extra.hidden = select.value !== "__new__";
      }
    }
    select.addEventListener("change", sync);
    sync();
    var group = form.closest("[data-group]") || form;
    group.querySelectorAll("[data-pick-intent]").forEach(function (button) {
      button.addEventListener("click", function () {
        select.value = button.getAttribute("data-pick-intent");
        sync();
        select.focus();
      });
    });
  }

  // -- job page ------------------------------------------------------------------------------

  function watchJob(box) {
    var api = box.getAttribute("data-job-api");
    var after = Number(box.getAttribute("data-after") || "0");
    var bar = box.querySelector("[data-job-progress]");
    var percent = box.querySelector("[data-job-percent]");
    var status = box.querySelector("[data-job-status]");
    var detail = box.querySelector("[data-job-detail]");
    var log = box.querySelector("[data-job-log]");
    function poll() {
      fetch(api + "?after=" + after, {
        credentials: "same-origin",
        headers: { Accept: "application/json" },
      })
        .then(function (response) {
          if (!response.ok) {
            throw new Error("HTTP " + response.status);
          }
          return response.json();
        })
        .then(function (job) {
          bar.value = job.progress;
          percent.textContent = Math.round(job.progress) + "%";
          status.textContent = job.status_label;
          status.className = "badge tr-status-" + job.status;
          detail.textContent = (job.stage_label || "") + " " + (job.detail || "");
          if (job.lines.length) {
            var nearBottom = log.scrollTop + log.clientHeight >= log.scrollHeight - 30;
            log.appendChild(
              document.createTextNode(
                job.lines
                  .map(function (line) {
                    return line[1] + "\n";
                  })
                  .join("")
              )
            );
            if (nearBottom) {
              log.scrollTop = log.scrollHeight;
            }
          }
          after = job.last_line;
          if (job.finished) {
            window.location.reload(); // the results are rendered by the server
            return;
          }
          window.setTimeout(poll, POLL_MS);
        })
        .catch(function () {
          window.setTimeout(poll, POLL_MS * 4);
        });
    }
    log.scrollTop = log.scrollHeight;
    if (box.getAttribute("data-finished") !== "1") {
      window.setTimeout(poll, POLL_MS);
    }
  }

  // -- forms -----------------------------------------------------------------------------------

  function setupForms() {
    document.querySelectorAll("form[data-confirm], form[data-busy-form]").forEach(function (form) {
      form.addEventListener("submit", function (event) {
        var question = form.getAttribute("data-confirm");
        if (question && !window.confirm(question)) {
          event.preventDefault();
          return;
        }
        var button = form.querySelector("[data-busy-label]");
        if (button) {
          button.textContent = button.getAttribute("data-busy-label");
          window.setTimeout(function () {
            button.disabled = true; // after the submission has started
          }, 0);
        }
      });
    });
    document.querySelectorAll("form [data-busy-label]").forEach(function (button) {
      var form = button.form;
      if (form && !form.hasAttribute("data-confirm") && !form.hasAttribute("data-busy-form")) {
        form.addEventListener("submit", function () {
          button.textContent = button.getAttribute("data-busy-label");
        });
      }
    });
  }

  function init() {
    setupInbox();
    setupForms();
    var job = document.getElementById("tr-job");
    if (job) {
      watchJob(job);
    }
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
})();
