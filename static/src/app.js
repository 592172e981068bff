// htmx drives every partial update; the CSRF header is set on <body hx-headers>.
import htmx from "htmx.org";

window.htmx = htmx;

// The Content-Security-Policy (handlers/middleware.go) allows no inline style and no eval:
// htmx's indicator styles are in app.css instead of a <style> it would inject, and
// attributes that htmx would evaluate as JavaScript (hx-on, js: values) stay inert.
htmx.config.includeIndicatorStyles = false;
htmx.config.allowEval = false;
htmx.config.allowScriptTags = false;

// Read-only fields that hold something to copy (an invite link, a new API token) select
// their whole text when clicked.
document.addEventListener("click", (e) => {
  const field = e.target instanceof Element && e.target.closest("input[data-select-all]");
  if (field) field.select();
});

// htmx does not swap 4xx answers by default; our forms answer 422 with the form and its
// inline errors, which should replace the form.
document.addEventListener("htmx:beforeSwap", (e) => {
  if (e.detail.xhr.status === 422) {
    e.detail.shouldSwap = true;
    e.detail.isError = false;
  }
});
