// htmx drives every partial update; the CSRF header is set on <body hx-headers>.
import htmx from "htmx.org";

window.htmx = htmx;

// htmx does not swap 4xx answers by default; our forms answer 422 with the form and its
// inline errors, which should replace the form.
document.addEventListener("htmx:beforeSwap", (e) => {
  if (e.detail.xhr.status === 422) {
    e.detail.shouldSwap = true;
    e.detail.isError = false;
  }
});
