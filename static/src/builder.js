// The builder's htmx edits replace each control's error slot out of band; this keeps
// aria-invalid on the controls in step with their slots, so assistive technology hears
// which fields are wrong (the slot's text says why).
document.addEventListener("htmx:afterSettle", () => {
  for (const slot of document.querySelectorAll("#builder [data-error]")) {
    for (const el of document.querySelectorAll(`[aria-describedby~="${CSS.escape(slot.id)}"]`)) {
      if (el.tagName === "FIELDSET") continue;
      if (slot.textContent.trim()) el.setAttribute("aria-invalid", "true");
      else el.removeAttribute("aria-invalid");
    }
  }
});
